/**
 * Data-parallel sharding (TASK-SPEC section 5): how many shards, what slice of
 * the data each shard gets, and how the shards' results are merged back.
 * Pure functions: no Redis, no Nest.
 */
import type { TaskDocument } from '../../contracts/stored-task';
import { assertShardIndex, carveList, chunkBounds } from '../../contracts/shard-slices';

/**
 * `max(replicas, min(candidates, maxShards ?? maxAutoShards))`, never more than
 * the number of candidates. The caller runs the task unsharded when this is < 2.
 */
export function shardCount(replicas: number, candidates: number, maxShards: number | null, maxAutoShards: number): number {
  const wanted = Math.max(replicas, Math.min(candidates, maxShards ?? maxAutoShards));
  return Math.max(0, Math.min(candidates, wanted));
}

export { carveList, chunkBounds } from '../../contracts/shard-slices';

// ---------------------------------------------------------------------------
// Split expressions: `name`, `name[a:b]`, `name[a%:b%]` with either end optional.

/**
 * Percentages are handled as integer millionths of a percent, so boundaries
 * such as 10 + 2.5 × 1 are exact and format with at most six decimals.
 */
const MICROS_PER_PERCENT = 1_000_000;
const HUNDRED_PERCENT = 100 * MICROS_PER_PERCENT;

const SPLIT_RE = /^([A-Za-z0-9_.-]+)(?:\[\s*([^\]:]*?)\s*:\s*([^\]:]*?)\s*\])?$/;
const PERCENT_RE = /^(\d+(?:\.\d*)?|\.\d+)%$/;
const ABSOLUTE_RE = /^\d+$/;

type SplitRange =
  | { name: string; kind: 'percent'; start: number; end: number } // millionths of a percent
  | { name: string; kind: 'absolute'; start: number; end: number };

/**
 * Slice `index` of `total` of a split expression (TASK-SPEC 5 table):
 * `train[:1%]` over 2 → `train[0%:0.5%]`, `train[0.5%:1%]`; `train` means 0%–100%;
 * `train[:100]` over 3 → `train[0:34]`, `train[34:67]`, `train[67:100]`.
 * A split that cannot be carved (unparseable, mixed units, an absolute range
 * without an end, ...) is returned unchanged: the worker then relies on `spec.shard`.
 */
export function carveSplit(split: string, index: number, total: number): string {
  assertShardIndex(index, total);
  const range = parseSplit(split);
  if (!range) return split;
  if (range.kind === 'absolute') {
    const [from, to] = chunkBounds(range.end - range.start, index, total);
    return `${range.name}[${range.start + from}:${range.start + to}]`;
  }
  const width = range.end - range.start;
  const from = range.start + Math.round((width * index) / total);
  const to = range.start + Math.round((width * (index + 1)) / total);
  return `${range.name}[${formatPercent(from)}:${formatPercent(to)}]`;
}

function parseSplit(split: string): SplitRange | null {
  const m = SPLIT_RE.exec(split.trim());
  if (!m) return null;
  const [, name, rawStart, rawEnd] = m;
  if (rawStart === undefined) return { name, kind: 'percent', start: 0, end: HUNDRED_PERCENT };

  const isPercent = (s: string) => PERCENT_RE.test(s);
  const isAbsolute = (s: string) => ABSOLUTE_RE.test(s);
  const kindOf = (s: string) => (s === '' ? 'open' : isPercent(s) ? 'percent' : isAbsolute(s) ? 'absolute' : 'invalid');
  const kinds = new Set([kindOf(rawStart), kindOf(rawEnd)]);
  kinds.delete('open');
  if (kinds.has('invalid') || kinds.size > 1) return null;

  if (kinds.has('absolute')) {
    // Without an end we do not know the dataset's length, so there is nothing to cut.
    if (rawEnd === '') return null;
    const start = rawStart === '' ? 0 : Number(rawStart);
    const end = Number(rawEnd);
    return start <= end ? { name, kind: 'absolute', start, end } : null;
  }
  // Percent, or `[:]` which is the whole split.
  const start = rawStart === '' ? 0 : parsePercent(rawStart);
  const end = rawEnd === '' ? HUNDRED_PERCENT : parsePercent(rawEnd);
  return start <= end && end <= HUNDRED_PERCENT ? { name, kind: 'percent', start, end } : null;
}

