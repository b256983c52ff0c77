import { Injectable } from '@nestjs/common';
import { SchedulerRepository } from './scheduler.repository';

/**
 * The scheduler module's door to the recovery scripts, for the liveness checks (LivenessService):
 * delayed retries, unacknowledged dispatches, reports lost while no orchestrator listened, attempts a
 * worker gave up, and who holds what. Thin: each call is one repository call, nothing more.
 */
@Injectable()
export class RecoveryService {
  constructor(private readonly repo: SchedulerRepository) {}

  /** Queues the retries whose backoff is over; returns how many. */
  promoteDelayed(nowMs: number, fence: string): Promise<number> {
    return this.repo.promoteDelayed(nowMs, fence);
  }

  /** Takes back dispatches not acknowledged in time: [taskId, workerId, outcome] each. */
  expireUnacked(nowMs: number, backoffCapSec: number, ackTimeoutSec: number, fence: string): Promise<[string, string, string][]> {
    return this.repo.expireUnacked(nowMs, backoffCapSec, ackTimeoutSec, fence);
  }

  /** RUNNING tasks whose worker shows IDLE with extra_last_task = the task (see reconcile-finished.lua). */
  finishedWhileAway(): Promise<string[]> {
    return this.repo.finishedWhileAway();
  }

  reconcileFinished(taskId: string, backoffCapSec: number, nowMs: number, fence: string): Promise<string> {
    return this.repo.reconcileFinished(taskId, backoffCapSec, nowMs, fence);
  }

  /** See SchedulerRepository.releaseHeldTask: 'requeued:<retry|failed>', 'not_held', 'kept:<why>', ... */
  releaseHeldTask(workerId: string, taskId: string, why: 'register' | 'idle', backoffCapSec: number, nowMs: number, fence: string): Promise<string> {
    return this.repo.releaseHeldTask(workerId, taskId, why, backoffCapSec, nowMs, fence);
  }

  /** Workers holding in-flight tasks: the only ones whose death costs us a task. */
  inflightWorkers(): Promise<{ taskId: string; workerId: string }[]> {
    return this.repo.inflightWorkers();
  }
}
