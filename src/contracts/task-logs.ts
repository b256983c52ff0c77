/**
 * A task's log lines and progress (v2, docs/protocol.md "Logs and progress"): how our worker writes
 * them and how the orchestrator reads them back. Anything in Redis may have been written by someone
 * else: the readers here never throw, they drop what they cannot read and cut what is too long.
 * No Nest imports: the orchestrator and our worker both use this file.
 */
import { TASK_LOG_BATCH_LINES, TASK_LOG_LINE_MAX_BYTES } from './protocol';

/** One output line as the API shows it. */
export interface LogLine {
  /** ISO time the worker read the line; null when the entry carries none. */
  ts: string | null;
  /** `stdout`, `stderr` (a command), `progress` (an executor's own lines), or another short name. */
  stream: string;
  text: string;
  /** The attempt that wrote it (the entry id's first part). */
  attempt: number | null;
}

/** What the worker buffers before a flush: `[ms since epoch, stream, text]`. */
export type RawLogLine = [number, string, string];

/** A task's progress as its record shows it. */
export interface TaskProgress {
  done: number;
  total: number | null;
  unit: string | null;
}

const STREAM_NAME = /^[a-z][a-z0-9_-]{0,15}$/;
/** The longest `unit` of a progress report. */
export const MAX_PROGRESS_UNIT_CHARS = 32;
/** The largest `done` or `total` (integers stay exact below it). */
export const MAX_PROGRESS_VALUE = 2 ** 53 - 1;
/** An entry's `lines` value longer than this was not written by a worker that obeys the batch rules: dropped unread. */
const MAX_ENTRY_CHARS = TASK_LOG_BATCH_LINES * TASK_LOG_LINE_MAX_BYTES * 2 + 4096;

/**
 * `text` cut to at most `maxBytes` of UTF-8, with a note of the line's size; never a broken
 * character. `dropped`: bytes of the line already cut off its end by the caller. Pure.
 */
export function cutLine(text: string, maxBytes = TASK_LOG_LINE_MAX_BYTES, dropped = 0): string {
  if (dropped === 0 && text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.byteLength(text) + dropped;
  if (bytes <= maxBytes) return text;
  const note = ` [... ${bytes} bytes, cut]`;
  const keep = Math.max(0, maxBytes - Buffer.byteLength(note));
  // A character split by the cut decodes as U+FFFD at the end: dropped.
  const head = Buffer.from(text.slice(0, keep))
    .subarray(0, keep)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
  return head + note;
}

/** The field/value pairs of one log entry as the worker writes it: `w <worker id> lines <JSON of RawLogLine[]>`. */
export function encodeLogEntry(workerId: string, lines: RawLogLine[]): string[] {
  return ['w', workerId, 'lines', JSON.stringify(lines)];
}

/** The id of the entry that ends with line number `lastLine` (from 1) of `attempt`: `<attempt>-<lastLine>`. */
export const logEntryId = (attempt: number, lastLine: number): string => `${attempt}-${lastLine}`;

/**
 * The lines of one stream entry (`fields` as XRANGE returns them). A malformed entry gives no
 * lines; a malformed line is skipped; a long text is cut; an unknown stream name reads as `other`.
 */
export function decodeLogEntry(id: string, fields: unknown): LogLine[] {
  if (!Array.isArray(fields)) return [];
  let raw: unknown;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'lines') raw = fields[i + 1];
  if (typeof raw !== 'string' || raw.length > MAX_ENTRY_CHARS) return [];
  let items: unknown;
  try {
    items = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(items)) return [];
  const attempt = Number(String(id).split('-')[0]);
  const out: LogLine[] = [];
  for (const item of items) {
    if (!Array.isArray(item) || typeof item[2] !== 'string') continue;
    const [ms, stream, text] = item as unknown[];
    out.push({
      ts: typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null,
      stream: typeof stream === 'string' && STREAM_NAME.test(stream) ? stream : 'other',
      text: cutLine(text as string),
      attempt: Number.isSafeInteger(attempt) && attempt > 0 ? attempt : null,
    });
  }
  return out;
}

