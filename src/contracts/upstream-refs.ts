/**
 * References to upstream results in a task's spec (TASK-SPEC section 2, "Reading upstream results"):
 * `${<stage>.result.<path>}` and `${<stage>.task_id}`, where `<stage>` names a stage (pipeline) or
 * node (graph) upstream of the task in its own document. Found at submission (parse-submission
 * refuses a name that is not upstream), resolved at dispatch (the scheduler, before the claim).
 * Pure: no Redis, no Nest; never throws on any JSON input.
 */

/** What placement stores of a task whose spec references upstream results (StoredPlacement.upstream). */
export interface UpstreamRefs {
  /** Stage or node name → task id: the direct upstream and every stage a reference names. */
  tasks: Record<string, string>;
  /** The direct upstream stages (their results go to the worker in `spec._upstreamResults`). */
  direct: string[];
}

/** An upstream task as the resolver reads it: its id and its stored result (parsed JSON). */
export interface UpstreamResult {
  id: string;
  result: unknown;
}

/** One `${...}` reference as written. */
export interface Reference {
  /** The text `${prev.result.x}`. */
  text: string;
  stage: string;
  kind: 'result' | 'task_id';
  /** The path under `result` (`["a", "0"]` for `${prev.result.a.0}`); empty for the whole result or task_id. */
  path: string[];
}

/**
 * `${<stage>.task_id}` or `${<stage>.result}` or `${<stage>.result.<a>.<b>...}`. The stage name is
 * the shortest prefix followed by `.result` or `.task_id`; other `${...}` texts (`${HOME}` in a
 * shell command) are not references and are left alone.
 */
const REFERENCE = /\$\{([^{}]+?)\.(task_id|result)((?:\.[^{}.]+)*)\}/g;

/** The field of `spec` the worker reads upstream results from (the later MLOC's name). */
export const UPSTREAM_RESULTS_FIELD = '_upstreamResults';

function toReference(text: string, stage: string, kind: string, path: string | undefined): Reference {
  return { text, stage, kind: kind as Reference['kind'], path: path ? path.slice(1).split('.') : [] };
}

/** The references in one string (none: []). */
export function referencesIn(text: string): Reference[] {
  if (!text.includes('${')) return [];
  return [...text.matchAll(REFERENCE)].map((m) => toReference(m[0], m[1], m[2], m[3]));
}

/** Every reference in a JSON value, with the path of the string that holds it, in document order. Iterative. */
export function findReferences(value: unknown, base: (string | number)[] = []): { path: (string | number)[]; ref: Reference }[] {
  const out: { path: (string | number)[]; ref: Reference }[] = [];
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: base }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') for (const ref of referencesIn(v)) out.push({ path, ref });
    else if (Array.isArray(v)) for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: [...path, i] });
    else if (isObject(v)) for (const k of Object.keys(v).reverse()) stack.push({ v: v[k], path: [...path, k] });
  }
  return out;
}

export type Resolution = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Replaces every reference in the strings of `value` (in a copy; `value` is not changed): a string
 * that is exactly one reference takes the referenced value with its type; a reference inside other
 * text is replaced by the value's text (a string as is, anything else as JSON). A reference that
 * cannot be resolved gives the error `${prev.result.x}: prev's result has no "x"`.
 */
export function resolveReferences(value: unknown, upstream: Record<string, UpstreamResult>): Resolution {
  try {
    return { ok: true, value: walk(value, upstream) };
  } catch (err) {
    if (err instanceof Unresolved) return { ok: false, error: err.message };
    return { ok: false, error: `upstream references could not be resolved: ${err instanceof Error ? err.message : String(err)}` };
  }
}

class Unresolved extends Error {}

/** Iterative copy with every string resolved (nesting is bounded at submission, but a walk should not depend on it). */
function walk(value: unknown, upstream: Record<string, UpstreamResult>): unknown {
  const root: { v: unknown } = { v: value };
  const stack: { from: unknown; into: Record<string | number, unknown>; key: string | number }[] = [{ from: value, into: root as Record<string, unknown>, key: 'v' }];
  while (stack.length > 0) {
    const { from, into, key } = stack.pop()!;
    if (typeof from === 'string') into[key] = resolveString(from, upstream);
    else if (Array.isArray(from)) {
      const copy: unknown[] = new Array<unknown>(from.length);
      into[key] = copy;
      for (let i = 0; i < from.length; i++) stack.push({ from: from[i], into: copy as unknown as Record<number, unknown>, key: i });
    } else if (isObject(from)) {
      const copy: Record<string, unknown> = {};
      into[key] = copy;
      for (const k of Object.keys(from)) {
        // Defined as an own property: a "__proto__" key stays a plain key of the copy.
        Object.defineProperty(copy, k, { value: undefined, writable: true, enumerable: true, configurable: true });
        stack.push({ from: from[k], into: copy, key: k });
      }
    } else into[key] = from;
  }
  return root.v;
}

function resolveString(text: string, upstream: Record<string, UpstreamResult>): unknown {
  const refs = referencesIn(text);
  if (refs.length === 0) return text;
  if (refs.length === 1 && refs[0].text === text) return lookup(refs[0], upstream);
  // One pass over the text: a value put in is never read again as a reference.
  return text.replace(REFERENCE, (whole: string, stage: string, kind: string, path: string | undefined) => {
    const v = lookup(toReference(whole, stage, kind, path), upstream);
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null');
  });
}

function lookup(ref: Reference, upstream: Record<string, UpstreamResult>): unknown {
  const up = Object.hasOwn(upstream, ref.stage) ? upstream[ref.stage] : undefined;
  if (!up) throw new Unresolved(`${ref.text}: "${ref.stage}" is not a stage upstream of this task`);
  if (ref.kind === 'task_id') return up.id;
  let cur: unknown = up.result;
  for (let i = 0; i < ref.path.length; i++) {
    const next = child(cur, ref.path[i]);
    if (next === undefined) throw new Unresolved(`${ref.text}: ${ref.stage}'s result has no "${ref.path.slice(0, i + 1).join('.')}"`);
    cur = next;
  }
  return cur;
}

/** `value[key]` for an own key of an object, or an index of a list; undefined when there is none. */
function child(value: unknown, key: string): unknown {
  if (Array.isArray(value)) return /^(0|[1-9]\d*)$/.test(key) && Number(key) < value.length ? value[Number(key)] : undefined;
  if (isObject(value)) return Object.hasOwn(value, key) ? value[key] : undefined;
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
