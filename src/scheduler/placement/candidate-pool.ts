import type { Requirements } from '../../contracts/stored-task';
import { checkFit, compareFit, workerWeight } from './place';
import type { SchedulerWeights, WorkerView } from './types';

/** Groups not used for this long are dropped (they cost upkeep on every worker change). */
const GROUP_IDLE_TTL_MS = 60_000;
/** At most this many groups are kept; the least recently used goes first. */
const MAX_GROUPS = 256;

/** Binary search: the index of the first element of `arr` not ordered before `w`. */
function lowerBound(arr: WorkerView[], w: WorkerView, cmp: (a: WorkerView, b: WorkerView) => number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(arr[mid], w) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const byOrder = (a: WorkerView, b: WorkerView) => a.order - b.order;

/**
 * The schedulable workers that fit one requirement set, kept sorted both ways (tightest fit first;
 * earliest registered first), with the sums the strategy choice needs. Built with one sort when a
 * requirement set is first seen, then updated by binary insertion and removal as workers become
 * idle or busy, so that placing a task costs O(log n) however large the fleet is.
 */
export class CandidateGroup {
  private readonly byFit: WorkerView[];
  private readonly byOrder: WorkerView[];
  private readonly ids = new Set<string>();
  private readonly cmp: (a: WorkerView, b: WorkerView) => number;
  /** Sum of the members' weights (CPU_ONLY_WEIGHT / GPU_WEIGHT). */
  private weightSum = 0;
  lastUsedMs = 0;

  constructor(
    readonly req: Requirements,
    members: Iterable<WorkerView>,
    private readonly weights: SchedulerWeights,
  ) {
    this.cmp = compareFit(req);
    const fits = [...members].filter((w) => checkFit(req, w) === null);
    this.byFit = [...fits].sort(this.cmp);
    this.byOrder = fits.sort(byOrder);
    for (const w of fits) {
      this.ids.add(w.id);
      this.weightSum += workerWeight(w, weights);
    }
  }

  /** Candidates, not counting `exclude` (the worker a retried task just failed on). */
  count(exclude?: string): number {
    return this.ids.size - (exclude !== undefined && this.ids.has(exclude) ? 1 : 0);
  }

  /** Summed weights of the candidates, not counting `exclude`. */
  available(exclude?: string): number {
    if (exclude === undefined || !this.ids.has(exclude)) return this.weightSum;
    const w = this.byOrder.find((v) => v.id === exclude)!;
    return this.weightSum - workerWeight(w, this.weights);
  }

  /** The tightest fit (best-fit). */
  best(exclude?: string): WorkerView | undefined {
    return this.byFit[0]?.id === exclude ? this.byFit[1] : this.byFit[0];
  }

  /** The earliest registered (first-fit). */
  first(exclude?: string): WorkerView | undefined {
    return this.byOrder[0]?.id === exclude ? this.byOrder[1] : this.byOrder[0];
  }

  /** The `n` tightest fits (the workers of a fan-out). */
  bestN(n: number, exclude?: string): WorkerView[] {
    const out: WorkerView[] = [];
    for (let i = 0; i < this.byFit.length && out.length < n; i++) {
      if (this.byFit[i].id !== exclude) out.push(this.byFit[i]);
    }
    return out;
  }

  /** Adds `w` if it fits (`w` must not be a member). */
  add(w: WorkerView): void {
    if (checkFit(this.req, w) !== null) return;
    this.byFit.splice(lowerBound(this.byFit, w, this.cmp), 0, w);
    this.byOrder.splice(lowerBound(this.byOrder, w, byOrder), 0, w);
    this.ids.add(w.id);
    this.weightSum += workerWeight(w, this.weights);
  }

  /** Removes `w`, the very view that was added (the sort keys must not have changed since). */
  remove(w: WorkerView): void {
    if (!this.ids.delete(w.id)) return;
    removeSorted(this.byFit, w, this.cmp);
    removeSorted(this.byOrder, w, byOrder);
    this.weightSum -= workerWeight(w, this.weights);
  }

  /** Removes worker `id` by a scan, whatever view of it the group holds. */
  purge(id: string): void {
    this.ids.delete(id);
    removeId(this.byFit, id);
    const w = removeId(this.byOrder, id);
    if (w) this.weightSum -= workerWeight(w, this.weights);
  }
}

/** Removes every view of worker `id` from `arr`, wherever it is (a linear scan). */
function removeId(arr: WorkerView[], id: string): WorkerView | undefined {
  let found: WorkerView | undefined;
  for (let i = arr.length - 1; i >= 0; i--) {
    if (arr[i].id === id) found = arr.splice(i, 1)[0];
  }
  return found;
}

function removeSorted(arr: WorkerView[], w: WorkerView, cmp: (a: WorkerView, b: WorkerView) => number) {
  const i = lowerBound(arr, w, cmp);
  if (arr[i] === w) arr.splice(i, 1);
  else {
    // Not where the order says (a view mutated in place): fall back to a scan, never corrupt.
    const j = arr.indexOf(w);
    if (j >= 0) arr.splice(j, 1);
  }
}

/**
 * The schedulable workers (idle and live), kept between scheduling passes and grouped by the
 * requirement sets of the tasks being placed. The worker index adds a worker when it becomes
 * schedulable and removes it when it stops being so (dispatched, busy, stale, suspect, gone), and
 * every group follows. A pass therefore never walks or sorts the fleet: its cost depends on the
 * tasks it places, not on the number of workers.
 *
 * A WorkerView must not change its hardware fields (cores, memory, GPUs, tags, order) while it is
 * in the pool: a changed worker comes back as a new view (remove the old one, add the new).
 */
export class CandidatePool {
  private readonly members = new Map<string, WorkerView>();
  private readonly groups = new Map<string, CandidateGroup>();

  constructor(private readonly weights: SchedulerWeights) {}

  /** Schedulable workers. */
  get size(): number {
    return this.members.size;
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  values(): IterableIterator<WorkerView> {
    return this.members.values();
  }

  /** `w` is schedulable (a no-op when that very view is already in). */
  add(w: WorkerView): void {
    const prev = this.members.get(w.id);
    if (prev === w) return;
    if (prev) this.remove(prev.id);
    this.members.set(w.id, w);
    for (const g of this.groups.values()) g.add(w);
  }

  /** The worker is not schedulable any more. */
  remove(id: string): void {
    const w = this.members.get(id);
    if (!w) return;
    this.members.delete(id);
    for (const g of this.groups.values()) g.remove(w);
  }

  /**
   * Takes worker `id` out of the pool and of every group by a scan, whatever view of it they hold.
   * The scheduler calls it when a worker it was offered turns out not to be schedulable, so that
   * it can never be offered again even if the pool and a group disagreed about it.
   */
  purge(id: string): void {
    this.members.delete(id);
    for (const g of this.groups.values()) g.purge(id);
  }

  /** The group of requirement set `req`, built on first use and kept up to date from then on. */
  group(req: Requirements, nowMs: number): CandidateGroup {
    const key = JSON.stringify(req);
    let g = this.groups.get(key);
    // Most recently used last, so that eviction takes the first.
    if (g) this.groups.delete(key);
    this.evict(nowMs);
    g ??= new CandidateGroup(req, this.members.values(), this.weights);
    g.lastUsedMs = nowMs;
    this.groups.set(key, g);
    return g;
  }

  private evict(nowMs: number) {
    for (const [key, g] of this.groups) {
      if (this.groups.size < MAX_GROUPS && nowMs - g.lastUsedMs < GROUP_IDLE_TTL_MS) break;
      this.groups.delete(key);
    }
  }

  /** Requirement sets with a group (for tests and diagnostics). */
  get groupCount(): number {
    return this.groups.size;
  }
}
