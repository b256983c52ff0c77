import type { StoredPlacement, TaskDocument } from '../contracts/stored-task';

/**
 * The task hash `mloc:task:<id>` (Keys.task): its fields and their encoding, in one place. Every
 * value is a string: numbers in decimal, lists and documents as JSON, times as ISO-8601 UTC, and ''
 * for "none". TypeScript writes a new task's fields here (encodeNewTask for a submitted task,
 * encodeShard for a shard) and the Lua script create_task (scripts/includes/create-task.lua) stores
 * them as they are, adding what only Redis knows (`seq`, `submitted_at`, `updated_at`, on submission
 * `waiting_on`) and `status` PENDING, the status it indexes the task under.
 * Every later change is made by the scripts. The API reads the hash as a TaskHash (tasks/task-record.ts).
 *
 * `by`: who writes the field: `new` (this codec, at creation), `create` (create_task), `scripts`
 * (later state changes, named in docs/redis-keys.md), `results` (POST /api/v1/results, ResultsRepository),
 * `worker` (our v2 worker, through the report-progress script of contracts/task-logs.ts), `api` (the
 * tasks API: TasksService at submission and retry, TasksRepository.linkRetry; test/e2e/rest-shape.spec.ts).
 */
export const TASK_FIELDS = {
  id: { by: 'new', doc: 'the task id (a UUID)' },
  seq: { by: 'create', doc: 'submission order (INCR of mloc:seq); orders listings and the queue' },
  name: { by: 'new', doc: 'metadata.name; a shard: `<parent name>[shard i/n]`' },
  owner: { by: 'new', doc: "metadata.owner, '' when none" },
  kind: { by: 'new', doc: 'the document kind' },
  task_type: { by: 'new', doc: 'what the worker runs (sent with the dispatch)' },
  topic: { by: 'new', doc: 'the task topic the dispatch is published on' },
  status: { by: 'create', doc: 'PENDING, DISPATCHED, RUNNING, DONE, FAILED or CANCELLED' },
  priority: { by: 'new', doc: 'integer; higher is dispatched first' },
  submitted_at: { by: 'create', doc: 'ISO time of creation' },
  updated_at: { by: 'create', doc: 'ISO time of the last status change' },
  dispatched_at: { by: 'scripts', doc: 'ISO time of the current dispatch' },
  started_at: { by: 'scripts', doc: 'ISO time the worker acknowledged (a parent: its fan-out)' },
  finished_at: { by: 'scripts', doc: 'ISO time it ended' },
  doc: { by: 'new', doc: 'the effective task document, JSON, sent to the worker as is' },
  req: { by: 'new', doc: 'placement requirements (StoredPlacement), JSON' },
  depends_on: { by: 'new', doc: 'JSON array of the ids it depends on' },
  waiting_on: { by: 'create', doc: 'JSON array of the dependencies not DONE yet' },
  retries: { by: 'new', doc: 'retries used so far' },
  max_retries: { by: 'new', doc: 'retries allowed' },
  backoff_sec: { by: 'new', doc: 'retry backoff step (s); retry n waits n × this, capped' },
  attempt: { by: 'new', doc: 'number of the current dispatch, from 1 (0: never dispatched)' },
  attempts: { by: 'new', doc: 'JSON array of {attempt, worker, outcome, error, ended_at} (+ worker_told when given up while the worker had it)' },
  exclude: { by: 'scripts', doc: 'the worker that failed the last attempt' },
  assigned_worker: { by: 'scripts', doc: "the worker of the current attempt; MULTI for a fanned-out parent; '' when none" },
  strategy: { by: 'scripts', doc: 'the placement strategy of the dispatch' },
  reason: { by: 'scripts', doc: 'why the worker was chosen' },
  unschedulable: { by: 'scripts', doc: 'why no worker fits, while queued' },
  error: { by: 'scripts', doc: 'the last error' },
  result: { by: 'scripts', doc: 'the result, JSON (a parent: the aggregate of its shards)' },
  result_meta: { by: 'results', doc: 'JSON {worker_id, metadata, posted_at} of a result posted over HTTP (POST /api/v1/results)' },
  parent_id: { by: 'new', doc: "a shard: its parent's id; else ''" },
  shard_index: { by: 'new', doc: 'a shard: its index, from 0' },
  shard_total: { by: 'new', doc: 'a shard or a fanned-out parent: the number of shards' },
  children: { by: 'scripts', doc: 'a fanned-out parent: JSON array of its shard ids' },
  shards_done: { by: 'scripts', doc: 'a fanned-out parent: shards succeeded so far' },
  raw_yaml: {
    by: 'api',
    doc: "the YAML text of the task's document as submitted (dd27001 `raw_yaml`), on the first task of each document; not kept for a document that holds a secret",
  },
  raw_of: { by: 'api', doc: 'the other tasks of a document (stages, graph nodes, a retry): the id of the task whose raw_yaml is theirs' },
  retry_of: { by: 'api', doc: 'POST /api/v1/tasks/{id}/retry: the task this one re-submits' },
  retried_by: { by: 'api', doc: 'the task that re-submitted this one (TasksRepository.linkRetry)' },
  retention_sec: { by: 'new', doc: 'how long it is kept once finished (s): spec.retention.seconds, else TASK_RETENTION_SEC; a shard has none (it goes with its parent)' },
  progress: { by: 'worker', doc: "JSON {done, total?, unit?} from our v2 worker's report-progress script (contracts/task-logs.ts); a parent: the sum of its shards'" },
} as const satisfies Record<string, { by: 'new' | 'create' | 'scripts' | 'results' | 'worker' | 'api'; doc: string }>;

