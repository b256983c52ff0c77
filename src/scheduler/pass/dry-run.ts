/**
 * `POST /api/v1/tasks?dryRun=true` (issue 13): where each task of a submission would go now, or why
 * no registered worker ever could, planned by the same planTask a pass uses, on a copy of the idle
 * workers (nothing is claimed, nothing is written). Pure: no Nest, no Redis, no clock.
 */
import type { StoredPlacement } from '../../contracts/stored-task';
import { CandidatePool } from '../placement/candidate-pool';
import { unschedulableReason } from '../placement/place';
import type { SchedulerWeights, Strategy, WorkerView } from '../placement/types';
import { type Fleet, newPlan, planTask } from './plan';

export interface DryRunTask {
  id: string;
  name: string;
  placement: StoredPlacement;
  /** It waits on other tasks (of this submission or earlier ones) before it can be placed. */
  waits: boolean;
}

export interface DryRunPlacement {
  /**
   * `dispatch`: an idle worker would take it now; `queue`: it would wait for a busy (or drained)
   * worker that fits; `wait`: it waits on dependencies first; `unschedulable`: no registered worker fits.
   */
  outcome: 'dispatch' | 'queue' | 'wait' | 'unschedulable';
  strategy: Strategy | null;
  /** Why this strategy (ratio of idle capacity to demand), as the record would say. */
  reason: string | null;
  /** The worker(s) it would go to now (several for a data-parallel fan-out). */
  workers: string[];
  /** Why no registered worker could ever run it; null when one could. */
  unschedulable: string | null;
}

/**
 * Plans `tasks` in order over a copy of `idle` (each task placed takes its workers, as in a pass).
 * `registered`: every registered worker, busy and stale ones too, for the unschedulable reasons.
 */
export function dryRunPlan(registered: WorkerView[], idle: Iterable<WorkerView>, tasks: DryRunTask[], policy: SchedulerWeights, nowMs: number): DryRunPlacement[] {
  const pool = new CandidatePool(policy);
  for (const w of idle) pool.add(w);
  const fleet: Fleet = { confirm: (id) => pool.has(id), markBusy: (id) => pool.remove(id), snapshot: () => registered };
  const ready = tasks.filter((t) => !t.waits).length;
  const plan = newPlan(fleet, pool, policy, nowMs, ready);
  const why = unschedulableReasons(
    registered,
    tasks.map((t) => t.placement),
  );
  return tasks.map((t, i): DryRunPlacement => {
    const unschedulable = why[i];
    const none = { strategy: null, reason: null, workers: [], unschedulable };
    if (unschedulable !== null) return { outcome: 'unschedulable', ...none };
    if (t.waits) return { outcome: 'wait', ...none };
    const before = plan.planned.length;
    if (!planTask(plan, { id: t.id, exclude: null, unschedulable: null, name: t.name }, t.placement)) return { outcome: 'queue', ...none };
    const p = plan.planned[before];
    return { outcome: 'dispatch', strategy: p.req.strategy as Strategy, reason: p.req.reason, workers: p.workers, unschedulable: null };
  });
}

/** Why no registered worker could ever run each placement (null when one could); one fleet scan per requirement set. */
export function unschedulableReasons(registered: WorkerView[], placements: StoredPlacement[]): (string | null)[] {
  const reasons = new Map<string, string | null>();
  return placements.map((p) => {
    const key = JSON.stringify(p.requirements);
    if (!reasons.has(key)) reasons.set(key, unschedulableReason(p.requirements, registered));
    return reasons.get(key) ?? null;
  });
}
