import type { TaskStartedEvent, WorkerEvent, WorkerTaskEvent } from '../contracts/protocol';

/** Messages bigger than this are dropped unread: no worker report needs more. */
export const MAX_EVENT_BYTES = 16 * 1024 * 1024;
/** Stored results are cut to this size (with a marker saying so). */
export const MAX_RESULT_BYTES = 1024 * 1024;
export const MAX_ERROR_CHARS = 4000;

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;

function parseObject(raw: string): Record<string, unknown> | null {
  if (raw.length > MAX_EVENT_BYTES) return null;
  try {
    const v: unknown = JSON.parse(raw);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * A worker report (tasks.events, or the v2 stream, which also carries TASK_STARTED), or null for
 * anything else (our own ORCH_ events, junk). Pure.
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
      const extra = o.extra && typeof o.extra === 'object' && !Array.isArray(o.extra) ? (o.extra as Record<string, unknown>) : undefined;
      return { type, worker_id: o.worker_id, status: o.status.toUpperCase(), ts: ts ?? new Date().toISOString(), extra, source };
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
