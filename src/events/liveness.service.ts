import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { RedisService } from '../redis/redis.service';
import { RecoveryService } from '../scheduler/recovery.service';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkerIndex } from '../scheduler/worker-index';
import { TaskProgressService } from '../tasks/task-progress.service';
import { WorkersService } from '../workers/workers.service';
import { EventChannelsRepository } from './event-channels.repository';
import { TaskEventsService } from './task-events.service';
import { LeadershipService } from '../leadership/leadership.service';

/** How often the maintenance tick runs. */
const TICK_MS = 1000;
/**
 * How often the worker index is checked against the registry: workers not heard from since the
 * previous check are re-read. Longer than the workers' heartbeat interval (30 s by default), so a
 * healthy fleet costs nothing here; staleness itself is judged by the index from the heartbeats it
 * hears and the heartbeat key's expiry (WorkerIndex), not from this.
 */
const RESYNC_MS = 60_000;
/** The longest the lost-task check goes without reading the in-flight tasks. */
const RELOOK_MS = 30_000;
/**
 * How long a worker's IDLE (or new registration) while it holds a task waits before the attempt is
 * given up: its report, sent before the IDLE, is applied meanwhile (and then voids the cue).
 */
const LOST_ATTEMPT_GRACE_MS = 1000;

/**
 * What pub/sub alone cannot guarantee (PROTOCOL section 5), checked every second:
 * retries whose backoff is over, dispatches never acknowledged, tasks held by workers that went
 * stale, and sharded parents whose last shard finished without being aggregated (a crash between
 * the two). The same checks run once at start-up, before the first scheduling pass: that is the
 * reconciliation after a restart.
 */
