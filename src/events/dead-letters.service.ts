import { Injectable, Logger } from '@nestjs/common';
import { Counter } from 'prom-client';
import { Keys } from '../redis/keys';
import { RedisService } from '../redis/redis.service';
import { MetricsService } from '../metrics/metrics.service';

/** The dead-letter stream keeps about this many entries (MAXLEN ~). */
export const DEAD_LETTER_MAXLEN = 10_000;
/** What is kept of an event's text: enough to see what it was, never megabytes. */
export const DEAD_LETTER_EVENT_CHARS = 16 * 1024;

export type DeadLetterSource = 'stream' | 'tasks.events';

export interface DeadLetter {
  id: string;
  ts: string;
  source: DeadLetterSource;
  reason: string;
  /** The v2 stream entry id the event had (source `stream`). */
  entry_id?: string;
  /** The event's length in characters, and its first DEAD_LETTER_EVENT_CHARS. */
  bytes: number;
  event: string;
}

/**
 * Worker events that cannot be applied are set aside here with their reason, so that nothing a
 * worker sends can stop event processing: a capped Redis stream (`mloc:events:dead`), counted in
 * `/metrics` (`mloc_events_dead_lettered_total`), readable at `GET /admin/dead-letters`.
 */
@Injectable()
export class DeadLetters {
  private readonly log = new Logger('DeadLetters');
  private readonly counter: Counter<'source'>;

  constructor(
    private readonly redis: RedisService,
    metrics: MetricsService,
  ) {
    this.counter = new Counter({
      name: 'mloc_events_dead_lettered_total',
      help: 'Worker events that could not be applied and were set aside in mloc:events:dead',
      labelNames: ['source'],
      registers: [metrics.registry],
    });
  }

  /** Records the event; never throws (a failure to record is logged, and the event is dropped). */
  async setAside(source: DeadLetterSource, raw: string, reason: string, entryId?: string): Promise<void> {
    this.counter.inc({ source });
    this.log.warn(`set aside a worker event that cannot be applied: ${reason}`, { source, entryId, bytes: raw.length });
    const fields = ['ts', new Date().toISOString(), 'source', source, 'reason', reason.slice(0, 2000), 'bytes', String(raw.length), 'event', raw.slice(0, DEAD_LETTER_EVENT_CHARS)];
    if (entryId) fields.push('entry_id', entryId);
    try {
      await this.redis.cmd.xadd(Keys.deadEvents, 'MAXLEN', '~', DEAD_LETTER_MAXLEN, '*', ...fields);
    } catch (err) {
      this.log.warn(`could not record the event set aside: ${err instanceof Error ? err.message : String(err)}`, { source, entryId });
    }
  }

  /** The newest `count` entries, newest first. */
  async list(count: number): Promise<DeadLetter[]> {
    const entries = (await this.redis.cmd.xrevrange(Keys.deadEvents, '+', '-', 'COUNT', count)) as [string, string[]][];
    return entries.map(([id, flat]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]] = flat[i + 1];
      return { id, ts: f.ts, source: f.source as DeadLetterSource, reason: f.reason, ...(f.entry_id ? { entry_id: f.entry_id } : {}), bytes: Number(f.bytes), event: f.event };
    });
  }

  async total(): Promise<number> {
    return this.redis.cmd.xlen(Keys.deadEvents);
  }
}
