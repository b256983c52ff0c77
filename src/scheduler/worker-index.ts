import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import type { WorkerEvent } from '../contracts/protocol';
import { CandidatePool } from './placement/candidate-pool';
import { type StoredWorker, toWorkerView, type WorkerView } from '../contracts/worker-view';
import { WorkersService } from '../workers/workers.service';

/** How often `schedulable` re-checks the idle workers for staleness. */
const STALE_SWEEP_MS = 1000;

interface Entry {
  view: WorkerView;
  /** last_seen in ms (NaN when missing or unparseable: stale). Parsed once, not on every pass. */
  lastSeenMs: number;
  /**
   * Until when the worker counts as alive, on this process's clock: the heartbeat key's expiry as
   * last read, or HEARTBEAT_TTL_SEC after we last heard a heartbeat. The worker's own clock
   * (`last_seen`) can make it stale, never keep it alive.
   */
  aliveUntilMs: number;
  /** The task the worker holds for us, as last read or told by our own dispatch/release events. */
  heldTask: string | null;
  /** Let a dispatch time out; shown to placement as status SUSPECT until the worker is heard from. */
  suspect: boolean;
  /** The status the worker last reported, kept while SUSPECT hides it. */
  reportedStatus: string;
  /** When an event of this worker was last applied (0: never). */
  heardAtMs: number;
  /** Task types it reported it has no executor for (until it registers again); see WorkerView.refused. */
  refused: string[];
}

/**
 * A worker that registered again, or reported IDLE of its own, while it held a task: the attempt
 * may be gone. LivenessService settles it (release-held-task.lua) after a moment, unless our own
 * release of that task is heard first, as it is whenever the worker's report arrives.
 */
export interface LostAttemptCue {
  workerId: string;
  taskId: string;
  why: 'register' | 'idle';
  /** When the event was applied (ms, this process's clock). */
  atMs: number;
}

/**
 * The scheduler's in-memory picture of the registry, so placement never reads every worker from
 * Redis. Fed by workers.events and a periodic resync; only a cache: the claim scripts re-check
 * every worker they take, so a stale entry costs a refused claim, never a wrong dispatch.
 */
@Injectable()
export class WorkerIndex {
  private readonly log = new Logger('WorkerIndex');
  private readonly entries = new Map<string, Entry>();
  /** The schedulable workers (IDLE and live), grouped for placement; kept in step with `entries`. */
  private readonly pool: CandidatePool;
  private lastSweepMs = 0;
  private nextOrder = 0;
  private lastResyncMs = 0;
  /** Counts workers dropped from the index (unregistered, gone): a cue that a held task may be orphaned. */
  departures = 0;
  /**
   * Events applied per worker. A registry read that was sent before an event was applied may
   * answer after it, with an older state; such a read is dropped for that worker.
   */
  private readonly eventCount = new Map<string, number>();
  /** At most one per worker, see LostAttemptCue. */
  private readonly cues = new Map<string, LostAttemptCue>();
  /**
   * Drained workers (Keys.draining, POST /workers/{id}/drain): never in the pool, whatever their
   * status. Read on every resync (one SMEMBERS) and every registry read of a worker; changed at once
   * by a drain made through this process. The claim scripts refuse a drained worker too.
   */
  private readonly draining = new Set<string>();

  constructor(
    private readonly workers: WorkersService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.pool = new CandidatePool(config.scheduler);
    workers.onDrainChange((id, draining) => this.setDraining(id, draining));
  }

  /** A drain (or undrain) of worker `id`: out of the pool (or back in it when IDLE and live). */
  setDraining(id: string, draining: boolean): void {
    if (draining) this.draining.add(id);
    else this.draining.delete(id);
    const e = this.entries.get(id);
    if (e) this.sync(e, Date.now());
  }

  /** Whether worker `id` is drained, as this index knows. */
  isDraining(id: string): boolean {
    return this.draining.has(id);
  }

