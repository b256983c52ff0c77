/**
 * The worker's side of PROTOCOL v1 (sections 1 and 2): registry entry, heartbeats, status changes,
 * task reports, unregistration. Every key, channel and field comes from contracts/protocol.ts, the
 * file the orchestrator reads them with, so the two cannot drift apart.
 */
import { loadavg } from 'node:os';
import type { Redis } from 'ioredis';
import {
  HardwareInfo,
  isoNow,
  TASKS_EVENTS_CHANNEL,
  WORKER_IDS_KEY,
  WorkerEvent,
  workerHeartbeatKey,
  workerKey,
  WORKERS_EVENTS_CHANNEL,
  WorkerTaskEvent,
} from '../contracts/protocol';

export interface Registration {
  hardware: HardwareInfo;
  tags: string[];
  env: Record<string, unknown>;
  startedAt: string;
}

/** A task outcome, reported on `tasks.events`. */
export type TaskReport =
  | { taskId: string; attempt?: number; ok: true; result: unknown }
  | { taskId: string; attempt?: number; ok: false; error: string };

export class ProtocolClient {
  constructor(
    private readonly redis: Redis,
    readonly workerId: string,
    private readonly heartbeatTtlSec: number,
  ) {}

  /**
   * Registration in the order of PROTOCOL section 1 (SADD, HSET with status STARTING, REGISTER
   * event), then a first heartbeat so that the orchestrator never sees us without a live
   * heartbeat key, then IDLE. Sent as one MULTI so nobody reads a half-written entry.
   */
  async register(reg: Registration): Promise<void> {
    const now = isoNow();
    const id = this.workerId;
    const register: WorkerEvent = { type: 'REGISTER', worker_id: id, status: 'STARTING', ts: now, tags: reg.tags };
    await this.redis
      .multi()
      .sadd(WORKER_IDS_KEY, id)
      .hset(workerKey(id), {
        worker_id: id,
        status: 'STARTING',
        started_at: reg.startedAt,
        pid: String(process.pid),
        env_json: JSON.stringify(reg.env),
        hardware_json: JSON.stringify(reg.hardware),
        tags_json: JSON.stringify(reg.tags),
        last_seen: now,
      })
      .publish(WORKERS_EVENTS_CHANNEL, JSON.stringify(register))
      .exec();
    await this.heartbeat();
  }

  /**
   * SETEX of the heartbeat key, `last_seen`, a HEARTBEAT event with the load average. Resolves
   * false when our registry entry is gone (a cleanup removed us while we were unreachable, or
   * Redis lost its data): the caller then registers again.
   */
  async heartbeat(): Promise<boolean> {
    const now = isoNow();
    const [l1, l5, l15] = loadavg();
    const event: WorkerEvent = { type: 'HEARTBEAT', worker_id: this.workerId, ts: now, metrics: { loadavg: { '1m': l1, '5m': l5, '15m': l15 } } };
    const replies = await this.redis
      .multi()
      .sismember(WORKER_IDS_KEY, this.workerId)
      .setex(workerHeartbeatKey(this.workerId), Math.ceil(this.heartbeatTtlSec), now)
      .hset(workerKey(this.workerId), 'last_seen', now)
      .publish(WORKERS_EVENTS_CHANNEL, JSON.stringify(event))
      .exec();
    return replies?.[0]?.[1] === 1;
  }

  /** `HSET status last_seen [extra_<k> ...]` and a STATUS event (PROTOCOL section 1). */
  async setStatus(status: string, extra: Record<string, string> = {}): Promise<void> {
    const now = isoNow();
    const fields: Record<string, string> = { status, last_seen: now };
    for (const [k, v] of Object.entries(extra)) fields[`extra_${k}`] = v;
    const event: WorkerEvent = { type: 'STATUS', worker_id: this.workerId, status, ts: now, extra };
    await this.redis.multi().hset(workerKey(this.workerId), fields).publish(WORKERS_EVENTS_CHANNEL, JSON.stringify(event)).exec();
  }

  /**
   * TASK_SUCCEEDED or TASK_FAILED. `attempt` is echoed when the dispatch carried one: v1 readers
   * ignore it, and the orchestrator uses it to recognise a late answer from an earlier attempt.
   */
  async report(r: TaskReport): Promise<void> {
    const base = { worker_id: this.workerId, task_id: r.taskId, ts: isoNow(), ...(r.attempt !== undefined ? { attempt: r.attempt } : {}) };
    const event: WorkerTaskEvent = r.ok ? { type: 'TASK_SUCCEEDED', ...base, result: r.result } : { type: 'TASK_FAILED', ...base, error: r.error };
    await this.redis.publish(TASKS_EVENTS_CHANNEL, JSON.stringify(event));
  }

  /** Clean shutdown: SREM, DEL of the entry and the heartbeat key, UNREGISTER event. */
  async unregister(): Promise<void> {
    const id = this.workerId;
    const event: WorkerEvent = { type: 'UNREGISTER', worker_id: id, ts: isoNow() };
    await this.redis
      .multi()
      .srem(WORKER_IDS_KEY, id)
      .del(workerKey(id), workerHeartbeatKey(id))
      .publish(WORKERS_EVENTS_CHANNEL, JSON.stringify(event))
      .exec();
  }
}
