/**
 * Placement (TASK-SPEC section 4): which workers can run a task, why none ever will, which strategy
 * to use given the idle capacity, and how tightly a task fits a worker (the order CandidatePool keeps).
 * Pure functions over WorkerViews: no Redis, no Nest. Picking the worker is CandidateGroup's
 * (best/first/bestN); test/oracles/place.ts holds the brute-force versions the specs compare it with.
 */
import type { Requirements } from '../../contracts/stored-task';
import type { SchedulerWeights, Strategy, WorkerView } from './types';

/** How many workers `unschedulableReason` lists before summarising the rest. */
const MAX_LISTED_WORKERS = 5;

/**
 * Ratios are sums of fractional weights (0.6 × 3 = 1.7999999999999998), so the
 * threshold comparisons allow for floating-point error: a ratio that is exactly
 * the threshold on paper must count as reaching it.
 */
const RATIO_EPSILON = 1e-9;

// ---------------------------------------------------------------------------
// Fit

/** null when `w` can run a task with these requirements, else the first reason it cannot. */
export function checkFit(req: Requirements, w: WorkerView): string | null {
  return checkExecutor(req, w) ?? checkCores(req, w) ?? checkMemory(req, w) ?? checkGpus(req, w) ?? checkEnforceCpu(req, w) ?? checkTags(req, w);
}

/**
 * A worker that advertises its executors runs only those task types; one that advertises none (the
 * v1 fleet) runs every type, except those it reported it has no executor for (WorkerView.refused).
 */
export function checkExecutor(req: Requirements, w: WorkerView): string | null {
  const type = req.taskType;
  if (type === undefined) return null;
  if (w.executors && !w.executors.includes(type)) return `no executor for task type "${type}" (advertises: ${w.executors.join(', ') || 'none'})`;
  if (w.refused?.includes(type)) return `reported it has no executor for task type "${type}"`;
  return null;
}

function checkCores(req: Requirements, w: WorkerView): string | null {
  if (w.cores === null || w.cores >= req.cpu) return null;
  return `needs ${req.cpu} cores, has ${w.cores}`;
}

function checkMemory(req: Requirements, w: WorkerView): string | null {
  if (w.memoryBytes === null || w.memoryBytes >= req.memoryBytes) return null;
  return `needs ${formatBytes(req.memoryBytes)} memory, has ${formatBytes(w.memoryBytes)}`;
}

function checkGpus(req: Requirements, w: WorkerView): string | null {
  const gpu = req.gpu;
  if (!gpu) return null;
  const matching = matchingGpus(req, w).length;
  if (matching >= gpu.count) return null;
  const type = gpu.type.toLowerCase() === 'any' ? '' : ` matching "${gpu.type}"`;
  const memory = gpu.memoryBytes === null ? '' : ` with >= ${formatBytes(gpu.memoryBytes)}`;
  return `needs ${gpu.count} GPU(s)${type}${memory}, has ${matching}`;
}

/**
 * The worker's GPUs that satisfy the task's GPU type and per-GPU memory.
 * A GPU whose memory is unknown is not held to the memory requirement.
 */
function matchingGpus(req: Requirements, w: WorkerView): WorkerView['gpus'] {
  const gpu = req.gpu;
  if (!gpu) return [];
  const type = gpu.type.toLowerCase();
  return w.gpus.filter((g) => (type === 'any' || g.name.toLowerCase().includes(type)) && (gpu.memoryBytes === null || g.memoryBytes === null || g.memoryBytes >= gpu.memoryBytes));
}

function checkEnforceCpu(req: Requirements, w: WorkerView): string | null {
  return req.enforceCpu && w.gpus.length > 0 ? 'enforce_cpu: worker has GPUs' : null;
}

/** Tags are compared case-sensitively, as workers report them. */
function checkTags(req: Requirements, w: WorkerView): string | null {
  const missing = req.tags.filter((t) => !w.tags.includes(t));
  return missing.length === 0 ? null : `missing tags: ${missing.join(', ')}`;
}

/** `1073741824` → `1 GiB`, `1610612736` → `1.5 GiB`: binary units, at most two decimals. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toFixed(2))} ${units[unit]}`;
}

// ---------------------------------------------------------------------------
// Who could ever run it

/**
 * null when some registered, live worker (busy or not) could run the task,
 * which means it only has to wait; otherwise why no worker ever will.
 */
export function unschedulableReason(req: Requirements, allRegistered: Iterable<WorkerView>): string | null {
  const registered = [...allRegistered];
  if (registered.length === 0) return 'no workers registered';
  const live = registered.filter((w) => !w.stale).sort(byOrder);
  if (live.length === 0) return `no live workers registered (${registered.length} stale)`;

  if (live.every((w) => checkExecutor(req, w) !== null)) return noExecutorReason(req.taskType!, live);
  const misfits: string[] = [];
  for (const w of live) {
    const reason = checkFit(req, w);
    if (reason === null) return null;
    misfits.push(`${w.id}: ${reason}`);
  }
  const listed = misfits.slice(0, MAX_LISTED_WORKERS);
  const rest = misfits.length - listed.length;
  return `no registered worker fits: ${listed.join('; ')}${rest > 0 ? `; and ${rest} more` : ''}`;
}

