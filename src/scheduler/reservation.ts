import type { AppConfig } from '../config/env';
import type { DirectDispatch } from '../contracts/stored-task';
import type { LeadershipService } from '../leadership/leadership.service';
import type { MetricsService } from '../metrics/metrics.service';
import type { Claims } from './pass/claims';
import type { PassLoop } from './pass/pass-loop';
import { newPlan, type Planned, planTask } from './pass/plan';
import type { PlacementCache } from './pass/placements';
import type { WorkerIndex } from './worker-index';

/** Why a submit script did not try to dispatch a reserved task (submit-tasks.lua). */
const NOT_TRIED = new Set(['not_created', 'not_ready', 'queue_not_empty']);

/** A worker chosen for a task before it exists (SchedulerService.reserveFor). */
export interface Reservation {
  planned: Planned;
  nowMs: number;
  fence: string;
  dispatch: DirectDispatch;
}

/**
 * Submit-time reservations: the worker of a one-task submission chosen from memory, as a pass would
 * choose it (planTask), so that the submit script can dispatch the task in the same step.
 */
export class Reservations {
  constructor(
    private readonly loop: PassLoop,
    private readonly claims: Claims,
    private readonly placements: PlacementCache,
    private readonly index: WorkerIndex,
    private readonly leadership: LeadershipService,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
  ) {}

  /** See SchedulerService.reserveFor. */
  reserve(task: { id: string; req: string; name: string }): Reservation | null {
    const nowMs = Date.now();
    if (!this.loop.placing(nowMs)) return null;
    const placement = this.placements.of(task.id, task.req);
    if (!placement || placement.parallel) return null;
    const pool = this.index.schedulable(nowMs);
    if (pool.size === 0) return null;
    const placeStart = performance.now();
    const plan = newPlan(this.index, pool, this.config.scheduler, nowMs, 1);
    if (!planTask(plan, { id: task.id, exclude: null, unschedulable: null, name: task.name }, placement)) return null;
    this.metrics.placementSeconds.observe((performance.now() - placeStart) / 1000);
    const p = plan.planned[0];
    if (p.req.kind !== 'single') {
      // Not expected without `parallel`; give the workers back and let a pass fan it out.
      void this.claims.refreshAll(p.workers);
      return null;
    }
    return {
      planned: p,
      nowMs,
      fence: this.leadership.fence,
      dispatch: {
        id: task.id,
        worker: p.req.workerId,
        topic: this.config.taskTopic,
        strategy: p.req.strategy,
        reason: p.req.reason,
        cutoff: new Date(nowMs - this.config.heartbeatTtlSec * 1000).toISOString(),
        ack_deadline_ms: nowMs + this.config.dispatchAckTimeoutSec * 1000,
      },
    };
  }

  /** See SchedulerService.settleReservation. */
  async settle(r: Reservation, result: string): Promise<boolean> {
    // The script did not try the claim: nothing to count, only the worker to give back.
    if (NOT_TRIED.has(result)) {
      await this.claims.refreshAll(r.planned.workers);
      return false;
    }
    const refresh = new Set<string>();
    if (this.claims.note(r.planned, result, refresh)) {
      this.metrics.submitDispatches.inc();
      return true;
    }
    await this.claims.refreshAll(refresh);
    return false;
  }
}