  /**
   * Re-reads the registry. A full resync reads every worker; otherwise only the workers not heard
   * from (no event at all) since the previous resync, so that in steady state, with heartbeats
   * flowing, a resync costs a handful of commands whatever the size of the fleet.
   */
  async resync(full = false): Promise<void> {
    const startedMs = Date.now();
    const before = new Map(this.eventCount);
    const [ids, drained] = await Promise.all([this.workers.registeredIds(), this.workers.drainingIds()]);
    // Drains and undrains made through other replicas: the workers whose flag changed are synced below.
    const drainedNow = new Set(drained);
    const drainChanged = new Set(drained.filter((id) => !this.draining.has(id)));
    for (const id of this.draining) if (!drainedNow.has(id)) drainChanged.add(id);
    this.draining.clear();
    for (const id of drained) this.draining.add(id);
    const known = new Set(ids);
    const toRead = full ? ids : ids.filter((id) => !(this.entries.get(id)?.heardAtMs ?? 0) || this.entries.get(id)!.heardAtMs < this.lastResyncMs);
    for (const w of await this.workers.readEntries(toRead)) {
      if (Object.keys(w.hash).length === 0) known.delete(w.id);
      else if (this.eventCount.get(w.id) === before.get(w.id)) this.put(w);
    }
    for (const id of [...this.entries.keys()]) if (!known.has(id) && this.eventCount.get(id) === before.get(id)) this.drop(id);
    for (const id of drainChanged) {
      const e = this.entries.get(id);
      if (e) this.sync(e, Date.now());
    }
    this.lastResyncMs = startedMs;
  }

  async refresh(id: string): Promise<void> {
    const before = this.eventCount.get(id);
    const w = await this.workers.readEntry(id);
    if (this.eventCount.get(id) !== before) return; // an event newer than this read was applied meanwhile
    if (w) this.put(w);
    else this.drop(id);
  }

  private put(w: StoredWorker) {
    if (w.draining !== undefined) {
      if (w.draining) this.draining.add(w.id);
      else this.draining.delete(w.id);
    }
    const prev = this.entries.get(w.id);
    const order = prev?.view.order ?? this.nextOrder++;
    const view = toWorkerView(w.id, w.hash, { heartbeatAlive: w.heartbeatAlive, nowMs: Date.now(), heartbeatTtlSec: this.config.heartbeatTtlSec, order });
    // Parsed once here: placement groups workers by requirement set, task type included.
    view.executors = advertisedExecutors(w.hash.env_json);
    const refused = prev?.refused ?? [];
    if (refused.length > 0) view.refused = refused;
    // A worker that holds one of our tasks is busy whatever its own status field says.
    if (w.heldTask) view.status = 'RUNNING';
    const reportedStatus = view.status;
    if (w.suspect) view.status = 'SUSPECT';
    const now = Date.now();
    const aliveUntilMs = !w.heartbeatAlive ? -Infinity : (w.heartbeatExpiresAtMs ?? now + this.config.heartbeatTtlSec * 1000);
    const e: Entry = {
      view,
      lastSeenMs: parseTime(w.hash.last_seen),
      aliveUntilMs,
      heldTask: w.heldTask,
      suspect: w.suspect,
      reportedStatus,
      heardAtMs: prev?.heardAtMs ?? 0,
      refused,
    };
    this.entries.set(w.id, e);
    this.sync(e, now);
  }

  /** Puts the worker in the placement pool, or takes it out, after any change to its entry. */
  private sync(e: Entry, nowMs: number) {
    this.updateStale(e, nowMs);
    if (e.view.status === 'IDLE' && !e.view.stale && !this.draining.has(e.view.id)) this.pool.add(e.view);
    else this.pool.remove(e.view.id);
  }

