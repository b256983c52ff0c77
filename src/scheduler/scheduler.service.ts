import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import type { DirectDispatch, StoredPlacement, TaskDocument } from '../contracts/stored-task';
import { encodeShard } from '../redis/task-codec';
import { WorkerIndex } from './worker-index';
import { LeadershipService } from '../leadership/leadership.service';
import { MetricsService } from '../metrics/metrics.service';
import { chooseStrategyFor, unschedulableReason } from './placement/place';
import type { Strategy, WorkerView } from './placement/types';
import { shardCount, shardDocument } from './sharding/shards';
import { ClaimRequest, FanOutRequest, QueuedTask, SchedulerRepository } from './scheduler.repository';
import type { CandidatePool } from './placement/candidate-pool';

/**
 * How many queued tasks one pass may consider: enough for every idle worker to find one it fits
 * behind tasks that fit none, within bounds. The queue is read in chunks, the first about the size
 * of the idle fleet, further ones only while idle workers are left; so a pass over a homogeneous
 * queue reads about as many tasks as it places.
 */
const PASS_BATCH = 500;
const MIN_HEAD = 64;
const HEAD_PER_IDLE_WORKER = 8;
const FIRST_CHUNK_PER_IDLE_WORKER = 2;
const MIN_CHUNK = 4;
/** With no idle worker, the queue is read (for `unschedulable` reasons) at most this often. */
const UNSCHEDULABLE_SCAN_MS = 1000;
/** Why a submit script did not try to dispatch a reserved task (submit-tasks.lua). */
const NOT_TRIED = new Set(['not_created', 'not_ready', 'queue_not_empty']);
/** When PUBLISH on the topic reached nobody, wait this long before dispatching again. */
const NO_SUBSCRIBER_BACKOFF_MS = 500;

/** What one pass has decided so far. */
interface PassPlan {
  nowMs: number;
  pool: CandidatePool;
  /** Queued tasks not placed yet in this pass (the strategy's demand). */
  demand: number;
  planned: Planned[];
  unschedulable: { id: string; reason: string }[];
  /** Per requirement set, why no worker fits (one scan of the fleet each). */
  reasons: Map<string, string>;
  registered: WorkerView[] | null;
}

interface Planned {
  req: ClaimRequest | FanOutRequest;
  name: string;
  workers: string[];
}

/** A worker chosen for a task before it exists (SchedulerService.reserveFor). */
export interface Reservation {
  planned: Planned;
  nowMs: number;
  fence: string;
  dispatch: DirectDispatch;
}

/**
 * Placement: snapshot (queue head + in-memory worker index) → place (pure functions) → claim
 * (one atomic script per task, all in one pipeline). Redis round trips per pass do not depend
 * on the number of workers.
 */
@Injectable()
export class SchedulerService implements BeforeApplicationShutdown {
  private readonly log = new Logger('Scheduler');
  private running: Promise<void> | null = null;
  private again = false;
  private passesStarted = 0;
  /** Callers of runPass waiting for the pass numbered `pass` (or a later one) to finish. */
  private waiters: { pass: number; resolve: () => void }[] = [];
  private kickTimer: NodeJS.Immediate | null = null;
  private pausedUntilMs = 0;
  private lastIdleScanMs = 0;
  private readonly placementCache = new Map<string, StoredPlacement>();
  /**
   * True when a pass saw the ready queue empty and nothing that may queue a task has happened
   * since (submission, report, tick, cancel, reconciliation: every kick but `worker-free`). A worker
   * turning idle then needs no pass. Wrong only towards "not empty"; the tick kicks every second.
   */
  private queueEmpty = false;
  /** Counts the events that may have queued a task; a pass trusts an empty queue only if none came meanwhile. */
  private queueChanges = 0;
  /** Tasks a waiting submission asked about (runPassFor): task id → its worker(s) once dispatched. */
  private readonly watched = new Map<string, string[] | null>();
  private enabled = true;

  constructor(
    private readonly repo: SchedulerRepository,
    private readonly index: WorkerIndex,
    private readonly leadership: LeadershipService,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    metrics.gauge('mloc_queue_depth', 'Tasks queued and ready to run (dependencies met, not delayed)', () => repo.queueDepth());
    metrics.gauge('mloc_workers_schedulable', 'Workers this instance sees idle and live', () => index.schedulable(Date.now()).size);
  }