/** A progress value a worker may send, or the reason it may not. Pure. */
export function progressProblem(p: { done: unknown; total?: unknown; unit?: unknown }): string | null {
  const bad = (n: unknown) => typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > MAX_PROGRESS_VALUE;
  if (bad(p.done)) return 'done must be a number from 0 to 2^53-1';
  if (p.total !== undefined && p.total !== null && bad(p.total)) return 'total must be a number from 0 to 2^53-1';
  if (p.unit !== undefined && p.unit !== null && (typeof p.unit !== 'string' || p.unit.length > MAX_PROGRESS_UNIT_CHARS))
    return `unit must be text of at most ${MAX_PROGRESS_UNIT_CHARS} characters`;
  return null;
}

/** The task hash's `progress` field (JSON `{done, total?, unit?}`) as the record shows it; null when absent or unreadable. Pure. */
export function decodeProgress(value: string | null | undefined): TaskProgress | null {
  if (!value) return null;
  let p: unknown;
  try {
    p = JSON.parse(value);
  } catch {
    return null;
  }
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return null;
  const { done, total, unit } = p as Record<string, unknown>;
  // cjson writes an absent total as nothing, and an empty unit as "". A unit that is too long is cut.
  if (progressProblem({ done, total }) !== null) return null;
  return {
    done: done as number,
    total: typeof total === 'number' ? total : null,
    unit: typeof unit === 'string' && unit !== '' ? [...unit].slice(0, MAX_PROGRESS_UNIT_CHARS).join('') : null,
  };
}

/**
 * report-progress: the worker's progress for a task it holds, written as the task hash's `progress`
 * field; a shard's change is added to its parent's `progress` (the parent shows the sum of its
 * shards', kept up to date here). Never changes a status.
 * KEYS: [1] the task hash (taskHashKey).
 * ARGV: [1] worker id, [2] attempt or '', [3] done, [4] total or '', [5] unit or ''.
 * Returns 1 when written; 0 when the worker does not hold the task's current attempt (the check of
 * ack-task.lua: status DISPATCHED or RUNNING, assigned_worker, attempt); -1 for a bad value.
 */
export const REPORT_PROGRESS_LUA = `
local k = KEYS[1]
local f = redis.call('HMGET', k, 'status', 'assigned_worker', 'attempt', 'parent_id', 'progress')
if (f[1] ~= 'DISPATCHED' and f[1] ~= 'RUNNING') or f[2] ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= tonumber(f[3]) then return 0 end
local function num(s)
  local n = tonumber(s)
  if n == nil or n ~= n or n < 0 or n > ${MAX_PROGRESS_VALUE} then return nil end
  return n
end
local done = num(ARGV[3])
local total = nil
if ARGV[4] ~= '' then total = num(ARGV[4]); if total == nil then return -1 end end
if done == nil or string.len(ARGV[5]) > ${MAX_PROGRESS_UNIT_CHARS * 4} then return -1 end
local function read(v)
  if not v then return 0, 0 end
  local ok, p = pcall(cjson.decode, v)
  if not ok or type(p) ~= 'table' then return 0, 0 end
  local function finite(n) return type(n) == 'number' and n == n and n ~= math.huge and n ~= -math.huge end
  local d, t = p.done, p.total
  if not finite(d) then d = 0 end
  if not finite(t) then t = 0 end
  return d, t
end
redis.call('HSET', k, 'progress', cjson.encode({ done = done, total = total, unit = ARGV[5] }))
if f[4] and f[4] ~= '' then
  local pk = 'mloc:task:' .. f[4]
  local pv = redis.call('HMGET', pk, 'id', 'progress')
  if pv[1] then
    local od, ot = read(f[5])
    local pd, pt = read(pv[2])
    pd = math.max(0, pd + done - od)
    pt = math.max(0, pt + (total or 0) - ot)
    local sum = { done = pd, unit = ARGV[5] }
    if pt > 0 then sum.total = pt end
    redis.call('HSET', pk, 'progress', cjson.encode(sum))
  end
end
return 1
`;