  /** Applies a workers.events message. Resolves true when the worker may have become schedulable. */
  async apply(ev: WorkerEvent): Promise<boolean> {
    // An id that breaks the id rule could name another worker's keys: it is never looked up.
    if (!this.workers.checkId(ev.worker_id, `${String(ev.type)} on workers.events`)) return false;
    const e = this.entries.get(ev.worker_id);
    // Not counted for a worker we do not know yet: its first read must be applied.
    if (e) {
      this.eventCount.set(ev.worker_id, (this.eventCount.get(ev.worker_id) ?? 0) + 1);
      e.heardAtMs = Date.now();
    }
    if (ev.type === 'UNREGISTER') {
      this.drop(ev.worker_id);
      this.eventCount.delete(ev.worker_id);
      return false;
    }
    const fromWorker = !('source' in ev && ev.source);
    if (ev.type === 'REGISTER' || !e) {
      // Registered again: it may run other task types now (what it advertises is read below).
      if (e && ev.type === 'REGISTER') e.refused = [];
      // New to us: read its registry entry once (hardware, tags) rather than trust the event.
      await this.refresh(ev.worker_id);
      const now = this.entries.get(ev.worker_id);
      // A fresh registration of a worker that holds a task: it restarted, the attempt is gone.
      if (now && ev.type === 'REGISTER') this.cue(now, 'register');
      else if (now && ev.type === 'STATUS' && fromWorker) this.onOwnStatus(now, ev);
      return now?.view.status === 'IDLE';
    }
    if (fromWorker && e.suspect) await this.clearSuspect(e);
    if (ev.type === 'HEARTBEAT') {
      e.lastSeenMs = parseTime(ev.ts);
      // Heard now, on our clock: a worker whose clock runs ahead dies as fast as any other.
      e.aliveUntilMs = Date.now() + this.config.heartbeatTtlSec * 1000;
    } else if (ev.type === 'STATUS') {
      e.reportedStatus = ev.status;
      if (!e.suspect) e.view.status = ev.status;
      if (fromWorker && ev.ts) e.lastSeenMs = parseTime(ev.ts);
      if (fromWorker) this.onOwnStatus(e, ev);
      else this.onOurStatus(e, ev);
    }
    this.sync(e, Date.now());
    return e.view.status === 'IDLE';
  }

  /** The worker's own status: IDLE while it holds a task is a cue; RUNNING (an acknowledgement) voids one. */
  private onOwnStatus(e: Entry, ev: Extract<WorkerEvent, { type: 'STATUS' }>) {
    if (ev.status === 'RUNNING') {
      this.cues.delete(e.view.id);
      return;
    }
    if (ev.status !== 'IDLE' || !e.heldTask) return;
    // IDLE after another task (extra.last_task names it) says nothing about the one held now.
    const lastTask = ev.extra?.last_task;
    if (typeof lastTask === 'string' && lastTask !== e.heldTask) return;
    const prev = this.cues.get(e.view.id);
    // A restart followed by IDLE stays a restart (which also covers an attempt not yet acknowledged).
    this.cue(e, prev?.why === 'register' && prev.taskId === e.heldTask ? 'register' : 'idle');
  }

  /** Our own dispatch (RUNNING with extra.task_id) and release (extra.last_task) events. */
  private onOurStatus(e: Entry, ev: Extract<WorkerEvent, { type: 'STATUS' }>) {
    const taskId = ev.extra?.task_id;
    const lastTask = ev.extra?.last_task;
    const refusedType = ev.extra?.no_executor;
    if (typeof refusedType === 'string' && !e.refused.includes(refusedType)) {
      // finish-task.lua: the worker reported it has no executor for this type. A new view (the
      // pool's groups are keyed on the fields of the view they hold); sync() puts it in their place.
      e.refused = [...e.refused, refusedType];
      this.pool.remove(e.view.id);
      e.view = { ...e.view, refused: e.refused };
    }
    if (ev.status === 'RUNNING' && typeof taskId === 'string') e.heldTask = taskId;
    else if (typeof lastTask === 'string' && lastTask === e.heldTask) e.heldTask = null;
    const cue = this.cues.get(e.view.id);
    if (cue && cue.taskId !== e.heldTask) this.cues.delete(e.view.id);
  }

  private cue(e: Entry, why: LostAttemptCue['why']) {
    if (!e.heldTask) return;
    this.cues.set(e.view.id, { workerId: e.view.id, taskId: e.heldTask, why, atMs: Date.now() });
  }

