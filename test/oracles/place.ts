/**
 * Brute-force placement: what the scheduler's CandidatePool (src/scheduler/placement/candidate-pool.ts)
 * must agree with, written the obvious way (filter and sort the whole fleet for every task). Used by
 * specs only; production places tasks through the pool and src/scheduler/pass/plan.ts.
 */
import type { Requirements } from '../../src/contracts/stored-task';
import { checkFit, chooseStrategyFor, compareFit, type StrategyChoice, workerWeight } from '../../src/scheduler/placement/place';
import type { SchedulerWeights, Strategy, WorkerView } from '../../src/scheduler/placement/types';

/** A task as brute-force placement sees it. */
export interface PlacementTask {
  id: string;
  requirements: Requirements;
  parallel: boolean;
  maxShards: number | null;
  /** Workers excluded for this attempt (the one that just failed the task). */
  excludeWorkers: string[];
}

export function isSchedulable(w: WorkerView): boolean {
  return w.status === 'IDLE' && !w.stale;
}

/** Idle, live workers that fit the task and are not excluded for this attempt, by registration order. */
export function candidatesFor(task: PlacementTask, workers: Iterable<WorkerView>): WorkerView[] {
  const excluded = new Set(task.excludeWorkers);
  return [...workers]
    .filter((w) => isSchedulable(w) && !excluded.has(w.id) && runsType(w, task.requirements.taskType) && checkFit(task.requirements, w) === null)
    .sort((a, b) => a.order - b.order);
}

/**
 * The executor rule, written out here rather than taken from checkFit: a worker that advertises
 * executors runs only those types; one that advertises none runs any type it has not refused.
 */
export function runsType(w: WorkerView, type: string | undefined): boolean {
  if (type === undefined) return true;
  if (Array.isArray(w.executors)) return w.executors.includes(type);
  return !(w.refused ?? []).includes(type);
}

/** Strategy from idle capacity versus demand, summing the candidates' weights here. */
export function chooseStrategy(input: { parallel: boolean; candidates: WorkerView[]; demand: number; weights: SchedulerWeights }): StrategyChoice {
  const available = input.candidates.reduce((sum, w) => sum + workerWeight(w, input.weights), 0);
  return chooseStrategyFor({ ...input, available, count: input.candidates.length });
}

/** The candidate the task fits most tightly (see compareFit). */
export function bestFit(req: Requirements, candidates: WorkerView[]): WorkerView {
  assertCandidates(candidates);
  const compare = compareFit(req);
  return candidates.reduce((best, w) => (compare(w, best) < 0 ? w : best));
}

/** The earliest-registered candidate. */
export function firstFit(candidates: WorkerView[]): WorkerView {
  assertCandidates(candidates);
  return candidates.reduce((first, w) => (w.order < first.order ? w : first));
}

/**
 * The worker for a task placed on one worker. `data-parallel` is accepted for the case where a
 * parallel task ends up with fewer than two shards and runs as one: it is then placed best-fit.
 */
export function pickWorker(strategy: Strategy, req: Requirements, candidates: WorkerView[]): WorkerView {
  return strategy === 'first-fit' ? firstFit(candidates) : bestFit(req, candidates);
}

function assertCandidates(candidates: WorkerView[]): void {
  if (candidates.length === 0) throw new Error('no candidates to choose from');
}
