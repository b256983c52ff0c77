import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { DomainError } from '../common/errors';
import { isStale, type StoredWorker } from '../contracts/worker-view';
import { toWorkerResponse, WorkerResponse } from './worker-record';
import { LostWorkerOutcome, WorkersRepository } from './workers.repository';

/**
 * The workers module's door: the API's views of the registry, stale-worker cleanup, and the registry
 * reads and lost-worker release the scheduler's worker index and the liveness checks need.
 */
@Injectable()
export class WorkersService {
  private readonly log = new Logger('Workers');
  private readonly drainListeners: ((id: string, draining: boolean) => void)[] = [];

  constructor(
    private readonly repo: WorkersRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async list(): Promise<WorkerResponse[]> {
    const now = Date.now();
    const all = await this.repo.readAll();
    return all
      .filter((w) => Object.keys(w.hash).length > 0)
      .map((w) => toWorkerResponse(w, now, this.config.heartbeatTtlSec))
      .sort((a, b) => a.worker_id.localeCompare(b.worker_id));
  }

  async get(id: string): Promise<WorkerResponse> {
    const w = await this.repo.readOne(id);
    if (!w) throw new DomainError('not_found', `Worker ${id} not found`);
    return toWorkerResponse(w, Date.now(), this.config.heartbeatTtlSec);
  }

  /**
   * Drains a worker (`draining` true: it gets no new task, the one it runs finishes) or undrains it.
   * Idempotent; 404 for a worker that is not registered. The flag is the orchestrator's own
   * (Keys.draining), so it survives a restart of the orchestrator and of the worker; every claim
   * script refuses a drained worker, whichever replica placed the task.
   */
  async setDraining(id: string, draining: boolean): Promise<WorkerResponse> {
    const w = await this.repo.readOne(id);
    if (!w) throw new DomainError('not_found', `Worker ${id.length > 80 ? `${id.slice(0, 76)}...` : id} not found`);
    if (await this.repo.setDraining(id, draining)) this.log.log(`worker ${id} ${draining ? 'drained: no new tasks' : 'undrained: schedulable again'}`, { workerId: id });
    for (const listener of this.drainListeners) listener(id, draining);
    return toWorkerResponse({ ...w, draining }, Date.now(), this.config.heartbeatTtlSec);
  }

  /** Called after every drain or undrain made through this process (the scheduler's index listens). */
  onDrainChange(listener: (id: string, draining: boolean) => void): void {
    this.drainListeners.push(listener);
  }

  /** The drained workers' ids (one SMEMBERS). */
  drainingIds(): Promise<string[]> {
    return this.repo.drainingIds();
  }

  cutoffIso(nowMs: number): string {
    return new Date(nowMs - this.config.heartbeatTtlSec * 1000).toISOString();
  }

  /** The registered ids that obey the worker-id rule (WorkersRepository.ids). */
  registeredIds(): Promise<string[]> {
    return this.repo.ids();
  }

  /** Registry entries, read in chunks (WorkersRepository.readMany). */
  readEntries(ids: string[]): Promise<StoredWorker[]> {
    return this.repo.readMany(ids);
  }

  /** One registry entry; null when there is none or `id` breaks the id rule. */
  readEntry(id: string): Promise<StoredWorker | null> {
    return this.repo.readOne(id);
  }

  /** Whether `id` obeys the worker-id rule; one that does not is logged once and never put in a key name. */
  checkId(id: unknown, where: string): id is string {
    return this.repo.checkId(id, where);
  }

  /** The worker was heard from: it may get work again. */
  clearSuspect(id: string): Promise<void> {
    return this.repo.clearSuspect(id);
  }

  /**
   * Re-checks atomically whether the worker is stale (heartbeat older than HEARTBEAT_TTL_SEC); if so,
   * the task it holds goes back to the queue (release-lost-worker.lua). It stays registered.
   */
  releaseIfLost(id: string, nowMs: number, fence: string): Promise<LostWorkerOutcome> {
    return this.repo.releaseIfStale(id, this.cutoffIso(nowMs), this.config.retryBackoffCapSec, false, nowMs, fence);
  }

  /**
   * Removes stale workers (PROTOCOL section 3): the v1 unregister steps plus an UNREGISTER event;
   * a task such a worker held goes back to the queue as a failed attempt. Registry entries without
   * a hash (a half-registered or half-removed worker) are dropped as well.
   */
  async cleanup(): Promise<{ removed: number; requeued: string[] }> {
    const now = Date.now();
    const all = await this.repo.readAll();
    let removed = 0;
    const requeued: string[] = [];
    for (const w of all) {
      if (!isStale(w.hash.last_seen, w.heartbeatAlive, now, this.config.heartbeatTtlSec)) continue;
      const r = await this.repo.releaseIfStale(w.id, this.cutoffIso(now), this.config.retryBackoffCapSec, true, now);
      if (!r.removed) continue;
      removed++;
      if (r.task && r.outcome) requeued.push(r.task);
      this.log.log(`removed stale worker ${w.id}`, { workerId: w.id, taskId: r.task ?? undefined, outcome: r.outcome ?? undefined });
    }
    return { removed, requeued };
  }
}
