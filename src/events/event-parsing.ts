import { isTaskId } from '../contracts/ids';
import { oversizedMarker } from '../contracts/stored-result';
import { isValidWorkerId, type TaskStartedEvent, type WorkerEvent, type WorkerTaskEvent } from '../contracts/protocol';

/**
 * Default of MAX_EVENT_BYTES: a report larger than this is not parsed whole (that would hold the
 * event loop); its top-level fields are scanned and its result or error replaced by a marker.
 */
export const DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The message as an object, with explicit nulls read as absent: the later MLOC worker sends every
 * key of its event model, `"error": null`, `"tags": null` and so on, where the dd27001 worker
 * leaves them out.
 */
function parseObject(raw: string, maxBytes: number): Record<string, unknown> | null {
  if (raw.length > maxBytes) return null;
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
    if (isObject(holder) && isTaskId(holder.task_id)) return holder.task_id;
  }
  return undefined;
}

export type TaskEventReading =
  /** a report or acknowledgement to apply */
  | { ev: WorkerTaskEvent | TaskStartedEvent }
  /** a report that cannot be applied, with the reason (it is set aside, never retried) */
  | { rejected: string }
  /** not a worker report at all (our own ORCH_ events, other traffic): ignored */
  | null;

const REPORT_TYPES = new Set(['TASK_SUCCEEDED', 'TASK_FAILED', 'TASK_STARTED']);

/**
 * Reads a worker report or acknowledgement. TASK_STARTED comes on the v2 stream (our worker) and on
 * tasks.events (the later MLOC worker). A message over `maxBytes` is not parsed whole: its top-level
 * fields are scanned, and its result or error is replaced by a marker, so the attempt still ends.
 * Pure; never throws.
 */
export function readTaskEvent(raw: string, maxBytes = DEFAULT_MAX_EVENT_BYTES): TaskEventReading {
  const oversized = raw.length > maxBytes;
  const o = oversized ? scanTopLevel(raw) : parseObject(raw, maxBytes);
  if (!o) return raw.length > 0 && raw.trimStart().startsWith('{') ? { rejected: 'not valid JSON' } : { rejected: 'not a JSON object' };
  if (typeof o.type !== 'string') return null;
  const type = o.type.toUpperCase();
  if (!REPORT_TYPES.has(type)) return null;
  if (!isValidWorkerId(o.worker_id)) return { rejected: `${type} without a valid worker_id (docs/protocol.md, worker ids)` };
  if (!isTaskId(o.task_id)) return { rejected: `${type} names no task of ours (task_id ${describe(o.task_id)})` };
  const attempt = typeof o.attempt === 'number' && Number.isInteger(o.attempt) && o.attempt > 0 ? o.attempt : undefined;
  const ev = { ...o, type, worker_id: o.worker_id, task_id: o.task_id, attempt } as WorkerTaskEvent | TaskStartedEvent;
  if (oversized && ev.type === 'TASK_SUCCEEDED') ev.result = oversizedMarker('result', raw.length);
  if (oversized && ev.type === 'TASK_FAILED') ev.error = `the worker's error report (${raw.length} bytes) was too large to read`;
  return { ev };
}

const describe = (v: unknown): string => (typeof v === 'string' ? `of ${v.length} characters` : v === undefined ? 'missing' : `of type ${typeof v}`);

/** The top-level fields an event needs, read from a text too large to parse whole. */
const SCANNED_FIELDS = new Set(['type', 'worker_id', 'task_id', 'attempt', 'protocol']);

/**
 * The top-level string and number fields named in SCANNED_FIELDS of a JSON object text, in one
 * linear pass without recursion (nested values are skipped however deep), or null when the text is
 * not an object. A field's value is taken only when it is a short string or a number.
 */
export function scanTopLevel(raw: string): Record<string, unknown> | null {
  const n = raw.length;
  let i = 0;
  const skipWs = () => {
    while (i < n) {
      const c = raw.charCodeAt(i);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
      i++;
    }
  };
  /** Index just past the string that starts at i (a quote). */
  const stringEnd = (): number => {
    let j = i + 1;
    while (j < n) {
      const c = raw.charCodeAt(j);
      if (c === 92) j += 2;
      else if (c === 34) return j + 1;
      else j++;
    }
    return -1;
  };
  const readString = (end: number): string | undefined => {
    if (end - i > 1024) return undefined;
    try {
      return JSON.parse(raw.slice(i, end)) as string;
    } catch {
      return undefined;
    }
  };
  skipWs();
  if (raw.charCodeAt(i) !== 123) return null;
  i++;
  const out: Record<string, unknown> = {};
  for (;;) {
    skipWs();
    if (raw.charCodeAt(i) === 125) return out;
    if (raw.charCodeAt(i) !== 34) return null;
    const keyEnd = stringEnd();
    if (keyEnd < 0) return null;
    const key = readString(keyEnd);
    i = keyEnd;
    skipWs();
    if (raw.charCodeAt(i) !== 58) return null;
    i++;
    skipWs();
    const c = raw.charCodeAt(i);
    if (c === 34) {
      const end = stringEnd();
      if (end < 0) return null;
      if (key !== undefined && SCANNED_FIELDS.has(key)) out[key] = readString(end);
      i = end;
    } else if (c === 123 || c === 91) {
      // Skip the nested value: count brackets outside strings.
      let depth = 0;
      while (i < n) {
        const d = raw.charCodeAt(i);
        if (d === 34) {
          const end = stringEnd();
          if (end < 0) return null;
          i = end;
          continue;
        }
        if (d === 123 || d === 91) depth++;
        else if (d === 125 || d === 93) depth--;
        i++;
        if (depth === 0) break;
      }
      if (depth !== 0) return null;
    } else {
      const start = i;
      while (i < n && raw.charCodeAt(i) !== 44 && raw.charCodeAt(i) !== 125) i++;
      const literal = raw.slice(start, i).trim();
      const num = Number(literal);
      if (key !== undefined && SCANNED_FIELDS.has(key) && literal !== '' && Number.isFinite(num)) out[key] = num;
    }
    skipWs();
    if (raw.charCodeAt(i) === 44) i++;
    else if (raw.charCodeAt(i) === 125) return out;
    else return null;
  }
}

/** A message on workers.events, or null when it is not one we understand. Pure. */
export function parseWorkerEvent(raw: string, maxBytes = DEFAULT_MAX_EVENT_BYTES): WorkerEvent | null {
  const o = parseObject(raw, maxBytes);
  if (!o || typeof o.type !== 'string' || !isValidWorkerId(o.worker_id)) return null;
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