/** `no registered worker runs task type "rag" (workers advertise: echo, inference, command)`. */
function noExecutorReason(type: string, live: WorkerView[]): string {
  const advertised = [...new Set(live.flatMap((w) => w.executors ?? []))];
  const refused = live.filter((w) => !w.executors).map((w) => w.id);
  const listed = refused.slice(0, MAX_LISTED_WORKERS).join(', ') + (refused.length > MAX_LISTED_WORKERS ? ` and ${refused.length - MAX_LISTED_WORKERS} more` : '');
  const parts = [advertised.length > 0 ? `workers advertise: ${advertised.join(', ')}` : '', refused.length > 0 ? `reported having none: ${listed}` : ''];
  return `no registered worker runs task type ${JSON.stringify(type)} (${parts.filter(Boolean).join('; ')})`;
}

// ---------------------------------------------------------------------------
// Strategy

export function workerWeight(w: WorkerView, weights: SchedulerWeights): number {
  return w.gpus.length > 0 ? weights.gpuWeight : weights.cpuOnlyWeight;
}

export interface StrategyChoice {
  strategy: Strategy;
  /** Human-readable, with the numbers, recorded on the task. */
  reason: string;
  ratio: number;
}

/**
 * Strategy from idle capacity versus demand (TASK-SPEC 4): `available` is the summed weights of the
 * `count` candidates (CandidateGroup keeps both per requirement set).
 */
export function chooseStrategyFor(input: { parallel: boolean; available: number; count: number; demand: number; weights: SchedulerWeights }): StrategyChoice {
  const { parallel, available, weights } = input;
  const demand = Math.max(1, input.demand);
  const ratio = available / demand;
  const high = formatThreshold(weights.highAvailRatio);
  const low = formatThreshold(weights.lowAvailRatio);
  const n = input.count;
  const base = `ratio ${ratio.toFixed(2)} = available ${available.toFixed(2)} / demand ${demand}`;

  const isHigh = ratio >= weights.highAvailRatio - RATIO_EPSILON;
  if (parallel && isHigh && n >= 2) {
    return { strategy: 'data-parallel', ratio, reason: `${base} >= ${high} with ${n} candidates` };
  }
  if (ratio <= weights.lowAvailRatio + RATIO_EPSILON) {
    return { strategy: 'first-fit', ratio, reason: `${base} <= ${low}` };
  }
  let why = `between ${low} and ${high}`;
  if (isHigh) why = parallel ? `>= ${high} but only ${n} candidate(s)` : `>= ${high} but the task is not parallel`;
  return { strategy: 'best-fit', ratio, reason: `${base} ${why}` };
}

/** `2` → `2.0`, `0.6` → `0.6`: thresholds read like the documented defaults. */
function formatThreshold(value: number): string {
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

// ---------------------------------------------------------------------------
// Fit order (CandidateGroup keeps its candidates in it: best-fit is the first)

/**
 * Orders candidates by how tightly the task fits them, tightest first: spare
 * GPUs, then GPU memory, then memory, then cores, then registration order.
 * Keeping loose fits for last leaves big GPU machines free for tasks that need them.
 */
export function compareFit(req: Requirements): (a: WorkerView, b: WorkerView) => number {
  return (a, b) =>
    compareNumbers(spareGpus(req, a), spareGpus(req, b)) ||
    compareNumbers(totalGpuMemory(a), totalGpuMemory(b)) ||
    compareNumbers(spareMemory(req, a), spareMemory(req, b)) ||
    compareNumbers(spareCores(req, a), spareCores(req, b)) ||
    a.order - b.order;
}

function spareGpus(req: Requirements, w: WorkerView): number {
  return w.gpus.length - (req.gpu?.count ?? 0);
}

/**
 * Every candidate must host the same requested GPU memory, so comparing the
 * worker's total GPU memory orders candidates exactly as spare GPU memory does.
 * Unknown memory counts as 0.
 */
function totalGpuMemory(w: WorkerView): number {
  return w.gpus.reduce((sum, g) => sum + (g.memoryBytes ?? 0), 0);
}

/** Unknown memory sorts last, so that a known tight fit wins over a guess. */
function spareMemory(req: Requirements, w: WorkerView): number {
  return w.memoryBytes === null ? Infinity : w.memoryBytes - req.memoryBytes;
}

function spareCores(req: Requirements, w: WorkerView): number {
  return w.cores === null ? Infinity : w.cores - req.cpu;
}

/** Safe with Infinity, where subtraction would give NaN. */
function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byOrder(a: WorkerView, b: WorkerView): number {
  return a.order - b.order;
}
