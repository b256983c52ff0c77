import { Injectable } from '@nestjs/common';
import { workerKey } from '../contracts/protocol';
import { Keys } from '../redis/keys';
import { RedisService } from '../redis/redis.service';
import { commandName, scriptPrefix } from '../redis/scripts';
import { SHARD_PARENT_FIELDS } from '../redis/task-codec';

export interface QueueHead {
  tasks: QueuedTask[];
  depth: number;
}

export interface ClaimRequest {
  kind: 'single';
  taskId: string;
  workerId: string;
  strategy: string;
  reason: string;
  /** A task whose spec references upstream results: the resolved document to send, or why it cannot be resolved. */
  resolved?: { doc: string } | { error: string };
}

export interface FanOutRequest {
  kind: 'shards';
  taskId: string;
  strategy: string;
  reason: string;
  shards: { id: string; worker: string; fields: Record<string, string> }[];
}

/** A queued task with what placement reads of it. */
export interface QueuedTask {
  id: string;
  req: string | null;
  exclude: string | null;
  unschedulable: string | null;
  name: string | null;
}

/** claim-dispatch.lua's ARGV[11-12], only for a task with upstream references (none on the common path). */
const resolvedArgs = (r: ClaimRequest): string[] => (!r.resolved ? [] : 'doc' in r.resolved ? [r.resolved.doc, ''] : ['', r.resolved.error]);

const str = (v: string | number | null | undefined): string | null => (v === null || v === undefined ? null : String(v));

/** The ready queue, the placement scripts and the recovery scripts. Used by this module only: others go through its services. */
@Injectable()
export class SchedulerRepository {
  constructor(private readonly redis: RedisService) {}

  /**
   * `n` queued tasks from position `offset` (highest priority, then oldest, first) with the fields
   * placement needs, and the queue's length: one script, one round trip.
   */
  async queueHead(n: number, offset = 0): Promise<QueueHead> {
    const raw = (await this.redis.run('queue-head', Date.now(), [offset, n])) as (string | number | null)[];
    const tasks: QueuedTask[] = [];
    for (let i = 1; i + 4 < raw.length; i += 5) {
      tasks.push({ id: String(raw[i]), req: str(raw[i + 1]), exclude: str(raw[i + 2]), unschedulable: str(raw[i + 3]), name: str(raw[i + 4]) });
    }
    return { tasks, depth: Number(raw[0] ?? 0) };
  }

  async queueDepth(): Promise<number> {
    return this.redis.cmd.zcard(Keys.queue);
  }

  /** The fields of parents that their shards inherit. */
  async shardParents(ids: string[]): Promise<Record<string, string>[]> {
    const fields = SHARD_PARENT_FIELDS;
    const pipe = this.redis.cmd.pipeline();
    for (const id of ids) pipe.hmget(Keys.task(id), ...fields);
    return ((await pipe.exec()) ?? []).map(([, v]) => Object.fromEntries(fields.map((f, i) => [f, ((v as (string | null)[]) ?? [])[i] ?? ''])));
  }