  /**
   * The cues noticed before `beforeMs` whose worker still holds the same task as far as we know;
   * the others are forgotten. The caller settles each with `settled`.
   */
  lostAttemptCues(beforeMs: number): LostAttemptCue[] {
    const out: LostAttemptCue[] = [];
    for (const cue of this.cues.values()) {
      if (this.entries.get(cue.workerId)?.heldTask !== cue.taskId) this.cues.delete(cue.workerId);
      else if (cue.atMs < beforeMs) out.push(cue);
    }
    return out;
  }

  /** Forgets a cue once acted on (unless a newer one replaced it meanwhile). */
  settled(cue: LostAttemptCue) {
    if (this.cues.get(cue.workerId) === cue) this.cues.delete(cue.workerId);
  }

  private drop(id: string) {
    this.pool.remove(id);
    this.cues.delete(id);
    if (this.entries.delete(id)) this.departures++;
  }

  /** A dispatch to this worker was not acknowledged: no work for it until it is heard from. */
  markSuspect(id: string) {
    const e = this.entries.get(id);
    if (!e) return;
    e.suspect = true;
    e.view.status = 'SUSPECT';
    this.sync(e, Date.now());
  }

  private async clearSuspect(e: Entry) {
    await this.workers.clearSuspect(e.view.id);
    e.suspect = false;
    e.view.status = e.reportedStatus;
    this.sync(e, Date.now());
    this.log.log(`worker ${e.view.id} heard from again: schedulable`);
  }

  /** Marks a worker busy right away when we dispatch to it (the STATUS event follows). */
  markBusy(id: string) {
    const e = this.entries.get(id);
    if (!e) return;
    e.view.status = e.reportedStatus = 'RUNNING';
    this.pool.remove(id);
  }

  /** Every registered worker with its staleness as of `nowMs`. */
  snapshot(nowMs: number): WorkerView[] {
    const out: WorkerView[] = [];
    for (const e of this.entries.values()) {
      this.sync(e, nowMs);
      out.push(e.view);
    }
    return out;
  }

  /**
   * The workers placement may use: IDLE and live, grouped by requirement set. Workers that went
   * stale are swept out at most once a second (a walk of the idle workers only); a worker about to
   * be picked is checked exactly with `confirm`.
   */
  schedulable(nowMs: number): CandidatePool {
    if (nowMs - this.lastSweepMs >= STALE_SWEEP_MS) {
      this.lastSweepMs = nowMs;
      for (const view of this.pool.values()) {
        const e = this.entries.get(view.id);
        if (e) this.sync(e, nowMs);
        else this.pool.remove(view.id);
      }
    }
    return this.pool;
  }

  /** Whether worker `id` is still schedulable as of `nowMs` (its staleness checked now). */
  confirm(id: string, nowMs: number): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    this.sync(e, nowMs);
    return this.pool.has(id);
  }

  /**
   * Stale when our own evidence of life has run out (see Entry.aliveUntilMs), or when `last_seen` is
   * older than HEARTBEAT_TTL_SEC (PROTOCOL section 3).
   */
  private updateStale(e: Entry, nowMs: number) {
    const ttlMs = this.config.heartbeatTtlSec * 1000;
    e.view.stale = !(nowMs <= e.aliveUntilMs) || !(nowMs - e.lastSeenMs <= ttlMs);
  }
}

/**
 * `env_json.executors` (our worker's WORKER_EXECUTORS, docs/protocol.md): the task types the worker
 * runs; null when it advertises none or the field is not a list (then any type may go there).
 */
export function advertisedExecutors(envJson: string | undefined): string[] | null {
  if (!envJson || !envJson.includes('executors')) return null;
  try {
    const env = JSON.parse(envJson) as unknown;
    const list = typeof env === 'object' && env !== null ? (env as Record<string, unknown>).executors : undefined;
    return Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : null;
  } catch {
    return null;
  }
}

/** ISO time to ms; NaN when missing or unparseable (the worker then counts as stale). */
function parseTime(iso: string | undefined): number {
  return iso ? Date.parse(iso) : NaN;
}
