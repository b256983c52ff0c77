import type { Logger } from '@nestjs/common';
import type { AppConfig } from '../../config/env';
import type { LeadershipService } from '../../leadership/leadership.service';
import type { MetricsService } from '../../metrics/metrics.service';
import type { FanOutRequest, SchedulerRepository } from '../scheduler.repository';
import { shardRows } from '../sharding/shard-rows';
import type { WorkerIndex } from '../worker-index';
import type { PassPlan, Planned } from './plan';
import type { PlacementCache } from './placements';
import { resolveUpstream } from './upstream';

/** What sending a plan did. */
export interface ClaimsSent {
  /** Tasks dispatched. */
  placed: number;
  /** Workers of refused claims, read again since (what the index believed of them was unknown). */
  refreshed: number;
}

/**
 * Sends what a plan decided and books the outcome: the `unschedulable` reasons, the shard rows of
 * fan-outs, then every claim in one pipeline (claim-dispatch.lua / dispatch-shards.lua, one alone
 * without). Also books the submit script's claim of a reservation (see Reservations).
 */
export class Claims {
  /** Tasks a waiting submission asked about (SchedulerService.runPassFor): task id → its worker(s) once dispatched. */
  readonly watched = new Map<string, string[] | null>();

  constructor(
    private readonly repo: SchedulerRepository,
    private readonly index: WorkerIndex,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
    private readonly leadership: LeadershipService,
    private readonly placements: PlacementCache,
    private readonly log: Logger,
    /** A dispatch reached no subscriber: dispatching pauses (PassLoop.backOff). */
    private readonly onNoSubscriber: () => void,
  ) {}

  /**
   * Sends `plan`: null when it planned no claim (only its `unschedulable` reasons were written).
   * When a write before the claims fails, the planned workers are read again and the error thrown.
   */
  async send(plan: PassPlan): Promise<ClaimsSent | null> {
    const { planned, unschedulable } = plan;
    try {
      await this.repo.setUnschedulable(unschedulable);
      if (planned.length === 0) return null;
      await this.buildShards(planned);
      await resolveUpstream(planned, this.repo, this.config.resultsDir);
    } catch (err) {
      // No claim was sent: the workers marked busy by the plan are whatever Redis says they are.
      await this.refreshAll(planned.flatMap((p) => p.workers));
      throw err;
    }
    const { nowMs } = plan;
    const cutoffIso = new Date(nowMs - this.config.heartbeatTtlSec * 1000).toISOString();
    const results = await this.repo.claim(
      planned.map((p) => p.req),
      { topic: this.config.taskTopic, cutoffIso, ackDeadlineMs: nowMs + this.config.dispatchAckTimeoutSec * 1000, nowMs, fence: this.leadership.fence },
    );
    let placed = 0;
    const refresh = new Set<string>();
    results.forEach((r, i) => {
      if (this.note(planned[i], r, refresh)) placed++;
    });
    await this.refreshAll(refresh);
    return { placed, refreshed: refresh.size };
  }

  /**
   * Books the outcome of one claim: a dispatch is counted, logged and reported to a waiting
   * submission; a refusal puts the claim's workers in `refresh` (what the index believes of them is
   * unknown) and, when nobody heard the dispatch, pauses dispatching. True when dispatched.
   */
  note(p: Planned, r: string, refresh: Set<string>): boolean {
    if (r === 'ok') {
      this.metrics.tasksDispatched.inc({ strategy: p.req.strategy });
      this.placements.forget(p.req.taskId);
      if (this.watched.has(p.req.taskId)) this.watched.set(p.req.taskId, p.workers);
      this.log.log(`dispatched ${p.name}`, { taskId: p.req.taskId, strategy: p.req.strategy, worker: p.workers.length > 1 ? p.workers : p.workers[0], reason: p.req.reason });
      return true;
    }
    p.workers.forEach((w) => refresh.add(w));
    if (r === 'failed') {
      // Its upstream references could not be resolved (claim-dispatch.lua failed it, no retry).
      this.placements.forget(p.req.taskId);
      const resolved = p.req.kind === 'single' ? p.req.resolved : undefined;
      this.log.warn(`${p.name} failed: ${resolved && 'error' in resolved ? resolved.error : 'its upstream references could not be resolved'}`, { taskId: p.req.taskId });
      return false;
    }
    this.metrics.claimsRefused.inc({ reason: r.startsWith('error:') ? 'error' : r.replace(/^worker:status .*/, 'worker:status') });
    if (r === 'no_subscriber') {
      this.log.warn(`nobody is subscribed to topic "${this.config.taskTopic}"; ${p.name} stays queued`, { taskId: p.req.taskId });
      this.onNoSubscriber();
    } else if (r === 'not_leader') {
      this.log.warn('claim refused: this instance is no longer the leader', { taskId: p.req.taskId });
    } else if (r.startsWith('error:')) {
      this.log.warn(`claim failed: ${r}`, { taskId: p.req.taskId });
    } else {
      this.log.debug(`claim refused: ${r}`, { taskId: p.req.taskId });
    }
    return false;
  }

  /** Reads the workers again (the index then holds what Redis says of them); errors are ignored. */
  async refreshAll(workers: Iterable<string>): Promise<void> {
    await Promise.all([...new Set(workers)].map((w) => this.index.refresh(w).catch(() => undefined)));
  }

  /** Carves the shard rows of the plan's fan-outs (one extra round trip, only when there are fan-outs). */
  private async buildShards(planned: Planned[]): Promise<void> {
    const fanOuts = planned.filter((p) => p.req.kind === 'shards');
    if (fanOuts.length === 0) return;
    const parents = await this.repo.shardParents(fanOuts.map((p) => p.req.taskId));
    fanOuts.forEach((p, i) => {
      (p.req as FanOutRequest).shards = shardRows(p.req.taskId, parents[i], p.workers, p.requirements);
    });
  }
}