@Injectable()
export class LivenessService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Liveness');
  private timer: NodeJS.Timeout | null = null;
  private lastResyncMs = 0;
  private ticking = false;
  private lastDepartures = -1;
  private lastLostLookMs = 0;

  constructor(
    private readonly redis: RedisService,
    private readonly channels: EventChannelsRepository,
    private readonly scheduling: RecoveryService,
    private readonly scheduler: SchedulerService,
    private readonly index: WorkerIndex,
    private readonly workers: WorkersService,
    private readonly tasks: TaskProgressService,
    private readonly taskEvents: TaskEventsService,
    private readonly leadership: LeadershipService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** When the last tick completed (ms); readiness of a leader depends on it. */
  lastTickMs = 0;

  onApplicationBootstrap() {
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
    // A new leader first resyncs and reconciles, then places what waits.
    this.leadership.whenElected(() => {
      this.lastResyncMs = 0;
      this.lastDepartures = -1; // a new leader looks at every in-flight task at once
      void this.tick();
      this.reconcileSoon();
    });
    // After a Redis outage our subscription had a gap: reports sent then are lost.
    this.channels.onGap(() => {
      this.lastResyncMs = 0; // events were missed: read every worker again
      this.reconcileSoon();
    });
  }

  /**
   * Finds RUNNING tasks whose worker is IDLE with extra_last_task = the task: their report was lost
   * in a gap of our subscription. Candidates are re-checked one second later, inside the script, so
   * a report still on its way is applied first and nothing runs twice needlessly.
   */
  reconcileSoon(delayMs = 1000) {
    setTimeout(() => void this.reconcileFinished().catch((err) => this.log.warn(`reconciliation failed: ${String(err)}`)), delayMs).unref();
  }

  private async reconcileFinished() {
    if (!this.leadership.isLeader) return;
    const candidates = await this.scheduling.finishedWhileAway();
    if (candidates.length === 0) return;
    await new Promise((r) => setTimeout(r, 1000).unref());
    for (const taskId of candidates) {
      const r = await this.scheduling.reconcileFinished(taskId, this.config.retryBackoffCapSec, Date.now(), this.leadership.fence);
      if (r.startsWith('requeued')) this.log.warn(`a report was lost while no orchestrator listened; task goes back to the queue`, { taskId, outcome: r });
    }
    this.scheduler.kick();
  }

  onApplicationShutdown() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async tick(): Promise<void> {
    if (this.ticking || !this.redis.ready || !this.leadership.isLeader) return;
    this.ticking = true;
    try {
      const now = Date.now();
      const fence = this.leadership.fence;
      if (now - this.lastResyncMs >= RESYNC_MS) {
        // Full after an election or a gap in the subscription (lastResyncMs reset), else incremental.
        await this.index.resync(this.lastResyncMs === 0);
        this.lastResyncMs = now;
      }
      await this.scheduling.promoteDelayed(now, fence);
      const expired = await this.scheduling.expireUnacked(now, this.config.retryBackoffCapSec, this.config.dispatchAckTimeoutSec, fence);
      for (const [taskId, workerId, outcome] of expired) {
        this.log.warn(`dispatch not acknowledged in time`, { taskId, workerId, outcome });
        if (outcome !== 'released') this.index.markSuspect(workerId);
      }
      await this.releaseLostTasks(now, fence);
      await this.releaseLostAttempts(now, fence);
      await this.finishAggregations();
      this.lastTickMs = Date.now();
      this.scheduler.kick();
    } catch (err) {
      this.log.warn(`maintenance tick failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Tasks held by workers that the index sees as stale or no longer has; the script re-checks
   * before acting. The in-flight tasks are only read from Redis when some worker is stale or has
   * left the index since the last look (and every RELOOK_MS regardless), not every second.
   */
  private async releaseLostTasks(now: number, fence: string) {
    const snapshot = this.index.snapshot(now);
    const stale = new Set(snapshot.filter((w) => w.stale).map((w) => w.id));
    const departures = this.index.departures;
    if (stale.size === 0 && departures === this.lastDepartures && now - this.lastLostLookMs < RELOOK_MS) return;
    this.lastDepartures = departures;
    this.lastLostLookMs = now;
    const held = await this.scheduling.inflightWorkers();
    if (held.length === 0) return;
    const known = new Set(snapshot.map((w) => w.id));
    for (const { taskId, workerId } of held) {
      if (known.has(workerId) && !stale.has(workerId)) continue;
      const r = await this.workers.releaseIfLost(workerId, now, fence);
      if (r.stale && r.outcome) this.log.warn(`worker lost; its task goes back to the queue`, { workerId, taskId: r.task ?? taskId, outcome: r.outcome });
    }
  }

  /**
   * Tasks whose v1 worker registered again (it restarted) or reported IDLE of its own while holding
   * them (see WorkerIndex.lostAttemptCues). Costs nothing while there is no cue: in the usual case
   * the report's own release is heard within the grace period and the cue is gone.
   */
  private async releaseLostAttempts(now: number, fence: string) {
    for (const cue of this.index.lostAttemptCues(now - LOST_ATTEMPT_GRACE_MS)) {
      const r = await this.scheduling.releaseHeldTask(cue.workerId, cue.taskId, cue.why, this.config.retryBackoffCapSec, now, fence);
      if (r === 'not_leader') return;
      this.index.settled(cue);
      const fields = { workerId: cue.workerId, taskId: cue.taskId, why: cue.why, outcome: r };
      if (r.startsWith('requeued'))
        this.log.warn(
          cue.why === 'register' ? 'worker restarted while holding a task; the task goes back to the queue' : 'worker went IDLE without a report; the task goes back to the queue',
          fields,
        );
      // We missed the release (it publishes nothing when the worker went stale): read the worker again.
      else if (r === 'not_held') await this.index.refresh(cue.workerId);
      else this.log.debug('worker still holds its task', fields);
    }
  }

  private async finishAggregations() {
    const parents = await this.tasks.runningParents();
    const counts = await this.tasks.getFields(parents, ['shards_done', 'shard_total']);
    for (let i = 0; i < parents.length; i++) {
      const [done, total] = counts[i].map(Number);
      if (total > 0 && done >= total) await this.taskEvents.aggregate(parents[i]);
    }
  }
}
