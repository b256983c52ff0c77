import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { LeadershipService } from '../leadership/leadership.service';
import { MetricsService } from '../metrics/metrics.service';
import { Claims } from './pass/claims';
import { PassLoop } from './pass/pass-loop';
import { PlacementCache } from './pass/placements';
import { QueueReader } from './pass/queue-reader';
import { type Reservation, Reservations } from './reservation';
import { SchedulerRepository } from './scheduler.repository';
import { WorkerIndex } from './worker-index';

export type { Reservation } from './reservation';

/**
 * The scheduler module's door: passes (pass/pass-loop.ts: queue-reader.ts → plan.ts, pure →
 * claims.ts) and submit-time reservations (reservation.ts). Placement: snapshot (queue head +
 * in-memory worker index) → plan → claim (one atomic script per task, all in one pipeline).
 */
@Injectable()
export class SchedulerService implements BeforeApplicationShutdown {
  private readonly passes: PassLoop;
  private readonly claims: Claims;
  private readonly reservations: Reservations;

  constructor(repo: SchedulerRepository, index: WorkerIndex, leadership: LeadershipService, metrics: MetricsService, @Inject(APP_CONFIG) config: AppConfig) {
    const log = new Logger('Scheduler');
    const placements = new PlacementCache(log);
    this.claims = new Claims(repo, index, metrics, config, leadership, placements, log, () => this.passes.backOff());
    this.passes = new PassLoop(new QueueReader(repo, metrics), this.claims, placements, index, leadership, metrics, config, log);
    this.reservations = new Reservations(this.passes, this.claims, placements, index, leadership, metrics, config);
    metrics.gauge('mloc_queue_depth', 'Tasks queued and ready to run (dependencies met, not delayed)', () => repo.queueDepth());
    metrics.gauge('mloc_workers_schedulable', 'Workers this instance sees idle and live', () => index.schedulable(Date.now()).size);
  }

  /** Stops scheduling (shutdown) and waits for the pass under way to finish its writes. */
  beforeApplicationShutdown(): Promise<void> {
    return this.passes.stop();
  }

  /**
   * Asks for a pass soon; many kicks in one tick make one pass. `worker-free` (a worker became
   * idle) asks only when tasks may be waiting: a pass that saw the queue empty, with nothing
   * queued since, makes it a no-op. Every other kick says the queue may have changed.
   */
  kick(why?: 'worker-free'): void {
    this.passes.kick(why);
  }

  /**
   * Runs a pass now, or, when one is under way, one more right after it. Resolves when a pass that
   * started after this call has finished (not when the loop drains: under steady load it never does).
   */
  runPass(): Promise<void> {
    return this.passes.runPass();
  }

  /**
   * runPass, then which of `taskIds` a pass dispatched meanwhile, and to which worker(s) (more than
   * one for a fan-out): a submission answers from this without reading its tasks back. The ids
   * must be new (just created), so no pass can have claimed them before this call.
   */
  async runPassFor(taskIds: string[]): Promise<Map<string, string[]>> {
    const watched = this.claims.watched;
    for (const id of taskIds) watched.set(id, null);
    const placed = new Map<string, string[]>();
    try {
      await this.runPass();
    } finally {
      for (const id of taskIds) {
        const workers = watched.get(id);
        if (workers) placed.set(id, workers);
        watched.delete(id);
      }
    }
    return placed;
  }

  /**
   * A worker for a task about to be created (a submission of one task with no dependencies), chosen
   * from memory as a pass would choose it, so that the submit script can dispatch the task in the
   * same step: one round trip instead of three (create, read the queue, claim). The script
   * dispatches only when no other task is queued (none can be owed the worker first), this instance
   * still holds the lease, and the worker passes the claim's checks; otherwise it queues the task as
   * usual. Null when this instance does not place tasks now (follower, paused after an unheard
   * dispatch, shutting down), the task may fan out, or no idle worker fits it; the task then takes
   * the usual way. The worker is busy in the index from here on: pass the script's answer to
   * `settleReservation`, whatever it is.
   */
  reserveFor(task: { id: string; req: string; name: string }): Reservation | null {
    return this.reservations.reserve(task);
  }

  /**
   * Books what the submit script did with a reservation ('ok' when it dispatched the task; else why
   * not, or 'not_created'), as a pass books a claim. True when the task was dispatched; otherwise the
   * worker is read again and the task, queued, waits for a pass (the caller runs one).
   */
  settleReservation(r: Reservation, result: string): Promise<boolean> {
    return this.reservations.settle(r, result);
  }
}
