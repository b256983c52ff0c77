import { decodeProgress, TaskProgress } from '../contracts/task-logs';
import { maskSecrets } from '../contracts/secrets';
import type { TaskStatus } from '../contracts/task-states';
import type { TaskHash } from '../redis/task-codec';

/** One attempt of a task, as recorded in the task hash's `attempts` field. */
export interface AttemptRecord {
  attempt: number;
  worker: string;
  outcome: 'succeeded' | 'failed' | 'cancelled';
  error?: string;
  /**
   * Set when the attempt was given up while its worker had it (cancel, ack timeout, lost worker):
   * whether the worker was told to stop it (v2: true; a v1 worker cannot be: false).
   */
  worker_told?: boolean;
  ended_at: string;
}

/** A task as the API shows it (TASK-SPEC section 7, plus strategy, reason, shards and attempts). */
export interface TaskResponse {
  task_id: string;
  name: string;
  owner: string | null;
  kind: string;
  task_type: string;
  status: TaskStatus;
  assigned_worker: string | null;
  topic: string;
  priority: number;
  submitted_at: string;
  updated_at: string | null;
  dispatched_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  retries: number;
  max_retries: number;
  attempt: number;
  attempts: AttemptRecord[];
  depends_on: string[];
  waiting_on: string[];
  strategy: string | null;
  reason: string | null;
  unschedulable: string | null;
  parent_id: string | null;
  /** dd27001's name of `parent_id` (same value), kept for scripts written against it. */
  parent_task_id: string | null;
  /** POST /api/v1/tasks/{id}/retry: the task this one re-submits. */
  retry_of: string | null;
  /** The task that re-submitted this one (POST /api/v1/tasks/{id}/retry), if any. */
  retried_by: string | null;
  /** The YAML text of the document as submitted (dd27001); a stage or graph node: its pipeline document's. Null when not kept. */
  raw_yaml: string | null;
  /** dd27001's name of `task`: the parsed (effective) document. */
  parsed: Record<string, unknown>;
  shard_index: number | null;
  shard_total: number | null;
  children: string[] | null;
  shards_done: number | null;
  /** What our (v2) worker last reported, `{done, total, unit}`; a sharded parent: the sum of its shards'. Null when nothing was reported. */
  progress: TaskProgress | null;
  result: unknown;
  task: Record<string, unknown>;
}

/** The entry per created task in the submission response. */
export interface SubmittedTask {
  task_id: string;
  /** Why no registered worker could ever run it (said by the leader; waiting tasks too); null when one could (or on a follower). */
  unschedulable: string | null;
  name: string;
  status: TaskStatus;
  assigned_worker: string | null;
  topic: string;
  waiting_on: string[];
  retries: number;
  max_retries: number;
}

const str = (v: string | undefined): string | null => (v === undefined || v === '' ? null : v);
const int = (v: string | undefined, d = 0): number => (v === undefined || v === '' ? d : Number(v));
const intOrNull = (v: string | undefined): number | null => (v === undefined || v === '' ? null : Number(v));

function json<T>(v: string | undefined, fallback: T): T {
  if (v === undefined || v === '') return fallback;
  try {
    return JSON.parse(v) as T;
  } catch {
    return fallback;
  }
}

/** Maps a stored task hash to the API shape; the field names are the codec's (redis/task-codec.ts). Pure. */
export function toTaskResponse(h: TaskHash): TaskResponse {
  const children = json<string[] | null>(h.children, null);
  const r: Omit<TaskResponse, 'parsed'> = {
    task_id: h.id ?? '',
    name: h.name ?? '',
    owner: str(h.owner),
    kind: h.kind ?? '',
    task_type: h.task_type ?? '',
    status: h.status as TaskStatus,
    assigned_worker: str(h.assigned_worker),
    topic: h.topic ?? '',
    priority: int(h.priority),
    submitted_at: h.submitted_at ?? '',
    updated_at: str(h.updated_at),
    dispatched_at: str(h.dispatched_at),
    started_at: str(h.started_at),
    finished_at: str(h.finished_at),
    error: str(h.error),
    retries: int(h.retries),
    max_retries: int(h.max_retries),
    attempt: int(h.attempt),
    attempts: json<AttemptRecord[]>(h.attempts, []),
    depends_on: json<string[]>(h.depends_on, []),
    waiting_on: json<string[]>(h.waiting_on, []),
    strategy: str(h.strategy),
    reason: str(h.reason),
    unschedulable: str(h.unschedulable),
    parent_id: str(h.parent_id),
    parent_task_id: str(h.parent_id),
    retry_of: str(h.retry_of),
    retried_by: str(h.retried_by),
    raw_yaml: str(h.raw_yaml),
    shard_index: intOrNull(h.shard_index),
    shard_total: intOrNull(h.shard_total),
    children,
    shards_done: children ? int(h.shards_done) : null,
    progress: decodeProgress(h.progress),
    result: json<unknown>(h.result, null),
    // The worker gets the document as stored (the dispatch); an answer never shows a secret's value.
    task: maskSecrets(json<Record<string, unknown>>(h.doc, {})),
  };
  return { ...r, parsed: r.task };
}

/** Maps the few fields of a submission answer (built by TasksService.submit from the submit script's result). Pure. */
export function toSubmittedTask(h: TaskHash): SubmittedTask {
  return {
    task_id: h.id ?? '',
    name: h.name ?? '',
    status: h.status as TaskStatus,
    assigned_worker: str(h.assigned_worker),
    topic: h.topic ?? '',
    waiting_on: json<string[]>(h.waiting_on, []),
    retries: int(h.retries),
    max_retries: int(h.max_retries),
    unschedulable: str(h.unschedulable),
  };
}
