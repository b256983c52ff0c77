import type { Requirements } from '../../tasks/spec/task-draft';
import { checkFit, compareFit, isSchedulable, workerWeight } from './place';
import type { SchedulerWeights, WorkerView } from './types';

/**
 * The workers that fit one requirement set (minus exclusions), kept sorted both ways once per
 * pass, with the sums strategy choice needs. Workers taken by earlier tasks of the pass are
 * skipped, so placing a task costs about O(1) instead of a scan and a sort of the whole fleet.
 */
export class CandidateGroup {
  count: number;
  available: number;
  private fitNext = 0;
  private orderNext = 0;

  constructor(
    readonly byFit: WorkerView[],
    private readonly byOrder: WorkerView[],
    readonly members: Set<string>,
    private readonly taken: Set<string>,
    weights: SchedulerWeights,
  ) {
    this.count = byFit.length;
    this.available = byFit.reduce((sum, w) => sum + workerWeight(w, weights), 0);
  }

  /** The tightest fit not taken yet (best-fit). */
  best(): WorkerView | undefined {
    while (this.fitNext < this.byFit.length && this.taken.has(this.byFit[this.fitNext].id)) this.fitNext++;
    return this.byFit[this.fitNext];
  }

  /** The earliest registered not taken yet (first-fit). */
  first(): WorkerView | undefined {
    while (this.orderNext < this.byOrder.length && this.taken.has(this.byOrder[this.orderNext].id)) this.orderNext++;
    return this.byOrder[this.orderNext];
  }

  /** The `n` tightest fits not taken yet (the workers of a fan-out). */
  bestN(n: number): WorkerView[] {
    const out: WorkerView[] = [];
    for (let i = this.fitNext; i < this.byFit.length && out.length < n; i++) {
      if (!this.taken.has(this.byFit[i].id)) out.push(this.byFit[i]);
    }
    return out;
  }
}

/** The idle workers of one scheduling pass, grouped by the requirement sets of the queued tasks. */
export class CandidatePool {
  private readonly taken = new Set<string>();
  private readonly groups = new Map<string, CandidateGroup>();

  constructor(
    private readonly idle: WorkerView[],
    private readonly weights: SchedulerWeights,
  ) {}

  /** Idle workers not taken yet. */
  get free(): number {
    return this.idle.length - this.taken.size;
  }

  group(req: Requirements, exclude: string[]): CandidateGroup {
    const key = `${JSON.stringify(req)}|${exclude.join(',')}`;
    let g = this.groups.get(key);
    if (!g) {
      const excluded = new Set(exclude);
      const fits = this.idle.filter((w) => isSchedulable(w) && !excluded.has(w.id) && !this.taken.has(w.id) && checkFit(req, w) === null);
      const byOrder = [...fits].sort((a, b) => a.order - b.order);
      g = new CandidateGroup([...fits].sort(compareFit(req)), byOrder, new Set(fits.map((w) => w.id)), this.taken, this.weights);
      this.groups.set(key, g);
    }
    return g;
  }

  take(w: WorkerView) {
    if (this.taken.has(w.id)) return;
    this.taken.add(w.id);
    const weight = workerWeight(w, this.weights);
    for (const g of this.groups.values()) {
      if (!g.members.has(w.id)) continue;
      g.count--;
      g.available -= weight;
    }
  }
}
