import type { TaskStartedEvent, WorkerEvent, WorkerTaskEvent } from '../contracts/protocol';

/** Messages bigger than this are dropped unread: no worker report needs more. */
export const MAX_EVENT_BYTES = 16 * 1024 * 1024;
/** Stored results are cut to this size (with a marker saying so). */
export const MAX_RESULT_BYTES = 1024 * 1024;
export const MAX_ERROR_CHARS = 4000;

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The message as an object, with explicit nulls read as absent: the later MLOC worker sends every
 * key of its event model, `"error": null`, `"tags": null` and so on, where the dd27001 worker
 * leaves them out.
 */
function parseObject(raw: string): Record<string, unknown> | null {
  if (raw.length > MAX_EVENT_BYTES) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!isObject(v)) return null;
  for (const k in v) if (v[k] === null) delete v[k];
  return v;
}

/**
 * The task a STATUS event names: `extra.task_id` (the dd27001 worker) or `payload.task_id` (the
 * later MLOC worker, whose event model calls that object `payload`).
 */
function statusTaskId(o: Record<string, unknown>): string | undefined {
  for (const holder of [o.extra, o.payload]) {
    if (isObject(holder) && isId(holder.task_id)) return holder.task_id;
  }
  return undefined;
}

/**
 * A worker report or acknowledgement, or null for anything else (our own ORCH_ events, junk). Pure.
 * TASK_STARTED comes on the v2 stream (our worker) and on tasks.events (the later MLOC worker).
 */
export function parseTaskEvent(raw: string, opts: { started?: boolean } = {}): WorkerTaskEvent | TaskStartedEvent | null {
  const o = parseObject(raw);
  if (!o || typeof o.type !== 'string') return null;
  const type = o.type.toUpperCase();
  if (type !== 'TASK_SUCCEEDED' && type !== 'TASK_FAILED' && !(opts.started && type === 'TASK_STARTED')) return null;
  if (!isId(o.worker_id) || !isId(o.task_id)) return null;
  const attempt = typeof o.attempt === 'number' && Number.isInteger(o.attempt) && o.attempt > 0 ? o.attempt : undefined;
  return { ...o, type, worker_id: o.worker_id, task_id: o.task_id, attempt } as WorkerTaskEvent | TaskStartedEvent;
}

/** A message on workers.events, or null when it is not one we understand. Pure. */
export function parseWorkerEvent(raw: string): WorkerEvent | null {
  const o = parseObject(raw);
  if (!o || typeof o.type !== 'string' || !isId(o.worker_id)) return null;
  const type = o.type.toUpperCase();
  const ts = typeof o.ts === 'string' ? o.ts : undefined;
  const source = typeof o.source === 'string' ? o.source : undefined;
  switch (type) {
    case 'REGISTER':
    case 'UNREGISTER':
      return { type, worker_id: o.worker_id, ts, source } as WorkerEvent;
    case 'HEARTBEAT':
      return { type, worker_id: o.worker_id, ts: ts ?? new Date().toISOString() };
    case 'STATUS': {
      if (typeof o.status !== 'string') return null;
      const extra = isObject(o.extra) ? o.extra : undefined;
      return { type, worker_id: o.worker_id, status: o.status.toUpperCase(), ts: ts ?? new Date().toISOString(), extra, task_id: statusTaskId(o), source };
    }
    default:
      return null;
  }
}

/** The result to store: JSON, cut to MAX_RESULT_BYTES with a marker when larger. */
export function resultToStore(result: unknown): string {
  const text = JSON.stringify(result === undefined ? {} : result) ?? '{}';
  if (Buffer.byteLength(text) <= MAX_RESULT_BYTES) return text;
  return JSON.stringify({ truncated: true, original_bytes: Buffer.byteLength(text), note: `result larger than ${MAX_RESULT_BYTES} bytes was not stored; see the worker's responses.json` });
}

export function errorToStore(error: unknown): string {
  const text = typeof error === 'string' ? error : error === undefined || error === null ? 'task failed (no error given)' : JSON.stringify(error);
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}… [truncated]` : text;
}
