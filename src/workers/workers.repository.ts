import { Injectable, Logger } from '@nestjs/common';
import { isValidWorkerId, WORKER_IDS_KEY, workerHeartbeatKey, workerKey } from '../contracts/protocol';
import type { StoredWorker } from '../contracts/worker-view';
import { Keys } from '../redis/keys';
import { RedisService } from '../redis/redis.service';

export interface LostWorkerOutcome {
  stale: boolean;
  task?: string | null;
  outcome?: string | null;
  removed?: boolean;
}

const READ_CHUNK = 500;
/** Commands per worker in a registry read: HGETALL, PTTL, GET holder, EXISTS suspect, SISMEMBER draining. */
const FIELDS_PER_WORKER = 5;
/** Invalid ids are logged once each, up to this many (a flood of them must not flood the log). */
const LOGGED_INVALID_IDS = 1000;

/** The v1 worker registry (PROTOCOL section 1) plus our holder locks. Used by this module only: others go through WorkersService. */
@Injectable()
export class WorkersRepository {
  private readonly log = new Logger('Workers');
  private readonly loggedInvalid = new Set<string>();

  constructor(private readonly redis: RedisService) {}

  /** The registered ids that obey the worker-id rule; the others are ignored (and logged once). */
  async ids(): Promise<string[]> {
    return (await this.redis.cmd.smembers(WORKER_IDS_KEY)).filter((id) => this.checkId(id, WORKER_IDS_KEY));
  }

  /**
   * Whether `id` obeys the worker-id rule (contracts/protocol.ts isValidWorkerId). An id that does
   * not is never put into a key name: it could name another worker's keys.
   */
  checkId(id: unknown, where: string): id is string {
    if (isValidWorkerId(id)) return true;
    const shown = JSON.stringify(String(id).slice(0, 200));
    if (this.loggedInvalid.size < LOGGED_INVALID_IDS && !this.loggedInvalid.has(shown)) {
      this.loggedInvalid.add(shown);
      this.log.warn(`ignored a worker id that breaks the id rule (from ${where}): ${shown}`, { workerId: shown });
    }
    return false;
  }

  async readAll(): Promise<StoredWorker[]> {
    return this.readMany(await this.ids());
  }

  /** Read in chunks, so a large fleet never holds the shared connection in one huge pipeline. */
  async readMany(ids: string[]): Promise<StoredWorker[]> {
    ids = ids.filter((id) => this.checkId(id, 'registry read'));
    const out: StoredWorker[] = [];
    for (let i = 0; i < ids.length; i += READ_CHUNK) out.push(...(await this.readChunk(ids.slice(i, i + READ_CHUNK))));
    return out;
  }

  private async readChunk(ids: string[]): Promise<StoredWorker[]> {
    if (ids.length === 0) return [];
    const pipe = this.redis.cmd.pipeline();
    for (const id of ids) pipe.hgetall(workerKey(id)).pttl(workerHeartbeatKey(id)).get(Keys.workerTask(id)).exists(Keys.workerSuspect(id)).sismember(Keys.draining, id);
    const sentMs = Date.now();
    const res = (await pipe.exec()) ?? [];
    const out: StoredWorker[] = [];
    ids.forEach((id, i) => {
      const at = (k: number) => res[FIELDS_PER_WORKER * i + k]?.[1];
      // PTTL: -2 no key, -1 no expiry, else the milliseconds left.
      const pttl = typeof at(1) === 'number' ? (at(1) as number) : -2;
      out.push({
        id,
        hash: (at(0) ?? {}) as Record<string, string>,
        heartbeatAlive: pttl !== -2,
        heartbeatExpiresAtMs: pttl >= 0 ? sentMs + pttl : null,
        heldTask: (at(2) as string | null) ?? null,
        suspect: at(3) === 1,
        draining: at(4) === 1,
      });
    });
    return out;
  }

  /** One worker's entry; null when there is none, or when `id` breaks the id rule. */
  async readOne(id: string): Promise<StoredWorker | null> {
    if (!isValidWorkerId(id)) return null;
    const [w] = await this.readMany([id]);
    return w && Object.keys(w.hash).length > 0 ? w : null;
  }

  /** The drained workers (Keys.draining), one SMEMBERS. */
  drainingIds(): Promise<string[]> {
    return this.redis.cmd.smembers(Keys.draining);
  }

  /** Drains (or undrains) a worker; true when that changed its state. Kept in the orchestrator's own set, never in the v1 worker's hash. */
  async setDraining(id: string, draining: boolean): Promise<boolean> {
    if (!this.checkId(id, 'drain')) return false;
    return (draining ? await this.redis.cmd.sadd(Keys.draining, id) : await this.redis.cmd.srem(Keys.draining, id)) === 1;
  }

  /** The worker was heard from: it may get work again. */
  async clearSuspect(id: string): Promise<void> {
    if (!this.checkId(id, 'clearSuspect')) return;
    await this.redis.cmd.del(Keys.workerSuspect(id));
  }

  /** Re-checks staleness atomically; a stale worker's task goes back to the queue; `remove` also unregisters it. */
  async releaseIfStale(id: string, cutoffIso: string, backoffCapSec: number, remove: boolean, nowMs: number, fence?: string): Promise<LostWorkerOutcome> {
    if (!this.checkId(id, 'lost-worker check')) return { stale: false };
    const raw = await this.redis.run('release-lost-worker', nowMs, [id, cutoffIso, backoffCapSec, remove ? '1' : '0'], fence);
    return JSON.parse(raw as string) as LostWorkerOutcome;
  }
}
