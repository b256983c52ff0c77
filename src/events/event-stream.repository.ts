import { Injectable } from '@nestjs/common';
import { EVENTS_STREAM_GROUP, EVENTS_STREAM_KEY } from '../contracts/protocol';
import { RedisService } from '../redis/redis.service';

/** A stream entry: its id and its flat field list. */
export type StreamEntry = [id: string, fields: string[]];

/** One consumer of the group, as XINFO CONSUMERS shows it. */
export interface StreamConsumerInfo {
  name: string;
  pending: number;
  idleMs: number;
}

/**
 * The v2 event stream (`mloc:events`) and its consumer group: every Redis call StreamConsumer makes.
 * Blocking reads use the dedicated stream connection; the rest go on the command connection.
 */
@Injectable()
export class EventStreamRepository {
  constructor(private readonly redis: RedisService) {}

  /** Creates the group at the start of the stream (and the stream if need be); nothing when it exists. */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.stream.xgroup('CREATE', EVENTS_STREAM_KEY, EVENTS_STREAM_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String(err).includes('BUSYGROUP')) throw err;
    }
  }

  /** Up to `count` entries for `consumer`: its own pending ones from '0', new ones from '>' (blocks up to `blockMs`). */
  async read(consumer: string, from: '0' | '>', count: number, blockMs: number): Promise<StreamEntry[]> {
    const res = (await this.redis.stream.xreadgroup('GROUP', EVENTS_STREAM_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', EVENTS_STREAM_KEY, from)) as
      [string, StreamEntry[]][] | null;
    return res?.[0]?.[1] ?? [];
  }

  /** Takes over up to `count` entries pending with other consumers for at least `idleMs` (entries deleted meanwhile are left out). */
  async claimIdle(consumer: string, idleMs: number, count: number): Promise<StreamEntry[]> {
    const res = (await this.redis.cmd.xautoclaim(EVENTS_STREAM_KEY, EVENTS_STREAM_GROUP, consumer, idleMs, '0-0', 'COUNT', count)) as [string, StreamEntry[]];
    return (res?.[1] ?? []).filter((e) => e && e[1]);
  }

  /** The group's consumers. */
  async consumers(): Promise<StreamConsumerInfo[]> {
    const consumers = (await this.redis.cmd.xinfo('CONSUMERS', EVENTS_STREAM_KEY, EVENTS_STREAM_GROUP)) as unknown[][];
    return consumers.map((c) => {
      const f: Record<string, unknown> = {};
      for (let i = 0; i + 1 < c.length; i += 2) f[String(c[i])] = c[i + 1];
      return { name: String(f.name), pending: Number(f.pending), idleMs: Number(f.idle) };
    });
  }

  async deleteConsumer(name: string): Promise<void> {
    await this.redis.cmd.xgroup('DELCONSUMER', EVENTS_STREAM_KEY, EVENTS_STREAM_GROUP, name);
  }

  /** Ends this instance's blocking read under way, if any (shutdown). */
  unblockReader(): Promise<void> {
    return this.redis.unblockStream();
  }

  /** Acknowledges one entry (after its state change is committed). */
  ack(id: string): Promise<number> {
    return this.redis.cmd.xack(EVENTS_STREAM_KEY, EVENTS_STREAM_GROUP, id);
  }
}