  /**
   * Runs every claim of one pass in a single pipeline; each is atomic on its own. A single claim (the
   * usual case at low load) is sent on its own: an ioredis Pipeline leaves per-instance garbage
   * in the old generation (see RedisService).
   */
  async claim(reqs: (ClaimRequest | FanOutRequest)[], opts: { topic: string; cutoffIso: string; ackDeadlineMs: number; nowMs: number; fence: string }): Promise<string[]> {
    const prefix = scriptPrefix(opts.nowMs, opts.fence);
    const args = (r: ClaimRequest | FanOutRequest): [string, (string | number)[]] =>
      r.kind === 'single'
        ? [commandName('claim-dispatch'), [...prefix, r.taskId, r.workerId, opts.topic, r.strategy, r.reason, opts.cutoffIso, opts.ackDeadlineMs, ...resolvedArgs(r)]]
        : [
            commandName('dispatch-shards'),
            [
              ...prefix,
              JSON.stringify({
                parent: r.taskId,
                topic: opts.topic,
                strategy: r.strategy,
                reason: r.reason,
                cutoff: opts.cutoffIso,
                ack_deadline_ms: opts.ackDeadlineMs,
                shards: r.shards,
              }),
            ],
          ];
    type Sender = Record<string, (...a: (string | number)[]) => unknown>;
    if (reqs.length === 1) {
      const [name, a] = args(reqs[0]);
      try {
        return [String(await (this.redis.cmd as unknown as Sender)[name](...a))];
      } catch (err) {
        return [`error:${err instanceof Error ? err.message : String(err)}`];
      }
    }
    const pipe = this.redis.cmd.pipeline() as unknown as Sender & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const r of reqs) {
      const [name, a] = args(r);
      pipe[name](...a);
    }
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, v]) => (err ? `error:${err.message}` : String(v)));
  }

  /**
   * For tasks whose spec references upstream results: each task's stored document and each upstream
   * task's stored result, in one round trip (only passes that dispatch such tasks pay it).
   */
  async upstreamInputs(taskIds: string[], upstreamIds: string[]): Promise<{ docs: (string | null)[]; results: (string | null)[] }> {
    const pipe = this.redis.cmd.pipeline();
    for (const id of taskIds) pipe.hget(Keys.task(id), 'doc');
    for (const id of upstreamIds) pipe.hget(Keys.task(id), 'result');
    const res = ((await pipe.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return (v as string | null) ?? null;
    });
    return { docs: res.slice(0, taskIds.length), results: res.slice(taskIds.length) };
  }

  async setUnschedulable(updates: { id: string; reason: string }[]): Promise<void> {
    if (updates.length === 0) return;
    const pipe = this.redis.cmd.pipeline();
    for (const u of updates) pipe.hset(Keys.task(u.id), 'unschedulable', u.reason);
    await pipe.exec();
  }

  async promoteDelayed(nowMs: number, fence: string): Promise<number> {
    return Number(await this.redis.run('promote-delayed', nowMs, [1000], fence));
  }

  async expireUnacked(nowMs: number, backoffCapSec: number, ackTimeoutSec: number, fence: string): Promise<[string, string, string][]> {
    return JSON.parse((await this.redis.run('expire-unacked', nowMs, [500, backoffCapSec, ackTimeoutSec], fence)) as string) as [string, string, string][];
  }

  /** RUNNING tasks whose worker shows IDLE with extra_last_task = the task (see reconcile-finished.lua). */
  async finishedWhileAway(): Promise<string[]> {
    const held = await this.inflightWorkers();
    if (held.length === 0) return [];
    const pipe = this.redis.cmd.pipeline();
    for (const h of held) pipe.hget(Keys.task(h.taskId), 'status').hmget(workerKey(h.workerId), 'status', 'extra_last_task');
    const res = (await pipe.exec()) ?? [];
    return held
      .filter((h, i) => {
        const [status, worker] = [res[2 * i]?.[1], res[2 * i + 1]?.[1] as (string | null)[] | undefined];
        return status === 'RUNNING' && worker?.[0] === 'IDLE' && worker?.[1] === h.taskId;
      })
      .map((h) => h.taskId);
  }

  async reconcileFinished(taskId: string, backoffCapSec: number, nowMs: number, fence: string): Promise<string> {
    return String(await this.redis.run('reconcile-finished', nowMs, [taskId, backoffCapSec], fence));
  }

  /**
   * A v1 worker registered again, or went IDLE, while it held `taskId`: unless it no longer holds
   * it (its report was applied) or may still finish it, the attempt counts as failed (see
   * release-held-task.lua). Returns 'requeued:<retry|failed>', 'not_held', 'kept:<why>', ...
   */
  async releaseHeldTask(workerId: string, taskId: string, why: 'register' | 'idle', backoffCapSec: number, nowMs: number, fence: string): Promise<string> {
    return String(await this.redis.run('release-held-task', nowMs, [workerId, taskId, why, backoffCapSec], fence));
  }

  /** Workers holding in-flight tasks: the only ones whose death costs us a task. */
  async inflightWorkers(): Promise<{ taskId: string; workerId: string }[]> {
    const ids = await this.redis.cmd.zrange(Keys.inflight, '0', '-1');
    if (ids.length === 0) return [];
    const pipe = this.redis.cmd.pipeline();
    for (const id of ids) pipe.hget(Keys.task(id), 'assigned_worker');
    const res = (await pipe.exec()) ?? [];
    return ids.map((taskId, i) => ({ taskId, workerId: String(res[i]?.[1] ?? '') })).filter((x) => x.workerId);
  }
}
