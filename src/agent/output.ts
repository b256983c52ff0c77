/**
 * Where a task's files go (PROTOCOL section 4) and what goes back to the orchestrator in
 * TASK_SUCCEEDED.result.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { isPlainObject } from '../contracts/plain-data';

export const RESPONSES_FILE = 'responses.json';

/** TASK_SUCCEEDED.result is cut to this size; the full output is in responses.json. */
export const MAX_RESULT_SUMMARY_BYTES = 256 * 1024;

/**
 * PROTOCOL section 4: a `local` destination (the default type) with a path uses that path, a
 * relative one under RESULTS_DIR; anything else uses RESULTS_DIR/<task id>. When the last
 * component is not the task id, `/<task id>` is appended, so attempts and shards of different
 * tasks never write into each other's folders. Pure.
 */
export function outputDirFor(taskId: string, spec: Record<string, unknown>, resultsDir: string): string {
  const output = isPlainObject(spec.output) ? spec.output : {};
  const destination = isPlainObject(output.destination) ? output.destination : {};
  const type = destination.type ?? 'local';
  const path = destination.path;
  let dir = join(resultsDir, taskId);
  if (type === 'local' && typeof path === 'string' && path.trim() !== '') {
    dir = isAbsolute(path) ? path : join(resultsDir, path);
  }
  return basename(dir) === taskId ? dir : join(dir, taskId);
}

/** Writes `responses.json` atomically (temp file, then rename): a reader never sees half a file. */
export async function writeResponses(dir: string, value: unknown): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, RESPONSES_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value ?? null, null, 2)}\n`, 'utf8');
  await rename(tmp, file);
  return file;
}

const byteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/**
 * The result to publish: the executor's output as is when it fits in `limit` bytes of JSON.
 * Otherwise as many leading `items` as fit, with `truncated: true` and the counts, and the other
 * fields when they still fit (`usage` and `model` always stay): the orchestrator keeps a usable
 * summary and responses.json keeps everything. Pure.
 */
export function summarizeResult(output: Record<string, unknown>, limit = MAX_RESULT_SUMMARY_BYTES): Record<string, unknown> {
  if (byteLength(output) <= limit) return output;
  const items = Array.isArray(output.items) ? output.items : [];
  const marker = { truncated: true, items_total: items.length, note: `result larger than ${limit} bytes; the full output is in ${RESPONSES_FILE}` };
  const essentials = { usage: output.usage, model: output.model, output_dir: output.output_dir };
  const withAll = (n: number) => ({ ...output, ...marker, items: items.slice(0, n), items_included: n });
  const withEssentials = (n: number) => ({ ...essentials, ...marker, items: items.slice(0, n), items_included: n });
  const build = byteLength(withAll(0)) <= limit ? withAll : withEssentials;
  // Binary search for the largest prefix of items that fits.
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (byteLength(build(mid)) <= limit) low = mid;
    else high = mid - 1;
  }
  return build(low);
}