export type TaskField = keyof typeof TASK_FIELDS;

/** The task hash as HGETALL returns it (a field never written is absent). */
export type TaskHash = Partial<Record<TaskField, string>>;

/** What a new task is made of (TasksService.toRow). */
export interface NewTask {
  id: string;
  name: string;
  owner: string | null;
  kind: string;
  taskType: string;
  topic: string;
  doc: TaskDocument;
  placement: StoredPlacement;
  priority: number;
  maxRetries: number;
  backoffSec: number;
  dependsOn: string[];
  /** Seconds it is kept once finished (spec.retention.seconds, else TASK_RETENTION_SEC); DEFAULT_TASK_RETENTION_SEC when not given. */
  retentionSec?: number;
}

/** TASK_RETENTION_SEC's default: what a task created without `retention_sec` (before retention existed) is kept (finished-index.lua). */
export const DEFAULT_TASK_RETENTION_SEC = 7 * 86_400;

/** A new task's state before its first dispatch. */
const FRESH = { retries: '0', attempt: '0', attempts: '[]' } as const;

/** The fields of a submitted task, as create_task stores them. */
export function encodeNewTask(t: NewTask) {
  return {
    ...FRESH,
    id: t.id,
    name: t.name,
    owner: t.owner ?? '',
    kind: t.kind,
    task_type: t.taskType,
    topic: t.topic,
    doc: JSON.stringify(t.doc),
    req: JSON.stringify(t.placement),
    priority: String(t.priority),
    max_retries: String(t.maxRetries),
    backoff_sec: String(t.backoffSec),
    depends_on: JSON.stringify(t.dependsOn),
    parent_id: '',
    retention_sec: String(t.retentionSec ?? DEFAULT_TASK_RETENTION_SEC),
  } satisfies Partial<TaskHash>;
}

/** The fields a shard takes from its parent as stored. */
const SHARD_INHERITED_FIELDS = ['owner', 'kind', 'task_type', 'topic', 'priority', 'max_retries', 'backoff_sec'] as const satisfies readonly TaskField[];
/** What the scheduler reads of a parent to build its shards (SchedulerRepository.shardParents). */
export const SHARD_PARENT_FIELDS = ['doc', 'name', ...SHARD_INHERITED_FIELDS] as const satisfies readonly TaskField[];
export type ShardParent = Pick<TaskHash, (typeof SHARD_PARENT_FIELDS)[number]>;

/** The fields of shard `index` of `total` of a parent fanned out (shardRows in src/scheduler/sharding/shard-rows.ts). */
export function encodeShard(parentId: string, parent: ShardParent, s: { id: string; index: number; total: number; doc: unknown; placement: StoredPlacement }) {
  const inherited = Object.fromEntries(SHARD_INHERITED_FIELDS.map((f) => [f, parent[f] ?? ''])) as Record<(typeof SHARD_INHERITED_FIELDS)[number], string>;
  return {
    ...inherited,
    ...FRESH,
    id: s.id,
    name: `${parent.name ?? ''}[shard ${s.index + 1}/${s.total}]`,
    doc: JSON.stringify(s.doc),
    req: JSON.stringify(s.placement),
    depends_on: '[]',
    waiting_on: '[]',
    parent_id: parentId,
    shard_index: String(s.index),
    shard_total: String(s.total),
  } satisfies Partial<TaskHash>;
}
