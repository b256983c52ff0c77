/**
 * Every Redis key the orchestrator owns. v1 worker keys (workers:ids, worker:{id}, worker:{id}:hb)
 * are fixed by PROTOCOL.md and live in contracts/protocol.ts; ours carry the `mloc:` prefix.
 * The full layout, with types and writers, is documented in docs/redis-keys.md.
 * The Lua scripts take these names from here: the loader templates them into the script text
 * (`{{Keys.queue}}`, `{{Keys.task(id)}}`; see scripts.ts SCRIPT_CONSTANTS).
 */
import { taskHashKey, taskLogsKey, workerControlKey } from '../contracts/protocol';

export const PREFIX = 'mloc:';

export const Keys = {
  /** string counter: submission order; a task's `seq` orders listings and the queue. */
  seq: `${PREFIX}seq`,
  /** hash: the task record (named in contracts/protocol.ts: our worker's progress script writes its `progress`). */
  task: taskHashKey,
  /** stream (capped, with a TTL): a task's log lines, written by our (v2) worker in batches (contracts/task-logs.ts). */
  taskLogs: taskLogsKey,
  /** set: ids of tasks that wait on this task. */
  dependents: (id: string) => `${PREFIX}task:${id}:dependents`,
  /** zset (score = seq): every task id, for newest-first listings. */
  allTasks: `${PREFIX}tasks`,
  /** zset (score = seq): task ids by status. */
  tasksByStatus: (status: string) => `${PREFIX}tasks:status:${status}`,
  /** zset (score = seq): task ids by owner. */
  tasksByOwner: (owner: string) => `${PREFIX}tasks:owner:${owner}`,
  /** zset: ready tasks; score = seq - priority * 2^32, so ZRANGE gives higher priority first, then oldest. */
  queue: `${PREFIX}queue`,
  /** zset (score = due time, ms): tasks waiting out a retry backoff. */
  delayed: `${PREFIX}delayed`,
  /** zset (score = ack deadline, ms): dispatched tasks not yet acknowledged (and cancelled ones whose worker still holds them). */
  unacked: `${PREFIX}unacked`,
  /** zset (score = dispatch time, ms): tasks in DISPATCHED or RUNNING. */
  inflight: `${PREFIX}inflight`,
  /** zset (score = when it is due for removal, ms): finished tasks that are not shards (retention; a shard goes with its parent). */
  finished: `${PREFIX}tasks:finished`,
  /** set: sharded parents that are fanned out and not finished (the aggregation safety net). */
  parents: `${PREFIX}parents`,
  /** string with TTL: the leader lease; its value is the leader's fencing token `<instance>#<epoch>`. */
  leader: `${PREFIX}leader`,
  /** string counter: leader epochs, so every fencing token is new. */
  leaderEpoch: `${PREFIX}leader:epoch`,
  /** string: set when a worker let a dispatch time out; it gets no work until it is heard from again. */
  workerSuspect: (workerId: string) => `${PREFIX}worker:${workerId}:suspect`,
  /** set: drained workers (POST /workers/{id}/drain): never given a task until undrained. The orchestrator's own key, not the v1 worker's hash; no TTL. */
  draining: `${PREFIX}draining`,
  /** string (24 h TTL): an Idempotency-Key's submission, keyed by the key's SHA-256: `{h: body hash, s: status, b: answer}` or a pending marker. */
  idempotency: (keyHash: string) => `${PREFIX}idem:${keyHash}`,
  /** stream (capped): worker events that could not be applied, with the reason (DeadLetters). */
  deadEvents: `${PREFIX}events:dead`,
  /** string: the task a worker holds; the lock that keeps two tasks off one worker. */
  workerTask: (workerId: string) => `${PREFIX}worker:${workerId}:task`,
  /** list (capped, TTL): control messages for a v2 worker (stop an attempt it holds); named in contracts/protocol.ts, the worker reads it. */
  workerControl: workerControlKey,
} as const;
