import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DomainError } from '../../common/errors';
import { APP_CONFIG } from '../../config/config.module';
import type { AppConfig } from '../../config/env';
import { isTaskId } from '../../contracts/ids';
import { LeadershipService } from '../../leadership/leadership.service';
import { RedisService } from '../../redis/redis.service';
import { ExpiredBatch, RetentionRepository } from './retention.repository';

/** Most entries of the finished index one removal step looks at (and most records it removes); SLOWLOG figures in docs/performance.md. */
export const RETENTION_BATCH = 100;
/** How often the leader looks for tasks due for removal. */
export const RETENTION_TICK_MS = 1000;
/** The pause before the next step while a backlog lasts: other commands run between two steps. */
export const RETENTION_BUSY_PAUSE_MS = 5;
/** While a backlog lasts, one tick runs removal steps back to back for at most this long. */
export const RETENTION_BUSY_BUDGET_MS = 25;
/** A task that could not go yet (an unfinished dependent, a worker still holding it) is looked at again this much later. */
export const RETENTION_RECHECK_MS = 60_000;
/** POST /admin/prune: tasks removed per request by default and at most, and index entries looked at per script call and per request. */
export const PRUNE_DEFAULT_LIMIT = 1000;
export const PRUNE_MAX_LIMIT = 10_000;
const PRUNE_STEP = 500;
const PRUNE_MAX_EXAMINED = 50_000;

/** Called with the ids removed (shards included), after their records went: what lives outside Redis goes too (result files). */
export type RemovalListener = (ids: string[]) => Promise<void>;

export interface PruneRequest {
  before: Date;
  status?: string;
  owner?: string;
  cursor?: string;
  limit?: number;
}

export interface PruneAnswer {
  /** Tasks removed (not counting shards). */
  removed: number;
  /** Records removed, shards included. */
  records: number;
  /** When the request stopped before the end of the history: pass it as `cursor` to go on. Null when done. */
  cursor: string | null;
}

/**
 * Bounded task history (docs/guarantees.md, "Retention"). A finished task is indexed by the time its
 * retention is over (finished-index.lua); the leader removes the due ones a batch per step, once a
 * second and every RETENTION_BUSY_PAUSE_MS while a backlog lasts, so scheduling never waits behind
 * a long script. Also the manual removals: DELETE /api/v1/tasks/{id} and POST /admin/prune.
 * Result files are removed by the listeners (ResultsModule registers ResultsService.remove).
 */
