import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import type { TaskStartedEvent, TaskSucceededEvent, WorkerTaskEvent } from '../contracts/protocol';
import { SchedulerService } from '../scheduler/scheduler.service';
import { aggregateShardResults } from '../scheduler/sharding/shards';
import { TaskProgressService } from '../tasks/task-progress.service';
import { DeadLetters, DeadLetterSource } from './dead-letters.service';
import { errorToStore, resultToStore } from '../contracts/stored-result';

/** Applies worker reports: finish the attempt, retry, release dependents, aggregate shards. */
@Injectable()
export class TaskEventsService {
  private readonly log = new Logger('TaskEvents');

  constructor(
    private readonly tasks: TaskProgressService,
    private readonly scheduler: SchedulerService,
    private readonly deadLetters: DeadLetters,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * A report that failed to apply for a reason that will not go away (not Redis being down or
   * full): its attempt ends as failed with that reason, so the task is retried or fails and its
   * worker is free, and the event is set aside with the reason. Never throws.
   */
  async setAsideUnappliable(source: DeadLetterSource, raw: string, ev: WorkerTaskEvent | TaskStartedEvent, err: unknown, entryId?: string): Promise<void> {
    const reason = `${ev.type} could not be applied: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
    if (ev.type !== 'TASK_STARTED') {
      try {
        const error = errorToStore(`the worker's report ${reason}`);
        const outcome = await this.tasks.finish(ev.task_id, ev.worker_id, 'failed', error, this.config.retryBackoffCapSec, ev.attempt ?? null, Date.now());
        this.log.warn(`ended the attempt whose report could not be applied`, { taskId: ev.task_id, workerId: ev.worker_id, outcome });
        this.scheduler.kick();
      } catch (e) {
        this.log.warn(`could not end the attempt either: ${e instanceof Error ? e.message : String(e)}`, { taskId: ev.task_id, workerId: ev.worker_id });
      }
    }
    await this.deadLetters.setAside(source, raw, reason, entryId);
  }

  async onReport(ev: WorkerTaskEvent): Promise<void> {
    const succeeded = ev.type === 'TASK_SUCCEEDED';
    const payload = ev.type === 'TASK_SUCCEEDED' ? await this.resultToKeep(ev) : errorToStore(ev.error);
    const outcome = await this.tasks.finish(ev.task_id, ev.worker_id, succeeded ? 'succeeded' : 'failed', payload, this.config.retryBackoffCapSec, ev.attempt ?? null, Date.now());
    const fields = { taskId: ev.task_id, workerId: ev.worker_id, outcome };
    if (outcome.startsWith('ignored')) this.log.debug(`ignored ${ev.type}`, fields);
    else if (outcome === 'retry') this.log.log(`task failed on ${ev.worker_id}; retrying elsewhere`, { ...fields, error: payload });
    else if (outcome === 'failed') this.log.warn(`task failed for good`, { ...fields, error: payload });
    else this.log.log(`task done`, fields);
    if (outcome.startsWith('parent_ready:')) await this.aggregate(outcome.slice('parent_ready:'.length));
    // The worker is free again whatever happened to the task. Only 'done' says for sure that nothing
    // was queued (no dependent became ready, no retry); anything else may have queued a task.
    this.scheduler.kick(outcome === 'done' ? 'worker-free' : undefined);
  }

  /**
   * The result a TASK_SUCCEEDED stores: its own, or, when it carries none (`result` absent or null:
   * the later MLOC worker posts its result to POST /api/v1/results first), the one posted over HTTP,
   * which is the task's `result` field before it is DONE (docs/results.md). Only such reports pay
   * the extra read.
   */
  private async resultToKeep(ev: TaskSucceededEvent): Promise<string> {
    if (ev.result !== undefined && ev.result !== null) return resultToStore(ev.result);
    const [posted] = (await this.tasks.getFields([ev.task_id], ['result']))[0] ?? [];
    return posted ? posted : resultToStore(ev.result);
  }

  /** Merges the shards' results in shard order into the parent and finishes it (idempotent). */
  async aggregate(parentId: string): Promise<boolean> {
    const [parent] = await this.tasks.getFields([parentId], ['children']);
    const children = JSON.parse(parent?.[0] ?? '[]') as string[];
    const rows = await this.tasks.getFields(children, ['result', 'shard_index', 'status']);
    if (rows.some((r) => r[2] !== 'DONE')) return false;
    const ordered = rows.map((r) => ({ index: Number(r[1]), result: safeParse(r[0]) })).sort((a, b) => a.index - b.index);
    const aggregated = aggregateShardResults(ordered.map((o) => o.result));
    const done = await this.tasks.finalizeParent(parentId, resultToStore(aggregated), Date.now());
    if (done) this.log.log(`sharded task done: ${children.length} shards aggregated`, { taskId: parentId });
    return done;
  }
}

function safeParse(raw: string | null): unknown {
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}
