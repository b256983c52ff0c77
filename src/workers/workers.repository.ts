import { Injectable } from '@nestjs/common';
import { WORKER_IDS_KEY, workerHeartbeatKey, workerKey } from '../contracts/protocol';
import { Keys } from '../redis/keys';
import { RedisService } from '../redis/redis.service';

export interface StoredWorker {
  id: string;
  hash: Record<string, string>;
  heartbeatAlive: boolean;
  /** The task this worker holds for us, if any. */
  heldTask: string | null;
  /** It let a dispatch time out and has not been heard from since. */
  suspect: boolean;
}

export interface LostWorkerOutcome {
  stale: boolean;
  task?: string | null;
  outcome?: string | null;
  removed?: boolean;
}

const READ_CHUNK = 500;

/** The v1 worker registry (PROTOCOL section 1) plus our holder locks. */
@Injectable()
export class WorkersRepository {
  constructor(private readonly redis: RedisService) {}

  ids(): Promise<string[]> {
    return this.redis.cmd.smembers(WORKER_IDS_KEY);
  }

  async readAll(): Promise<StoredWorker[]> {
    return this.readMany(await this.ids());
  }

  /** Read in chunks, so a large fleet never holds the shared connection in one huge pipeline. */
  async readMany(ids: string[]): Promise<StoredWorker[]> {
    const out: StoredWorker[] = [];
    for (let i = 0; i < ids.length; i += READ_CHUNK) out.push(...(await this.readChunk(ids.slice(i, i + READ_CHUNK))));
    return out;
  }

  private async readChunk(ids: string[]): Promise<StoredWorker[]> {
    if (ids.length === 0) return [];
    const pipe = this.redis.cmd.pipeline();
    for (const id of ids) pipe.hgetall(workerKey(id)).exists(workerHeartbeatKey(id)).get(Keys.workerTask(id)).exists(Keys.workerSuspect(id));
    const res = (await pipe.exec()) ?? [];
    const out: StoredWorker[] = [];
    ids.forEach((id, i) => {
      const at = (k: number) => res[4 * i + k]?.[1];
      out.push({ id, hash: (at(0) ?? {}) as Record<string, string>, heartbeatAlive: at(1) === 1, heldTask: (at(2) as string | null) ?? null, suspect: at(3) === 1 });
    });
    return out;
  }

  async readOne(id: string): Promise<StoredWorker | null> {
    const [w] = await this.readMany([id]);
    return w && Object.keys(w.hash).length > 0 ? w : null;
  }

  /** The worker was heard from: it may get work again. */
  async clearSuspect(id: string): Promise<void> {
    await this.redis.cmd.del(Keys.workerSuspect(id));
  }

  /** Re-checks staleness atomically; a stale worker's task goes back to the queue; `remove` also unregisters it. */
  async releaseIfStale(id: string, cutoffIso: string, backoffCapSec: number, remove: boolean, nowMs: number, fence?: string): Promise<LostWorkerOutcome> {
    const raw = await this.redis.run('release-lost-worker', nowMs, [id, cutoffIso, backoffCapSec, remove ? '1' : '0'], fence);
    return JSON.parse(raw as string) as LostWorkerOutcome;
  }
}
