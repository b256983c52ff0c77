/**
 * How a task's result and error are stored (the task hash's `result` and `error` fields): the one
 * rule for results reported by workers, aggregated from shards and posted over HTTP. Pure.
 */

/** Stored results are cut to this size (with a marker saying so). */
export const MAX_RESULT_BYTES = 1024 * 1024;
/**
 * Stored results nested deeper than this are replaced by a marker: the API, the aggregation of
 * shards and the Lua scripts (cjson: 1000 levels) read them back, and must never fail to.
 */
export const MAX_RESULT_DEPTH = 100;
export const MAX_ERROR_CHARS = 4000;

/** What is stored in place of a result too large to keep. */
export const oversizedMarker = (what: string, bytes: number) => ({
  truncated: true,
  original_bytes: bytes,
  note: `${what} larger than ${MAX_RESULT_BYTES} bytes was not stored; see the worker's responses.json`,
});

/** The result to store: JSON, replaced by a marker when larger than MAX_RESULT_BYTES or deeper than MAX_RESULT_DEPTH. */
export function resultToStore(result: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(result === undefined ? {} : result) ?? '{}';
  } catch {
    // A RangeError: nested too deeply for the stack (the parse side has no such limit).
    return JSON.stringify({ truncated: true, note: `result nested deeper than ${MAX_RESULT_DEPTH} levels was not stored; see the worker's responses.json` });
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_RESULT_BYTES) return JSON.stringify(oversizedMarker('result', bytes));
  if (text.length > 2 * MAX_RESULT_DEPTH && nestingDepth(text) > MAX_RESULT_DEPTH) {
    return JSON.stringify({ truncated: true, original_bytes: bytes, note: `result nested deeper than ${MAX_RESULT_DEPTH} levels was not stored; see the worker's responses.json` });
  }
  return text;
}

/** The deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count). */
export function nestingDepth(json: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

export function errorToStore(error: unknown): string {
  let text: string;
  if (typeof error === 'string') text = error;
  else if (error === undefined || error === null) text = 'task failed (no error given)';
  else {
    try {
      text = JSON.stringify(error) ?? String(error);
    } catch {
      text = 'task failed; its error report was nested too deeply to read';
    }
  }
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}… [truncated]` : text;
}
