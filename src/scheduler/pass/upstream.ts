/**
 * Resolving upstream references before the claim (TASK-SPEC section 2, "Reading upstream results"):
 * for the planned tasks whose spec references upstream results (StoredPlacement.upstream, set at
 * submission only for such tasks), one round trip reads their documents and their upstream tasks'
 * results; each document is resolved (contracts/upstream-refs.ts) and given
 * `spec._upstreamResults`, and the claim sends it instead of the stored one, or fails the task when
 * a reference cannot be resolved. Tasks without references cost nothing here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isTaskId } from '../../contracts/ids';
import { resolveReferences, UPSTREAM_RESULTS_FIELD, type UpstreamResult } from '../../contracts/upstream-refs';
import type { ClaimRequest, SchedulerRepository } from '../scheduler.repository';
import type { Planned } from './plan';

/** The name RESULTS_DIR/<task>/ gives a posted result too large for the task record (docs/results.md). */
const RESULT_FILE = 'result.json';

export async function resolveUpstream(planned: Planned[], repo: Pick<SchedulerRepository, 'upstreamInputs'>, resultsDir: string): Promise<void> {
  const todo = planned.filter((p) => p.upstream && p.req.kind === 'single');
  if (todo.length === 0) return;
  const upstreamIds = [...new Set(todo.flatMap((p) => Object.values(p.upstream!.tasks)))];
  const { docs, results } = await repo.upstreamInputs(
    todo.map((p) => p.req.taskId),
    upstreamIds,
  );
  const resultOf = new Map<string, unknown>();
  await Promise.all(upstreamIds.map(async (id, i) => resultOf.set(id, await storedResult(id, results[i], resultsDir))));
  todo.forEach((p, i) => {
    const doc = parseJson(docs[i]);
    // No document: the task is gone, and the claim says so.
    if (!isObject(doc) || !isObject(doc.spec)) return;
    const up: Record<string, UpstreamResult> = {};
    for (const [name, id] of Object.entries(p.upstream!.tasks)) up[name] = { id, result: resultOf.get(id) ?? null };
    const spec = resolveReferences(doc.spec, up);
    const req = p.req as ClaimRequest;
    if (!spec.ok) {
      req.resolved = { error: spec.error };
      return;
    }
    const upstreamResults: Record<string, unknown> = {};
    for (const name of p.upstream!.direct) if (up[name]) upstreamResults[name] = up[name].result;
    req.resolved = { doc: JSON.stringify({ ...doc, spec: { ...(spec.value as Record<string, unknown>), [UPSTREAM_RESULTS_FIELD]: upstreamResults } }) };
  });
}

/**
 * An upstream task's result as stored (the record's `result`, JSON), or, for a posted result too
 * large for the record, the whole one from RESULTS_DIR/<id>/result.json (the record holds a
 * reference to it). A file that cannot be read leaves the reference.
 */
async function storedResult(id: string, raw: string | null, resultsDir: string): Promise<unknown> {
  const result = parseJson(raw);
  if (!isObject(result) || result.truncated !== true || result.file !== RESULT_FILE || !isTaskId(id)) return result;
  try {
    return JSON.parse(await readFile(join(resultsDir, id, RESULT_FILE), 'utf8')) as unknown;
  } catch {
    return result;
  }
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
