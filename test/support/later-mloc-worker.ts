import { Redis } from 'ioredis';
import { DispatchMessage, isoNow, TASKS_EVENTS_CHANNEL, WORKER_IDS_KEY, workerHeartbeatKey, workerKey, WORKERS_EVENTS_CHANNEL } from '../../src/contracts/protocol';
import { CPU_HW } from './fake-worker';

/**
 * The later MLOC worker (the kv.run worker after dd27001), as far as the orchestrator sees it:
 * the v1 registry keys, but events built from one model that carries every key (with nulls),
 * STATUS with the task in `payload` rather than `extra`, a TASK_STARTED on tasks.events before it
 * runs, and a TASK_SUCCEEDED without `result` (its result goes over HTTP).
 */
export class LaterMlocWorker {
  readonly received: DispatchMessage[] = [];
  readonly finished: string[] = [];
  private readonly cmd: Redis;
  private readonly sub: Redis;

  constructor(
    redisUrl: string,
    readonly id: string,
    private readonly opts: { runMs: number; topic?: string; fail?: boolean },
  ) {
    this.cmd = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  }

  /** One event of the worker's model: every key present, null where it has nothing to say. */
  private event(type: string, fields: Record<string, unknown>): string {
    return JSON.stringify({ type, worker_id: this.id, task_id: null, status: null, tags: null, metrics: null, payload: null, result: null, error: null, ts: isoNow(), ...fields });
  }

  async start(): Promise<this> {
    const now = isoNow();
    await this.cmd.sadd(WORKER_IDS_KEY, this.id);
    await this.cmd.hset(workerKey(this.id), {
      worker_id: this.id,
      status: 'STARTING',
      started_at: now,
      pid: String(process.pid),
      env_json: JSON.stringify({ python: '3.12' }),
      hardware_json: JSON.stringify(CPU_HW()),
      tags_json: '[]',
      last_seen: now,
    });
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, this.event('REGISTER', { status: 'STARTING' }));
    await this.cmd.setex(workerHeartbeatKey(this.id), 120, now);
    await this.status('IDLE', null);
    this.sub.on('message', (_channel: string, raw: string) => void this.onDispatch(raw));
    await this.sub.subscribe(this.opts.topic ?? 'tasks');
    return this;
  }

  private async status(status: string, taskId: string | null) {
    await this.cmd.hset(workerKey(this.id), { status, last_seen: isoNow() });
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, this.event('STATUS', { status, metrics: {}, payload: taskId ? { task_id: taskId } : null }));
  }

  private async onDispatch(raw: string) {
    const msg = JSON.parse(raw) as DispatchMessage;
    if (msg.assigned_worker !== this.id) return;
    this.received.push(msg);
    const startedAt = isoNow();
    await this.status('RUNNING', msg.task_id);
    await this.cmd.publish(TASKS_EVENTS_CHANNEL, this.event('TASK_STARTED', { task_id: msg.task_id, payload: { taskType: msg.task_type, dispatched_at: msg.dispatched_at, started_at: startedAt } }));
    await new Promise((r) => setTimeout(r, this.opts.runMs));
    const report = this.opts.fail ? this.event('TASK_FAILED', { task_id: msg.task_id, error: 'boom' }) : this.event('TASK_SUCCEEDED', { task_id: msg.task_id });
    await this.cmd.publish(TASKS_EVENTS_CHANNEL, report);
    this.finished.push(msg.task_id);
    await this.status('IDLE', null);
  }

  /** Publishes a raw event on tasks.events as this worker would. */
  async publishTaskEvent(type: string, fields: Record<string, unknown>): Promise<void> {
    await this.cmd.publish(TASKS_EVENTS_CHANNEL, this.event(type, fields));
  }

  async close(): Promise<void> {
    this.sub.disconnect();
    this.cmd.disconnect();
  }
}
