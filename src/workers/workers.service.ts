import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { DomainError } from '../common/errors';
import { isStale } from '../scheduler/placement/worker-view';
import { toWorkerResponse, WorkerResponse } from './worker-record';
import { WorkersRepository } from './workers.repository';

@Injectable()
export class WorkersService {
  private readonly log = new Logger('Workers');

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

  cutoffIso(nowMs: number): string {
    return new Date(nowMs - this.config.heartbeatTtlSec * 1000).toISOString();
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
