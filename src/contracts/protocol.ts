/**
 * Wire formats of PROTOCOL.md v1: key names, channel names, message shapes.
 * These names are a contract with the existing worker fleet: never rename them.
 * No Nest imports here; the orchestrator and our worker both use this file.
 */

export const WORKER_IDS_KEY = 'workers:ids';
export const workerKey = (id: string): string => `worker:${id}`;
export const workerHeartbeatKey = (id: string): string => `worker:${id}:hb`;

/** The longest worker id accepted (in characters). */
export const MAX_WORKER_ID_LENGTH = 128;
/**
 * The one rule for worker ids, applied wherever an id enters the orchestrator (events, registry
 * reads, cleanup). Ids are put into key names (`worker:{id}`, `worker:{id}:hb`,
 * `mloc:worker:{id}:task`): without `:` no id can name another worker's key, and without glob
 * characters (`* ? [ ] \`) none can widen a key pattern. Hostnames, `hostname-pid`, UUIDs and
 * e-mail-like ids pass; whitespace and control characters do not.
 */
const WORKER_ID_RULE = /^[^\s\p{C}:*?[\]\\]+$/u;
export function isValidWorkerId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_WORKER_ID_LENGTH * 2 && [...id].length <= MAX_WORKER_ID_LENGTH && WORKER_ID_RULE.test(id);
}

export const WORKERS_EVENTS_CHANNEL = 'workers.events';
export const TASKS_EVENTS_CHANNEL = 'tasks.events';
export const DEFAULT_TASK_TOPIC = 'tasks';

export type WorkerStatus = 'STARTING' | 'IDLE' | 'RUNNING' | string;

/** Fields of the `worker:{id}` hash as written by a v1 worker. */
export interface WorkerHashFields {
  worker_id?: string;
  status?: string;
  started_at?: string;
  pid?: string;
  env_json?: string;
  hardware_json?: string;
  tags_json?: string;
  last_seen?: string;
  [extra: `extra_${string}`]: string | undefined;
}

export interface GpuInfo {
  index?: number;
  name?: string;
  uuid?: string;
  memory?: { total_bytes?: number | string | null; total?: number | string | null } | null;
  memory_bytes?: number | string | null;
  vram_bytes?: number | string | null;
  vram?: number | string | null;
}

export interface HardwareInfo {
  cpu?: { logical_cores?: number | null; model?: string | null } | null;
  memory?: { total_bytes?: number | null } | null;
  gpu?: { driver_version?: string | null; cuda_version?: string | null; gpus?: GpuInfo[] | null } | null;
  network?: { ip?: string | null } | null;
}

/** Messages on `workers.events`. */
export type WorkerEvent =
  | { type: 'REGISTER'; worker_id: string; status: string; ts: string; tags?: string[]; protocol?: number }
  | { type: 'HEARTBEAT'; worker_id: string; ts: string; metrics?: Record<string, unknown> }
  | {
      type: 'STATUS';
      worker_id: string;
      status: string;
      ts: string;
      extra?: Record<string, unknown>;
      /** The task a STATUS RUNNING acknowledges: `extra.task_id` (dd27001 worker) or `payload.task_id` (later MLOC worker). */
      task_id?: string;
      source?: string;
    }
  | { type: 'UNREGISTER'; worker_id: string; ts?: string; source?: string };

/** A dispatch published on the task topic. */
export interface DispatchMessage {
  task_id: string;
  task: Record<string, unknown>;
  task_type: string;
  assigned_worker: string;
  dispatched_at: string;
  /** Not part of v1 (ignored by v1 workers): the attempt this dispatch starts, counted from 1. */
  attempt?: number;
}

/**
 * The durable variant (v2, docs/protocol.md): our own keys, used only by workers that register
 * with `protocol: 2`. v1 workers never see them.
 */
export const PROTOCOL_V2 = 2;
/** list: dispatches waiting for a v2 worker (RPUSH by the orchestrator, BLMOVE by the worker). */
export const workerInboxKey = (id: string): string => `mloc:worker:${id}:inbox`;
/** list: the dispatch a v2 worker took and has not finished (crash recovery on the worker side). */
export const workerProcessingKey = (id: string): string => `mloc:worker:${id}:processing`;
/**
 * list: control messages for a v2 worker. The orchestrator RPUSHes one (capped, with a TTL) in the
 * same atomic step that gives up an attempt the worker holds (cancel, ack timeout, lost worker);
 * the worker BLPOPs it on a connection of its own and stops that attempt (docs/protocol.md, Control).
 */
