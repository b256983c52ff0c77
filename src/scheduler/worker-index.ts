import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import type { WorkerEvent } from '../contracts/protocol';
import { CandidatePool } from './placement/candidate-pool';
import { toWorkerView } from './placement/worker-view';
import type { WorkerView } from './placement/types';
import { StoredWorker, WorkersRepository } from '../workers/workers.repository';

/** How often `schedulable` re-checks the idle workers for staleness. */
const STALE_SWEEP_MS = 1000;

interface Entry {
  view: WorkerView;
  /** last_seen in ms (NaN when missing or unparseable: stale). Parsed once, not on every pass. */
  lastSeenMs: number;
  heartbeatAlive: boolean;
  /** Let a dispatch time out; shown to placement as status SUSPECT until the worker is heard from. */
  suspect: boolean;
  /** The status the worker last reported, kept while SUSPECT hides it. */
  reportedStatus: string;
  /** When an event of this worker was last applied (0: never). */
  heardAtMs: number;
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

  constructor(
    private readonly repo: WorkersRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.pool = new CandidatePool(config.scheduler);
  }

  /**
   * Re-reads the registry. A full resync reads every worker; otherwise only the workers not heard
   * from (no event at all) since the previous resync, so that in steady state, with heartbeats
   * flowing, a resync costs a handful of commands whatever the size of the fleet.
   */
  async resync(full = false): Promise<void> {
    const startedMs = Date.now();
    const before = new Map(this.eventCount);
    const ids = await this.repo.ids();
    const known = new Set(ids);
    const toRead = full ? ids : ids.filter((id) => !(this.entries.get(id)?.heardAtMs ?? 0) || this.entries.get(id)!.heardAtMs < this.lastResyncMs);
    for (const w of await this.repo.readMany(toRead)) {
      if (Object.keys(w.hash).length === 0) known.delete(w.id);
      else if (this.eventCount.get(w.id) === before.get(w.id)) this.put(w);
    }
    for (const id of [...this.entries.keys()]) if (!known.has(id) && this.eventCount.get(id) === before.get(id)) this.drop(id);
    this.lastResyncMs = startedMs;
  }

  async refresh(id: string): Promise<void> {
    const before = this.eventCount.get(id);
    const w = await this.repo.readOne(id);
    if (this.eventCount.get(id) !== before) return; // an event newer than this read was applied meanwhile
    if (w) this.put(w);
    else this.drop(id);
  }

  private put(w: StoredWorker) {
    const prev = this.entries.get(w.id);
    const order = prev?.view.order ?? this.nextOrder++;
    const view = toWorkerView(w.id, w.hash, { heartbeatAlive: w.heartbeatAlive, nowMs: Date.now(), heartbeatTtlSec: this.config.heartbeatTtlSec, order });
    // A worker that holds one of our tasks is busy whatever its own status field says.
    if (w.heldTask) view.status = 'RUNNING';
    const reportedStatus = view.status;
    if (w.suspect) view.status = 'SUSPECT';
    const e: Entry = { view, lastSeenMs: parseTime(w.hash.last_seen), heartbeatAlive: w.heartbeatAlive, suspect: w.suspect, reportedStatus, heardAtMs: prev?.heardAtMs ?? 0 };
    this.entries.set(w.id, e);
    this.sync(e, Date.now());
  }

  /** Puts the worker in the placement pool, or takes it out, after any change to its entry. */
  private sync(e: Entry, nowMs: number) {
    this.updateStale(e, nowMs);
    if (e.view.status === 'IDLE' && !e.view.stale) this.pool.add(e.view);
    else this.pool.remove(e.view.id);
  }

  /** Applies a workers.events message. Resolves true when the worker may have become schedulable. */
  async apply(ev: WorkerEvent): Promise<boolean> {
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
    if (ev.type === 'REGISTER' || !e) {
      // New to us: read its registry entry once (hardware, tags) rather than trust the event.
      await this.refresh(ev.worker_id);
      return this.entries.get(ev.worker_id)?.view.status === 'IDLE';
    }
    const fromWorker = !('source' in ev && ev.source);
    if (fromWorker && e.suspect) await this.clearSuspect(e);
    if (ev.type === 'HEARTBEAT') {
      e.lastSeenMs = parseTime(ev.ts);
      e.heartbeatAlive = true;
    } else if (ev.type === 'STATUS') {
      e.reportedStatus = ev.status;
      if (!e.suspect) e.view.status = ev.status;
      if (fromWorker && ev.ts) e.lastSeenMs = parseTime(ev.ts);
    }
    this.sync(e, Date.now());
    return e.view.status === 'IDLE';
  }

  private drop(id: string) {
    this.pool.remove(id);
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
    await this.repo.clearSuspect(e.view.id);
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

  private updateStale(e: Entry, nowMs: number) {
    const ttlMs = this.config.heartbeatTtlSec * 1000;
    e.view.stale = !e.heartbeatAlive || !(nowMs - e.lastSeenMs <= ttlMs);
  }

}

/** ISO time to ms; NaN when missing or unparseable (the worker then counts as stale). */
function parseTime(iso: string | undefined): number {
  return iso ? Date.parse(iso) : NaN;
}
