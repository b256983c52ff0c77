import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import type { StoredPlacement } from '../tasks/task-record';
import type { TaskDocument } from '../tasks/spec/task-draft';
import { WorkerIndex } from './worker-index';
import { LeadershipService } from '../leadership/leadership.service';
import { CandidatePool } from './placement/candidate-pool';
import { chooseStrategyFor, unschedulableReason } from './placement/place';
import type { Strategy, WorkerView } from './placement/types';
import { shardCount, shardDocument } from './sharding/shards';
import { ClaimRequest, FanOutRequest, SchedulerRepository } from './scheduler.repository';

/** How many queued tasks one pass considers: enough for every idle worker, within bounds. */
const PASS_BATCH = 500;
const MIN_HEAD = 64;
const HEAD_PER_IDLE_WORKER = 8;
/** With no idle worker, the queue is read (for `unschedulable` reasons) at most this often. */
const UNSCHEDULABLE_SCAN_MS = 1000;
/** When PUBLISH on the topic reached nobody, wait this long before dispatching again. */
const NO_SUBSCRIBER_BACKOFF_MS = 500;

interface Planned {
  req: ClaimRequest | FanOutRequest;
  name: string;
  workers: string[];
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
  private enabled = true;

  constructor(
    private readonly repo: SchedulerRepository,
    private readonly index: WorkerIndex,
    private readonly leadership: LeadershipService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** Stops scheduling (shutdown) and waits for the pass under way to finish its writes. */
  async beforeApplicationShutdown() {
    this.enabled = false;
    await this.running?.catch(() => undefined);
  }

  /** Asks for a pass soon; many kicks in one tick make one pass. */
  kick(): void {
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
    // Only the leader places tasks; a follower's submissions reach it through ORCH_TASK_SUBMITTED.
    if (!this.enabled || !this.leadership.isLeader) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push({ pass: this.passesStarted + 1, resolve }));
    if (this.running) this.again = true;
    else this.running = this.loop();
    return done;
  }

  private async loop(): Promise<void> {
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
    const nowMs = Date.now();
    const idle = this.index.idle(nowMs);
    if (idle.length === 0 && nowMs - this.lastIdleScanMs < UNSCHEDULABLE_SCAN_MS) return false;
    if (idle.length === 0) this.lastIdleScanMs = nowMs;
    const head = await this.repo.queueHead(Math.min(PASS_BATCH, Math.max(MIN_HEAD, HEAD_PER_IDLE_WORKER * idle.length)));
    if (head.ids.length === 0) return false;
    const fields = await this.repo.placementFields(head.ids);
    const pool = new CandidatePool(idle, this.config.scheduler);
    const planned: Planned[] = [];
    const unschedulable: { id: string; reason: string }[] = [];
    let registered: WorkerView[] | null = null;
    const reasons = new Map<string, string>(); // per requirement set: one scan of the fleet each
    let demand = head.depth;

    for (let i = 0; i < head.ids.length; i++) {
      const id = head.ids[i];
      const f = fields[i];
      const placement = this.placementOf(id, f.req);
      if (!placement) continue;
      const req = placement.requirements;
      let group = pool.free > 0 ? pool.group(req, f.exclude ? [f.exclude] : []) : null;
      // Retry on another worker where one fits; the one that failed is better than waiting forever.
      if (group && group.count === 0 && f.exclude) group = pool.group(req, []);
      if (!group || group.count === 0) {
        registered ??= this.index.snapshot(nowMs);
        const key = JSON.stringify(req);
        const why = reasons.get(key) ?? unschedulableReason(req, registered) ?? '';
        reasons.set(key, why);
        if (why !== (f.unschedulable ?? '')) unschedulable.push({ id, reason: why });
        continue;
      }
      const choice = chooseStrategyFor({ parallel: placement.parallel, available: group.available, count: group.count, demand, weights: this.config.scheduler });
      demand = Math.max(1, demand - 1);
      const shards = choice.strategy === 'data-parallel' ? shardCount(req.replicas, group.count, placement.maxShards, this.config.scheduler.maxAutoShards) : 1;
      let chosen: WorkerView[];
      let strategy: Strategy = choice.strategy;
      if (shards >= 2) {
        chosen = group.bestN(shards);
        planned.push({ req: { kind: 'shards', taskId: id, strategy, reason: `${choice.reason}; ${shards} shards`, shards: [] }, name: f.name ?? id, workers: chosen.map((w) => w.id) });
      } else {
        if (strategy === 'data-parallel') strategy = 'best-fit';
        chosen = [strategy === 'first-fit' ? group.first()! : group.best()!];
        planned.push({ req: { kind: 'single', taskId: id, workerId: chosen[0].id, strategy, reason: choice.reason }, name: f.name ?? id, workers: [chosen[0].id] });
      }
      chosen.forEach((w) => pool.take(w));
    }
    await this.repo.setUnschedulable(unschedulable);
    if (planned.length === 0) return false;
    await this.buildShards(planned);

    // Busy before the claims are sent: a newer IDLE event arriving meanwhile must win over this.
    planned.forEach((p) => p.workers.forEach((w) => this.index.markBusy(w)));
    const cutoffIso = new Date(nowMs - this.config.heartbeatTtlSec * 1000).toISOString();
    const results = await this.repo.claim(
      planned.map((p) => p.req),
      { topic: this.config.taskTopic, cutoffIso, ackDeadlineMs: nowMs + this.config.dispatchAckTimeoutSec * 1000, nowMs, fence: this.leadership.fence },
    );
    let placed = 0;
    const refresh = new Set<string>();
    results.forEach((r, i) => {
      const p = planned[i];
      if (r === 'ok') {
        placed++;
        this.placementCache.delete(p.req.taskId);
        this.log.log(`dispatched ${p.name}`, { taskId: p.req.taskId, strategy: p.req.strategy, worker: p.workers.length > 1 ? p.workers : p.workers[0], reason: p.req.reason });
        return;
      }
      // Not dispatched: what the index believes of these workers is unknown; read them again.
      p.workers.forEach((w) => refresh.add(w));
      if (r === 'no_subscriber') {
        this.pausedUntilMs = Date.now() + NO_SUBSCRIBER_BACKOFF_MS;
        this.log.warn(`nobody is subscribed to topic "${this.config.taskTopic}"; ${p.name} stays queued`, { taskId: p.req.taskId });
      } else if (r === 'not_leader') {
        this.log.warn('claim refused: this instance is no longer the leader', { taskId: p.req.taskId });
      } else if (r.startsWith('error:')) {
        this.log.warn(`claim failed: ${r}`, { taskId: p.req.taskId });
      } else {
        this.log.debug(`claim refused: ${r}`, { taskId: p.req.taskId });
      }
    });
    await Promise.all([...refresh].map((w) => this.index.refresh(w).catch(() => undefined)));
    if (this.pausedUntilMs > Date.now()) setTimeout(() => this.kick(), NO_SUBSCRIBER_BACKOFF_MS).unref();
    return placed > 0 || refresh.size > 0;
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
        const fields: Record<string, string> = {
          ...parent,
          id,
          name: `${parent.name}[shard ${index + 1}/${total}]`,
          doc: JSON.stringify(shardDocument(doc, index, total, p.req.taskId)),
          req: JSON.stringify(placement),
          retries: '0',
          depends_on: '[]',
          waiting_on: '[]',
          parent_id: p.req.taskId,
          shard_index: String(index),
          shard_total: String(total),
          attempt: '0',
          attempts: '[]',
        };
        return { id, worker, fields };
      });
    });
  }
}