  /** Stops scheduling (shutdown) and waits for the pass under way to finish its writes. */
  async beforeApplicationShutdown() {
    this.enabled = false;
    await this.running?.catch(() => undefined);
  }

  /**
   * Asks for a pass soon; many kicks in one tick make one pass. `worker-free` (a worker became
   * idle) asks only when tasks may be waiting: a pass that saw the queue empty, with nothing
   * queued since, makes it a no-op. Every other kick says the queue may have changed.
   */
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

  /**
   * Runs a pass now, or, when one is under way, one more right after it. Resolves when a pass that
   * started after this call has finished (not when the loop drains: under steady load it never does).
   */
  runPass(): Promise<void> {
    this.queueMayHaveChanged();
    // Only the leader places tasks; a follower's submissions reach it through ORCH_TASK_SUBMITTED.
    if (!this.enabled || !this.leadership.isLeader) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push({ pass: this.passesStarted + 1, resolve }));
    if (this.running) this.again = true;
    else this.running = this.loop();
    return done;
  }

  /**
   * runPass, then which of `taskIds` a pass dispatched meanwhile, and to which worker(s) (more than
   * one for a fan-out): a submission answers from this without reading its tasks back. The ids
   * must be new (just created), so no pass can have claimed them before this call.
   */
  async runPassFor(taskIds: string[]): Promise<Map<string, string[]>> {
    for (const id of taskIds) this.watched.set(id, null);
    const placed = new Map<string, string[]>();
    try {
      await this.runPass();
    } finally {
      for (const id of taskIds) {
        const workers = this.watched.get(id);
        if (workers) placed.set(id, workers);
        this.watched.delete(id);
      }
    }
    return placed;
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
    const limit = Math.min(PASS_BATCH, Math.max(MIN_HEAD, HEAD_PER_IDLE_WORKER * pool.size));
    let chunk = pool.size === 0 ? limit : Math.min(limit, Math.max(MIN_CHUNK, FIRST_CHUNK_PER_IDLE_WORKER * pool.size));
    let offset = 0;
    let depth = -1;
    let plan: PassPlan | null = null;
    // Submissions landing ahead of the part already read shift the offsets: never plan a task twice.
    const seen = new Set<string>();
    for (;;) {
      this.metrics.queueReads.inc();
      const head = await this.repo.queueHead(chunk, offset);
      if (depth < 0) {
        depth = head.depth;
        // Replies come in order on one connection: whatever queued a task before this read shows
        // in it, and whatever queues one later is a kick that comes after this line.
        if (depth === 0 && changes === this.queueChanges) this.queueEmpty = true;
      }
      offset += head.tasks.length;
      for (const t of head.tasks) {
        if (seen.has(t.id)) continue;
        seen.add(t.id);
        plan ??= { nowMs: Date.now(), pool, demand: depth, planned: [], unschedulable: [], reasons: new Map(), registered: null };
        this.planTask(plan, t);
      }
      // Read on only while idle workers are left and the queue goes on.
      if (head.tasks.length < chunk || pool.size === 0 || offset >= Math.min(limit, head.depth)) break;
      chunk = Math.min(limit - offset, chunk * 2);
    }
    if (!plan) return false;
    const { planned, unschedulable } = plan;
    try {
      await this.repo.setUnschedulable(unschedulable);
      if (planned.length === 0) return false;
      await this.buildShards(planned);
    } catch (err) {
      // No claim was sent: the workers marked busy above are whatever Redis says they are.
      await this.refreshAll(planned.flatMap((p) => p.workers));
      throw err;
    }
    const cutoffIso = new Date(plan.nowMs - this.config.heartbeatTtlSec * 1000).toISOString();
    const results = await this.repo.claim(
      planned.map((p) => p.req),
      { topic: this.config.taskTopic, cutoffIso, ackDeadlineMs: plan.nowMs + this.config.dispatchAckTimeoutSec * 1000, nowMs: plan.nowMs, fence: this.leadership.fence },
    );
    let placed = 0;
    const refresh = new Set<string>();
    results.forEach((r, i) => {
      if (this.noteClaim(planned[i], r, refresh)) placed++;
    });
    await this.refreshAll(refresh);
    // Every task the queue held was read and dispatched: it is empty, unless something queued one since.
    if (placed === depth && refresh.size === 0 && changes === this.queueChanges) this.queueEmpty = true;
    this.metrics.passSeconds.observe((performance.now() - passStart) / 1000);
    // Another pass only when this one left queued tasks unread that the idle workers may fit.
    return refresh.size > 0 || (placed > 0 && offset < depth);
  }

  /**
   * Books the outcome of one claim as a pass does: a dispatch is counted, logged and reported to a
   * waiting submission; a refusal puts the claim's workers in `refresh` (what the index believes of
   * them is unknown) and, when nobody heard the dispatch, pauses dispatching. True when dispatched.
   */
  private noteClaim(p: Planned, r: string, refresh: Set<string>): boolean {
    if (r === 'ok') {
      this.metrics.tasksDispatched.inc({ strategy: p.req.strategy });
      this.placementCache.delete(p.req.taskId);
      if (this.watched.has(p.req.taskId)) this.watched.set(p.req.taskId, p.workers);
      this.log.log(`dispatched ${p.name}`, { taskId: p.req.taskId, strategy: p.req.strategy, worker: p.workers.length > 1 ? p.workers : p.workers[0], reason: p.req.reason });
      return true;
    }
    p.workers.forEach((w) => refresh.add(w));
    this.metrics.claimsRefused.inc({ reason: r.startsWith('error:') ? 'error' : r.replace(/^worker:status .*/, 'worker:status') });
    if (r === 'no_subscriber') {
      this.pausedUntilMs = Date.now() + NO_SUBSCRIBER_BACKOFF_MS;
      this.log.warn(`nobody is subscribed to topic "${this.config.taskTopic}"; ${p.name} stays queued`, { taskId: p.req.taskId });
      setTimeout(() => this.kick(), NO_SUBSCRIBER_BACKOFF_MS).unref();
    } else if (r === 'not_leader') {
      this.log.warn('claim refused: this instance is no longer the leader', { taskId: p.req.taskId });
    } else if (r.startsWith('error:')) {
      this.log.warn(`claim failed: ${r}`, { taskId: p.req.taskId });
    } else {
      this.log.debug(`claim refused: ${r}`, { taskId: p.req.taskId });
    }
    return false;
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
    const nowMs = Date.now();
    if (!this.enabled || !this.leadership.isLeader || nowMs < this.pausedUntilMs) return null;
    const placement = this.placementOf(task.id, task.req);
    if (!placement || placement.parallel) return null;
    const pool = this.index.schedulable(nowMs);
    if (pool.size === 0) return null;
    const plan: PassPlan = { nowMs, pool, demand: 1, planned: [], unschedulable: [], reasons: new Map(), registered: null };
    this.planTask(plan, { id: task.id, req: task.req, exclude: null, unschedulable: null, name: task.name });
    const p = plan.planned[0];
    if (!p) return null;
    if (p.req.kind !== 'single') {
      // Not expected without `parallel`; give the workers back and let a pass fan it out.
      void this.refreshAll(p.workers);
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

  /**
   * Books what the submit script did with a reservation ('ok' when it dispatched the task; else why
   * not, or 'not_created'), as a pass books a claim. True when the task was dispatched; otherwise the
   * worker is read again and the task, queued, waits for a pass (the caller runs one).
   */
  async settleReservation(r: Reservation, result: string): Promise<boolean> {
    // The script did not try the claim: nothing to count, only the worker to give back.
    if (NOT_TRIED.has(result)) {
      await this.refreshAll(r.planned.workers);
      return false;
    }
    const refresh = new Set<string>();
    if (this.noteClaim(r.planned, result, refresh)) {
      this.metrics.submitDispatches.inc();
      return true;
    }
    await this.refreshAll(refresh);
    return false;
  }

  /** Chooses the worker(s) of one queued task, or records why none can run it. */
  private planTask(plan: PassPlan, f: QueuedTask): void {
    const placeStart = performance.now();
    const id = f.id;
    const placement = this.placementOf(id, f.req);
    if (!placement) return;
    const { pool, nowMs } = plan;
    const req = placement.requirements;
    const group = pool.size > 0 ? pool.group(req, nowMs) : null;
    // Retry on another worker where one fits; the one that failed is better than waiting forever.
    const exclude = f.exclude && group && group.count(f.exclude) > 0 ? f.exclude : undefined;
    if (!group || group.count(exclude) === 0) {
      plan.registered ??= this.index.snapshot(nowMs);
      const key = JSON.stringify(req);
      const why = plan.reasons.get(key) ?? unschedulableReason(req, plan.registered) ?? '';
      plan.reasons.set(key, why);
      if (why !== (f.unschedulable ?? '')) plan.unschedulable.push({ id, reason: why });
      return;
    }
    const choice = chooseStrategyFor({ parallel: placement.parallel, available: group.available(exclude), count: group.count(exclude), demand: plan.demand, weights: this.config.scheduler });
    plan.demand = Math.max(1, plan.demand - 1);
    const shards = choice.strategy === 'data-parallel' ? shardCount(req.replicas, group.count(exclude), placement.maxShards, this.config.scheduler.maxAutoShards) : 1;
    // The index sweeps stale workers out once a second; the ones picked are checked now. One that
    // fails is purged from every group, so each retry below makes progress.
    const usable = (w: WorkerView) => this.index.confirm(w.id, nowMs) || (pool.purge(w.id), false);
    const confirmed = (ws: WorkerView[]) => ws.every(usable);
    let chosen: WorkerView[] = [];
    let strategy: Strategy = choice.strategy;
    if (shards >= 2) {
      do chosen = group.bestN(shards, exclude);
      while (!confirmed(chosen));
    }
    const name = f.name ?? id;
    if (chosen.length >= 2) {
      plan.planned.push({ req: { kind: 'shards', taskId: id, strategy, reason: `${choice.reason}; ${chosen.length} shards`, shards: [] }, name, workers: chosen.map((w) => w.id) });
    } else {
      if (strategy === 'data-parallel') strategy = 'best-fit';
      const pick = () => (strategy === 'first-fit' ? group.first(exclude) : group.best(exclude));
      let w = pick();
      while (w && !usable(w)) w = pick();
      if (!w) return; // every candidate had gone stale: the next pass says why
      chosen = [w];
      plan.planned.push({ req: { kind: 'single', taskId: id, workerId: w.id, strategy, reason: choice.reason }, name, workers: [w.id] });
    }
    // Busy from now on (out of every group), before the claim is sent: a newer IDLE event arriving
    // meanwhile must win over this.
    chosen.forEach((w) => this.index.markBusy(w.id));
    this.metrics.placementSeconds.observe((performance.now() - placeStart) / 1000);
  }

  private async refreshAll(workers: Iterable<string>): Promise<void> {
    await Promise.all([...new Set(workers)].map((w) => this.index.refresh(w).catch(() => undefined)));
  }

  private placementOf(id: string, raw: string | null): StoredPlacement | null {
    const cached = this.placementCache.get(id);
    if (cached) return cached;
    if (!raw) return null;
    try {
      const p = JSON.parse(raw) as StoredPlacement;
      if (this.placementCache.size > 100_000) this.placementCache.clear();
      this.placementCache.set(id, p);
      return p;
    } catch {
      this.log.warn(`task ${id} has an unreadable placement record; skipped`);
      return null;
    }
  }

  /** Carves the shard documents of fan-outs (one extra round trip, only when there are fan-outs). */
  private async buildShards(planned: Planned[]): Promise<void> {
    const fanOuts = planned.filter((p) => p.req.kind === 'shards');
    if (fanOuts.length === 0) return;
    const parents = await this.repo.shardParents(fanOuts.map((p) => p.req.taskId));
    fanOuts.forEach((p, i) => {
      const parent = parents[i];
      const doc = JSON.parse(parent.doc || '{}') as TaskDocument;
      const total = p.workers.length;
      const req = this.placementCache.get(p.req.taskId)!.requirements;
      (p.req as FanOutRequest).shards = p.workers.map((worker, index) => {
        const id = randomUUID();
        const placement: StoredPlacement = { requirements: req, parallel: false, maxShards: null };
        const fields = encodeShard(p.req.taskId, parent, { id, index, total, doc: shardDocument(doc, index, total, p.req.taskId), placement });
        return { id, worker, fields };
      });
    });
  }
}