@Injectable()
export class TaskRetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Retention');
  private readonly listeners: RemovalListener[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private running = false;

  constructor(
    private readonly repo: RetentionRepository,
    private readonly redis: RedisService,
    private readonly leadership: LeadershipService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap() {
    this.schedule(RETENTION_TICK_MS);
  }

  onApplicationShutdown() {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** `fn` runs after every removal with the ids removed. */
  onRemoved(fn: RemovalListener): void {
    this.listeners.push(fn);
  }

  private schedule(ms: number) {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick() {
    let more = false;
    try {
      if (this.leadership.isLeader && this.redis.ready) {
        // While a backlog lasts, steps follow each other for up to RETENTION_BUSY_BUDGET_MS (each a
        // script of a few ms; other commands run between two), so removal keeps up even when a busy
        // event loop makes the pause between ticks much longer than asked.
        const until = Date.now() + RETENTION_BUSY_BUDGET_MS;
        for (;;) {
          const r = await this.removeDue();
          more = r.more;
          // A step that removed nothing (another step under way, only postponed tasks) ends the burst.
          if (!more || r.removed.length === 0 || this.closed || Date.now() >= until) break;
        }
      }
    } catch (err) {
      this.log.warn(`removal of finished tasks failed: ${String(err)}`);
    } finally {
      this.schedule(more ? RETENTION_BUSY_PAUSE_MS : RETENTION_TICK_MS);
    }
  }

  /** One removal step: at most RETENTION_BATCH of the due (or, over TASK_HISTORY_MAX, the first) finished tasks. */
  async removeDue(nowMs: number = Date.now()): Promise<ExpiredBatch> {
    if (this.running) return { removed: [], postponed: 0, more: true };
    this.running = true;
    try {
      const r = await this.repo.removeExpired(nowMs, RETENTION_BATCH, this.config.taskHistoryMax, RETENTION_RECHECK_MS);
      if (r.removed.length > 0) {
        this.log.debug('removed finished tasks', { count: r.removed.length, postponed: r.postponed });
        await this.notify(r.removed);
      }
      return r;
    } finally {
      this.running = false;
    }
  }

  /** DELETE /api/v1/tasks/{id}: a finished task now, with its shards; with `cascade`, its finished downstream tasks too. */
  async delete(id: string, cascade: boolean): Promise<{ removed: string[] }> {
    if (!isTaskId(id)) throw notFound(id);
    const r = await this.repo.deleteTask(id, cascade, Date.now());
    if (!r.ok) throw deleteRefusal(id, r.error, r.task);
    this.log.log('deleted task', { taskId: id, removed: r.removed.length });
    await this.notify(r.removed);
    return { removed: r.removed };
  }

  /**
   * POST /admin/prune: removes finished tasks that ended before `before` (with the status and owner
   * given), oldest submissions first, up to `limit` tasks and PRUNE_MAX_EXAMINED index entries per
   * request; a `cursor` in the answer says where to go on. Tasks that cannot go yet are skipped.
   */
  async prune(p: PruneRequest): Promise<PruneAnswer> {
    const limit = p.limit ?? PRUNE_DEFAULT_LIMIT;
    const filter = { status: p.status ?? '', owner: p.owner ?? '', before: p.before.toISOString() };
    let cursor = p.cursor ?? null;
    let removed = 0;
    let records = 0;
    for (let examined = 0; examined < PRUNE_MAX_EXAMINED && removed < limit; examined += PRUNE_STEP) {
      const step = await this.repo.pruneStep(filter, cursor, PRUNE_STEP, limit - removed, Date.now());
      removed += step.tasks;
      records += step.removed.length;
      await this.notify(step.removed);
      cursor = step.cursor;
      if (cursor === null) break;
    }
    this.log.log('pruned finished tasks', { before: filter.before, status: filter.status || undefined, owner: filter.owner || undefined, removed, records });
    return { removed, records, cursor };
  }

  private async notify(ids: string[]) {
    if (ids.length === 0) return;
    for (const fn of this.listeners) {
      try {
        await fn(ids);
      } catch (err) {
        this.log.warn(`removing what belongs to ${ids.length} removed task(s) outside Redis failed: ${String(err)}`);
      }
    }
  }
}

function notFound(id: string): DomainError {
  const shown = id.length > 80 ? `${id.slice(0, 76)}...` : id;
  return new DomainError('not_found', `Task ${shown} not found`);
}

function deleteRefusal(id: string, error: string, task: string): DomainError {
  if (error === 'not_found') return notFound(id);
  if (error === 'unfinished')
    return new DomainError('conflict', task === id ? `Task ${id} has not finished: cancel it first, or wait for it to end` : `Task ${task} (downstream of ${id}) has not finished`);
  if (error === 'shard') return new DomainError('conflict', `Task ${id} is a shard: it is removed with its parent`);
  if (error === 'held') return new DomainError('conflict', `Task ${task} is still held by its worker (a cancelled attempt not given back yet); try again later`);
  if (error === 'has_dependents')
    return new DomainError('conflict', `Task ${id} has dependent tasks (${task} among them): delete with ?cascade=true to remove the downstream tasks too, once all have finished`);
  if (error.startsWith('dependent:')) return new DomainError('conflict', `Task ${error.slice('dependent:'.length)}, downstream of ${id}, has not finished`);
  return new DomainError('conflict', `Task ${id} cannot be removed: ${error}`);
}
