import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import type { StoredPlacement } from '../tasks/task-record';
import type { TaskDocument } from '../tasks/spec/task-draft';
import { WorkerIndex } from './worker-index';
import { LeadershipService } from '../leadership/leadership.service';
import { candidatesFor, chooseStrategy, compareFit, isSchedulable, pickWorker, unschedulableReason } from './placement/place';
import type { PlacementTask, WorkerView } from './placement/types';
import { shardCount, shardDocument } from './sharding/shards';
import { ClaimRequest, FanOutRequest, SchedulerRepository } from './scheduler.repository';

/** How many queued tasks one pass considers. */
const PASS_BATCH = 500;
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

  /** One pass. Returns true when another pass could place more. */
  private async pass(): Promise<boolean> {
    const nowMs = Date.now();
    const head = await this.repo.queueHead(PASS_BATCH);
    if (head.ids.length === 0) return false;
    const fields = await this.repo.placementFields(head.ids);
    const workers = this.index.snapshot(nowMs);
    let idle = workers.filter(isSchedulable);
    const taken = new Set<string>();
    const planned: Planned[] = [];
    const unschedulable: { id: string; reason: string }[] = [];
    let demand = head.depth;

    for (let i = 0; i < head.ids.length && idle.length > taken.size; i++) {
      const id = head.ids[i];
      const f = fields[i];
      const placement = this.placementOf(id, f.req);
      if (!placement) continue;
      const free = taken.size ? idle.filter((w) => !taken.has(w.id)) : idle;
      const task: PlacementTask = { id, requirements: placement.requirements, parallel: placement.parallel, maxShards: placement.maxShards, excludeWorkers: f.exclude ? [f.exclude] : [] };
      let candidates = candidatesFor(task, free);
      // Retry on another worker where one fits; the one that failed is better than waiting forever.
      if (candidates.length === 0 && task.excludeWorkers.length) candidates = candidatesFor({ ...task, excludeWorkers: [] }, free);
      if (candidates.length === 0) {
        const why = unschedulableReason(placement.requirements, workers) ?? '';
        if (why !== (f.unschedulable ?? '')) unschedulable.push({ id, reason: why });
        continue;
      }
      const choice = chooseStrategy({ parallel: placement.parallel, candidates, demand, weights: this.config.scheduler });
      demand = Math.max(1, demand - 1);
      const shards = choice.strategy === 'data-parallel' ? shardCount(placement.requirements.replicas, candidates.length, placement.maxShards, this.config.scheduler.maxAutoShards) : 1;
      if (shards >= 2) {
        const chosen = [...candidates].sort(compareFit(placement.requirements)).slice(0, shards);
        chosen.forEach((w) => taken.add(w.id));
        planned.push({ req: { kind: 'shards', taskId: id, strategy: choice.strategy, reason: `${choice.reason}; ${shards} shards`, shards: [] }, name: f.name ?? id, workers: chosen.map((w) => w.id) });
      } else {
        const strategy = choice.strategy === 'data-parallel' ? 'best-fit' : choice.strategy;
        const w = pickWorker(strategy, placement.requirements, candidates);
        taken.add(w.id);
        planned.push({ req: { kind: 'single', taskId: id, workerId: w.id, strategy, reason: choice.reason }, name: f.name ?? id, workers: [w.id] });
      }
    }
    await this.repo.setUnschedulable(unschedulable);
    if (planned.length === 0) return false;
    await this.buildShards(planned);

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
        p.workers.forEach((w) => this.index.markBusy(w));
        this.placementCache.delete(p.req.taskId);
        this.log.log(`dispatched ${p.name}`, { taskId: p.req.taskId, strategy: p.req.strategy, worker: p.workers.length > 1 ? p.workers : p.workers[0], reason: p.req.reason });
      } else if (r === 'no_subscriber') {
        this.pausedUntilMs = Date.now() + NO_SUBSCRIBER_BACKOFF_MS;
        this.log.warn(`nobody is subscribed to topic "${this.config.taskTopic}"; ${p.name} stays queued`, { taskId: p.req.taskId });
      } else if (r.startsWith('worker:')) {
        const wid = p.req.kind === 'single' ? p.req.workerId : r.split(':')[1];
        refresh.add(wid);
        this.log.debug(`claim refused: ${r}`, { taskId: p.req.taskId });
      } else if (r === 'not_leader') {
        this.log.warn('claim refused: this instance is no longer the leader', { taskId: p.req.taskId });
      } else if (r.startsWith('error:')) {
        this.log.warn(`claim failed: ${r}`, { taskId: p.req.taskId });
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
