import { Redis } from 'ioredis';
import { waitFor } from '../../support/wait-for';

export interface Recorded {
  channel: string;
  msg: Record<string, any>;
}

/** Subscribes to channels and keeps every JSON message, in arrival order. */
export class ChannelRecorder {
  readonly messages: Recorded[] = [];
  private readonly conn: Redis;

  constructor(redisUrl: string) {
    this.conn = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.conn.on('message', (channel: string, raw: string) => {
      try {
        this.messages.push({ channel, msg: JSON.parse(raw) });
      } catch {
        // not JSON: not ours to record
      }
    });
  }

  async start(...channels: string[]): Promise<this> {
    await this.conn.subscribe(...channels);
    return this;
  }

  /** Messages about `workerId` on `channel`, optionally of one type. */
  of(channel: string, workerId: string, type?: string): Record<string, any>[] {
    return this.messages.filter((m) => m.channel === channel && m.msg.worker_id === workerId && (!type || m.msg.type === type)).map((m) => m.msg);
  }

  waitFor<T>(find: () => T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
    return waitFor(find, { what, timeoutMs });
  }

  close() {
    this.conn.disconnect();
  }
}
