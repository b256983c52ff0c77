import type { MetricsService } from '../../metrics/metrics.service';
import type { QueuedTask, SchedulerRepository } from '../scheduler.repository';

/**
 * How many queued tasks one pass may consider: enough for every idle worker to find one it fits
 * behind tasks that fit none, within bounds. The queue is read in chunks, the first about the size
 * of the idle fleet, further ones only while idle workers are left; so a pass over a homogeneous
 * queue reads about as many tasks as it places.
 */
const PASS_BATCH = 500;
const MIN_HEAD = 64;
const HEAD_PER_IDLE_WORKER = 8;
const FIRST_CHUNK_PER_IDLE_WORKER = 2;
const MIN_CHUNK = 4;

/** What a pass read of the queue. */
export interface QueueRead {
  /** The queue's length, as the first read found it. */
  depth: number;
  /** Positions read from the head. */
  offset: number;
}

/** Reads the head of the ready queue for a pass, in chunks (queue-head.lua, one round trip each). */
export class QueueReader {
  constructor(
    private readonly repo: SchedulerRepository,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Reads the head of the queue for `idle` workers (a pool that shrinks as the caller plans): a first
   * chunk about twice their number, more only while some are left and the queue goes on; the whole
   * allowance at once when none is idle (the pass then only says which tasks nobody could run).
   * `onDepth` hears the queue's length as soon as the first read answers; `visit` gets each task
   * once, in queue order, with that length.
   */
  async read(idle: { readonly size: number }, onDepth: (depth: number) => void, visit: (task: QueuedTask, depth: number) => void): Promise<QueueRead> {
    const limit = Math.min(PASS_BATCH, Math.max(MIN_HEAD, HEAD_PER_IDLE_WORKER * idle.size));
    let chunk = idle.size === 0 ? limit : Math.min(limit, Math.max(MIN_CHUNK, FIRST_CHUNK_PER_IDLE_WORKER * idle.size));
    let offset = 0;
    let depth = -1;
    // Submissions landing ahead of the part already read shift the offsets: never visit a task twice.
    const seen = new Set<string>();
    for (;;) {
      this.metrics.queueReads.inc();
      const head = await this.repo.queueHead(chunk, offset);
      if (depth < 0) {
        depth = head.depth;
        onDepth(depth);
      }
      offset += head.tasks.length;
      for (const t of head.tasks) {
        if (seen.has(t.id)) continue;
        seen.add(t.id);
        visit(t, depth);
      }
      // Read on only while idle workers are left and the queue goes on.
      if (head.tasks.length < chunk || idle.size === 0 || offset >= Math.min(limit, head.depth)) break;
      chunk = Math.min(limit - offset, chunk * 2);
    }
    return { depth, offset };
  }
}
