import { DomainError } from '../common/errors';
import { isValidWorkerId, MAX_WORKER_ID_LENGTH } from '../contracts/protocol';
import { MAX_RESULT_DEPTH, nestingDepth } from '../contracts/stored-result';

/** The longest file name one task's folder takes, in bytes (what every common filesystem allows). */
export const MAX_FILE_NAME_BYTES = 255;
/** The largest `metadata` of a posted result, serialized. */
export const MAX_RESULT_METADATA_BYTES = 64 * 1024;

/**
 * Why `name` cannot be a file name in a task's folder, or null when it can. Refused: empty, `.`,
 * anything containing `..`, `/`, `\`, NUL or another control character, or longer than 255 bytes,
 * so that RESULTS_DIR/<task>/<name> always names a file directly inside the task's folder. Pure.
 */
export function fileNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'a file name is required';
  if (Buffer.byteLength(name) > MAX_FILE_NAME_BYTES) return `a file name is at most ${MAX_FILE_NAME_BYTES} bytes`;
  if (name === '.' || name.includes('..')) return 'a file name may not be "." or contain ".."';
  if (/[/\\]/.test(name)) return 'a file name may not contain "/" or "\\"';
  // C0 controls (NUL included), DEL and the C1 controls.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'a file name may not contain control characters';
  return null;
}

/** Throws a 400 naming `field` when `name` is not a file name of a task's folder. */
export function checkFileName(name: unknown, field: string): string {
  const problem = fileNameProblem(name);
  if (problem) throw new DomainError('invalid_request', `Invalid file name ${JSON.stringify(shown(String(name ?? '')))}: ${problem}`, field);
  return name as string;
}

/** A result posted over HTTP, checked. `task_id` is not yet known to be a task id. */
export interface ResultPost {
  taskId: string;
  result: unknown;
  workerId: string | null;
  metadata: Record<string, unknown> | null;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads the body of POST /api/v1/results, `{task_id, result, worker_id?, metadata?}`; a body of
 * another shape is a 400 naming the field. Pure.
 */
export function readResultPost(body: unknown): ResultPost {
  if (!isPlainObject(body)) throw new DomainError('invalid_request', 'Body must be a JSON object {"task_id": "...", "result": ...} (Content-Type: application/json)');
  const { task_id: taskId, result, worker_id: workerId, metadata } = body;
  if (typeof taskId !== 'string') throw new DomainError('invalid_request', `task_id must be a string, got ${kind(taskId)}`, 'task_id');
  if (result === undefined) throw new DomainError('invalid_request', 'result is required (any JSON value)', 'result');
  if (workerId !== undefined && workerId !== null && !isValidWorkerId(workerId)) {
    throw new DomainError('invalid_request', `worker_id must be a worker id (at most ${MAX_WORKER_ID_LENGTH} characters, no spaces or control characters)`, 'worker_id');
  }
  if (metadata !== undefined && metadata !== null) {
    if (!isPlainObject(metadata)) throw new DomainError('invalid_request', `metadata must be a JSON object, got ${kind(metadata)}`, 'metadata');
    const text = JSON.stringify(metadata);
    if (Buffer.byteLength(text) > MAX_RESULT_METADATA_BYTES) throw new DomainError('invalid_request', `metadata is larger than ${MAX_RESULT_METADATA_BYTES} bytes`, 'metadata');
    if (nestingDepth(text) > MAX_RESULT_DEPTH) throw new DomainError('invalid_request', `metadata is nested deeper than ${MAX_RESULT_DEPTH} levels`, 'metadata');
  }
  return { taskId, result, workerId: (workerId as string | null | undefined) ?? null, metadata: (metadata as Record<string, unknown> | null | undefined) ?? null };
}

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : v === undefined ? 'nothing' : `a ${typeof v}`);

/** An id or name as error messages show it: short. */
export const shown = (s: string): string => (s.length > 80 ? `${s.slice(0, 76)}...` : s);