export const workerControlKey = (id: string): string => `mloc:worker:${id}:control`;
/** A message of `workerControlKey`: stop attempt `attempt` of `task_id`, which the orchestrator gave up. */
export interface ControlMessage {
  type: 'CANCEL';
  task_id: string;
  attempt: number;
  /** Why: `cancelled by user`, `worker w lost (heartbeat expired)`, ... */
  reason: string;
  ts: string;
}
/** stream: v2 task events (field `event` holds the JSON), read by the orchestrators' consumer group. */
export const EVENTS_STREAM_KEY = 'mloc:events';
export const EVENTS_STREAM_GROUP = 'orchestrators';
/** Approximate length the workers trim the stream to. */
export const EVENTS_STREAM_MAXLEN = 100_000;

/**
 * v2 logs and progress (docs/protocol.md, "Logs and progress"): the worker writes a task's output
 * lines straight into this capped stream, one XADD per batch; the orchestrator only reads it.
 * Same prefix as the task hash `mloc:task:<id>` (taskHashKey), which the progress script updates.
 */
export const taskHashKey = (taskId: string): string => `mloc:task:${taskId}`;
/** stream: a task's log batches, entry id `<attempt>-<number of its last line>` (contracts/task-logs.ts). */
export const taskLogsKey = (taskId: string): string => `mloc:task:${taskId}:logs`;
/** About this many lines of a task are kept (the latest attempt that wrote). */
export const TASK_LOG_MAX_LINES = 1000;
/** A longer line is cut to this many bytes of UTF-8 (by the worker, and again by the reader). */
export const TASK_LOG_LINE_MAX_BYTES = 4096;
/** The worker flushes its buffered lines every this many ms, or at this many lines, whichever first. */
export const TASK_LOG_FLUSH_MS = 200;
export const TASK_LOG_BATCH_LINES = 64;
/** Each flush sets this TTL on the log stream, so a log never outlives its task for ever (7 days). */
export const TASK_LOG_TTL_SEC = 7 * 24 * 3600;
/** The worker sends a task's progress at most this often (the latest value wins; the last one always goes). */
export const TASK_PROGRESS_INTERVAL_MS = 1000;

/**
 * An acknowledgement: a v2 worker's on the stream (it also sends the v1 STATUS RUNNING), and the
 * later MLOC worker's on tasks.events (with `payload: {taskType, dispatched_at, started_at}`).
 */
export interface TaskStartedEvent {
  type: 'TASK_STARTED';
  worker_id: string;
  task_id: string;
  attempt?: number;
  ts?: string;
  protocol?: number;
}

/** Worker reports on `tasks.events`. Types are compared case-insensitively. */
export interface TaskSucceededEvent {
  type: 'TASK_SUCCEEDED';
  worker_id: string;
  task_id: string;
  result?: unknown;
  ts?: string;
  attempt?: number;
  /** 2 on the v1 mirror of a v2 event: the orchestrator applies the stream entry, not the mirror. */
  protocol?: number;
}
export interface TaskFailedEvent {
  type: 'TASK_FAILED';
  worker_id: string;
  task_id: string;
  error?: unknown;
  ts?: string;
  attempt?: number;
  protocol?: number;
}
export type WorkerTaskEvent = TaskSucceededEvent | TaskFailedEvent;

/**
 * Marks STATUS/UNREGISTER events that the orchestrator publishes about a worker, so that
 * nobody (the orchestrator included) mistakes them for the worker's own acknowledgement.
 */
export const ORCHESTRATOR_SOURCE = 'orchestrator';

/**
 * Lifecycle events the orchestrator publishes on `tasks.events` for monitoring.
 * They are prefixed `ORCH_` so they cannot be confused with worker reports
 * (TASK_SUCCEEDED / TASK_FAILED), which every consumer matches exactly.
 */
export const OrchestratorEventType = {
  SUBMITTED: 'ORCH_TASK_SUBMITTED',
  DISPATCHED: 'ORCH_TASK_DISPATCHED',
  STARTED: 'ORCH_TASK_STARTED',
  RETRY_SCHEDULED: 'ORCH_TASK_RETRY_SCHEDULED',
  REQUEUED: 'ORCH_TASK_REQUEUED',
  DONE: 'ORCH_TASK_DONE',
  FAILED: 'ORCH_TASK_FAILED',
  CANCELLED: 'ORCH_TASK_CANCELLED',
} as const;
export type OrchestratorEventType = (typeof OrchestratorEventType)[keyof typeof OrchestratorEventType];

/** ISO-8601 UTC timestamp, as every message of the protocol carries. */
export const isoNow = (nowMs: number = Date.now()): string => new Date(nowMs).toISOString();

/**
 * The error a worker reports when it has no executor for a task's type (our worker says exactly
 * this). The orchestrator recognises it (refuse-attempt.lua): no retry is counted, and that worker
 * is not offered the type again until it registers again.
 */
export const NO_EXECUTOR_ERROR_PREFIX = 'no executor for taskType ';
export const NO_EXECUTOR_ERROR_SUFFIX = ' on this worker';
export const noExecutorError = (taskType: string): string => `${NO_EXECUTOR_ERROR_PREFIX}${taskType}${NO_EXECUTOR_ERROR_SUFFIX}`;
