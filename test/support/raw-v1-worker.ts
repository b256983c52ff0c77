import { Redis } from 'ioredis';
import {
  DispatchMessage,
  TASKS_EVENTS_CHANNEL,
  WORKER_IDS_KEY,
  workerHeartbeatKey,
  workerKey,
  WORKERS_EVENTS_CHANNEL,
} from '../../src/contracts/protocol';
import { waitFor } from './wait-for';

export interface RawWorkerOptions {
  /** How far this worker's clock is off (ms, positive: ahead). Its timestamps use it. */
  clockOffsetMs?: number;
  /** TTL the worker gives its heartbeat key (s). */
  heartbeatTtlSec?: number;
  hardware?: Record<string, unknown>;
  topic?: string;
}

/**
 * A v1 worker driven step by step with plain Redis commands, exactly as PROTOCOL.md v1 lays them
 * out: every step is explicit, so tests can make it restart, go IDLE, lose a report, or run with a
 * clock that is off.
 */
export class RawV1Worker {
  readonly received: DispatchMessage[] = [];
  readonly cmd: Redis;
  private readonly sub: Redis;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    redisUrl: string,
    readonly id: string,
    private readonly opts: RawWorkerOptions = {},
  ) {
    this.cmd = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.cmd.on('error', () => undefined);
    this.sub.on('error', () => undefined);
  }

  /** Now, on the worker's clock. */
  now(): string {
    return new Date(Date.now() + (this.opts.clockOffsetMs ?? 0)).toISOString();
  }

  async listen(): Promise<void> {
    this.sub.on('message', (_c: string, raw: string) => {
      const msg = JSON.parse(raw) as DispatchMessage;
      if (msg.assigned_worker === this.id) this.received.push(msg);
    });
    await this.sub.subscribe(this.opts.topic ?? 'tasks');
  }

  /** PROTOCOL section 1: SADD, HSET (status STARTING), REGISTER; then a heartbeat and IDLE. */
  async register(): Promise<void> {
    const now = this.now();
    await this.cmd.sadd(WORKER_IDS_KEY, this.id);
    await this.cmd.hset(workerKey(this.id), {
      worker_id: this.id,
      status: 'STARTING',
      started_at: now,
      pid: String(Math.floor(Math.random() * 100000)),
      env_json: '{}',
      hardware_json: JSON.stringify(this.opts.hardware ?? { cpu: { logical_cores: 8 }, memory: { total_bytes: 32 * 2 ** 30 } }),
      tags_json: '[]',
      last_seen: now,
    });
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, JSON.stringify({ type: 'REGISTER', worker_id: this.id, status: 'STARTING', ts: now, tags: [] }));
    await this.heartbeat();
    await this.setStatus('IDLE');
  }

  async heartbeat(): Promise<void> {
    const now = this.now();
    await this.cmd.setex(workerHeartbeatKey(this.id), this.opts.heartbeatTtlSec ?? 120, now);
    await this.cmd.hset(workerKey(this.id), 'last_seen', now);
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, JSON.stringify({ type: 'HEARTBEAT', worker_id: this.id, ts: now }));
  }

  startHeartbeats(everyMs: number) {
    this.timer = setInterval(() => void this.heartbeat().catch(() => undefined), everyMs);
  }

  stopHeartbeats() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async setStatus(status: string, extra: Record<string, string> = {}): Promise<void> {
    const now = this.now();
    const fields: Record<string, string> = { status, last_seen: now };
    for (const [k, v] of Object.entries(extra)) fields[`extra_${k}`] = v;
    await this.cmd.hset(workerKey(this.id), fields);
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, JSON.stringify({ type: 'STATUS', worker_id: this.id, status, ts: now, extra }));
  }

  /** The v1 acknowledgement: STATUS RUNNING with extra.task_id. */
  ack(taskId: string): Promise<void> {
    return this.setStatus('RUNNING', { task_id: taskId });
  }

  /** TASK_SUCCEEDED / TASK_FAILED on tasks.events (without the IDLE that normally follows). */
  async report(type: 'TASK_SUCCEEDED' | 'TASK_FAILED', taskId: string, body: Record<string, unknown> = {}): Promise<void> {
    await this.cmd.publish(TASKS_EVENTS_CHANNEL, JSON.stringify({ type, worker_id: this.id, task_id: taskId, ts: this.now(), ...body }));
  }

  /** What a v1 worker does after a task: its report, then IDLE with extra.last_task. */
  async succeed(taskId: string, result: unknown = {}): Promise<void> {
    await this.report('TASK_SUCCEEDED', taskId, { result });
    await this.setStatus('IDLE', { last_task: taskId });
  }

  async waitForDispatch(n = 1, timeoutMs = 10_000): Promise<DispatchMessage> {
    await waitFor(() => this.received.length >= n, { timeoutMs, what: `${n} dispatch(es) to ${this.id}` });
    return this.received[n - 1];
  }

  close() {
    this.stopHeartbeats();
    this.sub.disconnect();
    this.cmd.disconnect();
  }
}
