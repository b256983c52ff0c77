import type { Logger } from '@nestjs/common';
import type { AppConfig } from '../../config/env';
import type { LeadershipService } from '../../leadership/leadership.service';
import type { MetricsService } from '../../metrics/metrics.service';
import type { WorkerIndex } from '../worker-index';
import type { Claims } from './claims';
import { newPlan, type PassPlan, planTask } from './plan';
import type { PlacementCache } from './placements';
import type { QueueReader } from './queue-reader';

/** With no idle worker, the queue is read (for `unschedulable` reasons) at most this often. */
const UNSCHEDULABLE_SCAN_MS = 1000;
/** When PUBLISH on the topic reached nobody, wait this long before dispatching again. */
const NO_SUBSCRIBER_BACKOFF_MS = 500;

/**
 * The scheduling passes: one at a time, many requests while one runs make one more right after it,
 * callers wait for a pass that started after they asked. A pass: the idle workers (in memory) →
 * the head of the queue (QueueReader) → plan (planTask, pure) → claims (Claims). Redis round trips
 * per pass do not depend on the number of workers.
 */
export class PassLoop {
  private running: Promise<void> | null = null;
  private again = false;
  private passesStarted = 0;
  /** Callers of runPass waiting for the pass numbered `pass` (or a later one) to finish. */
  private waiters: { pass: number; resolve: () => void }[] = [];
  private kickTimer: NodeJS.Immediate | null = null;
  private pausedUntilMs = 0;
  private lastIdleScanMs = 0;
  /**
   * True when a pass saw the ready queue empty and nothing that may queue a task has happened
   * since (submission, report, tick, cancel, reconciliation: every kick but `worker-free`). A worker
   * turning idle then needs no pass. Wrong only towards "not empty"; the tick kicks every second.
   */
  private queueEmpty = false;
  /** Counts the events that may have queued a task; a pass trusts an empty queue only if none came meanwhile. */
  private queueChanges = 0;
  private enabled = true;

  constructor(
    private readonly reader: QueueReader,
    private readonly claims: Claims,
    private readonly placements: PlacementCache,
    private readonly index: WorkerIndex,
    private readonly leadership: LeadershipService,
    private readonly metrics: MetricsService,
    private readonly config: AppConfig,
    private readonly log: Logger,
  ) {}

  /** Whether this instance places tasks now: enabled, the leader, not paused after an unheard dispatch. */
  placing(nowMs: number): boolean {
    return this.enabled && this.leadership.isLeader && nowMs >= this.pausedUntilMs;
  }

  /** Stops scheduling (shutdown) and waits for the pass under way to finish its writes. */
  async stop(): Promise<void> {
    this.enabled = false;
    await this.running?.catch(() => undefined);
  }

  /** A dispatch reached no subscriber: no pass for a moment, then one. */
  backOff(): void {
    this.pausedUntilMs = Date.now() + NO_SUBSCRIBER_BACKOFF_MS;
    setTimeout(() => this.kick(), NO_SUBSCRIBER_BACKOFF_MS).unref();
  }

  /** See SchedulerService.kick. */
  kick(why?: 'worker-free'): void {
    if (why === 'worker-free') {
      if (this.queueEmpty) return;
    } else this.queueMayHaveChanged();
    if (this.kickTimer || !this.enabled) return;
    this.kickTimer = setImmediate(() => {
      this.kickTimer = null;
      void this.runPass();
    });
  }

  /** See SchedulerService.runPass. */
  runPass(): Promise<void> {
    this.queueMayHaveChanged();
    // Only the leader places tasks; a follower's submissions reach it through ORCH_TASK_SUBMITTED.
    if (!this.enabled || !this.leadership.isLeader) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push({ pass: this.passesStarted + 1, resolve }));
    if (this.running) this.again = true;
    else this.running = this.loop();
    return done;
  }

  private async loop(): Promise<void> {
    // Never finish synchronously: runPass assigns `running` from this call's promise after the call
    // returns, so a loop that ended at once (paused) would leave it set for good, and no pass would
    // ever run again.
    await Promise.resolve();
    try {
      do {
        this.again = false;
        if (Date.now() < this.pausedUntilMs) break;
        const pass = ++this.passesStarted;
        const more = await this.pass().catch((err) => {
          this.log.warn(`scheduling pass failed: ${err instanceof Error ? err.message : String(err)}`);
          return false;
        });
        this.settleWaiters(pass);
        if (more) this.again = true;
      } while (this.again && this.enabled);
    } finally {
      this.running = null;
      this.settleWaiters(Infinity);
    }
  }

  private queueMayHaveChanged() {
    this.queueEmpty = false;
    this.queueChanges++;
  }

  private settleWaiters(upToPass: number) {
    const ready = this.waiters.filter((w) => w.pass <= upToPass);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.pass > upToPass);
    for (const w of ready) w.resolve();
  }

  /**
   * One pass. Returns true when another pass could place more. With no idle worker it only reads
   * the queue, to say which tasks no worker could ever run, at most once a second.
   */
  private async pass(): Promise<boolean> {
    const passStart = performance.now();
    const nowMs = Date.now();
    const changes = this.queueChanges;
    const pool = this.index.schedulable(nowMs);
    if (pool.size === 0 && nowMs - this.lastIdleScanMs < UNSCHEDULABLE_SCAN_MS) return false;
    if (pool.size === 0) this.lastIdleScanMs = nowMs;
    // Made at the first task read (set in the callback below, hence the cast: not narrowed to null).
    let plan = null as PassPlan | null;
    const { depth, offset } = await this.reader.read(
      pool,
      // Replies come in order on one connection: whatever queued a task before this read shows
      // in it, and whatever queues one later is a kick that comes after this line.
      (depth) => {
        if (depth === 0 && changes === this.queueChanges) this.queueEmpty = true;
      },
      (t, depth) => {
        plan ??= newPlan(this.index, pool, this.config.scheduler, Date.now(), depth);
        const placeStart = performance.now();
        const placement = this.placements.of(t.id, t.req);
        if (placement && planTask(plan, t, placement)) this.metrics.placementSeconds.observe((performance.now() - placeStart) / 1000);
      },
    );
    if (!plan) return false;
    const sent = await this.claims.send(plan);
    if (!sent) return false;
    const { placed, refreshed } = sent;
    // Every task the queue held was read and dispatched: it is empty, unless something queued one since.
    if (placed === depth && refreshed === 0 && changes === this.queueChanges) this.queueEmpty = true;
    this.metrics.passSeconds.observe((performance.now() - passStart) / 1000);
    // Another pass only when this one left queued tasks unread that the idle workers may fit.
    return refreshed > 0 || (placed > 0 && offset < depth);
  }
}