function parsePercent(text: string): number {
  return Math.round(parseFloat(text.slice(0, -1)) * MICROS_PER_PERCENT);
}

function formatPercent(micros: number): string {
  const whole = Math.floor(micros / MICROS_PER_PERCENT);
  const fraction = String(micros % MICROS_PER_PERCENT)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}%` : `${whole}%`;
}

// ---------------------------------------------------------------------------
// Child documents

/**
 * The document of shard `index` of `total`: a deep copy with `spec.shard` set
 * and the inline data (`spec.data.split`, `spec.data.items`, `spec.data.prompts`) carved.
 * `spec.parallel` is removed so that a shard, if it is ever re-submitted or
 * re-planned, can never fan out again.
 */
export function shardDocument(doc: TaskDocument, index: number, total: number, parentTaskId: string): TaskDocument {
  assertShardIndex(index, total);
  const child = structuredClone(doc);
  child.spec.shard = { index, total, parent_task_id: parentTaskId };
  delete child.spec.parallel;

  const data = child.spec.data;
  if (isPlainObject(data)) {
    if (typeof data.split === 'string') data.split = carveSplit(data.split, index, total);
    const lists = (['items', 'prompts'] as const).filter((k) => Array.isArray(data[k]));
    for (const k of lists) data[k] = carveList(data[k] as unknown[], index, total);
    // Tells a worker that the inline lists already hold only this shard's chunk, so it must not
    // cut them again (a worker fed by an orchestrator that does not carve them does it itself).
    if (lists.length) (child.spec.shard as Record<string, unknown>).carved = true;
  }
  return child;
}

// ---------------------------------------------------------------------------
// Aggregation

/** Usage counters as workers report them: numbers, possibly grouped in nested objects. */
export interface UsageCounters {
  [counter: string]: number | UsageCounters;
}

export interface AggregatedShardResults {
  /** Every shard's result as reported, in shard order. */
  shards: unknown[];
  merged: { items: unknown[]; usage: UsageCounters; model?: unknown } & Record<string, unknown>;
}

/**
 * The parent's result from its shards' results (given in shard order):
 * `items` concatenated in order, numeric `usage` counters summed (recursively
 * through nested objects), and the first non-empty `model`. A result that is
 * not an object is kept in `shards` but contributes nothing to `merged`.
 */
export function aggregateShardResults(results: unknown[]): AggregatedShardResults {
  const merged: AggregatedShardResults['merged'] = { items: [], usage: {} };
  for (const result of results) {
    if (!isPlainObject(result)) continue;
    if (Array.isArray(result.items)) merged.items.push(...result.items);
    if (isPlainObject(result.usage)) addUsage(merged.usage, result.usage);
    if (merged.model === undefined && isNonEmpty(result.model)) merged.model = result.model;
  }
  return { shards: [...results], merged };
}

/**
 * Adds `source`'s counters into `target`. The first shard to report a counter
 * fixes its shape: a number where `target` holds an object (or the reverse) is skipped.
 */
function addUsage(target: UsageCounters, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const current = target[key];
    if (typeof value === 'number' && Number.isFinite(value)) {
      if (current === undefined) target[key] = value;
      else if (typeof current === 'number') target[key] = current + value;
    } else if (isPlainObject(value)) {
      if (current === undefined) target[key] = {};
      const nested = target[key];
      if (typeof nested === 'object') addUsage(nested, value);
    }
  }
}

function isNonEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (isPlainObject(value)) return Object.keys(value).length > 0;
  return true;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
