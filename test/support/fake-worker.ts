import { Redis } from 'ioredis';
import {
  DispatchMessage,
  EVENTS_STREAM_KEY,
  EVENTS_STREAM_MAXLEN,
  workerInboxKey,
  workerProcessingKey,
  isoNow,
  TASKS_EVENTS_CHANNEL,
  WORKER_IDS_KEY,
  workerHeartbeatKey,
  workerKey,
  WORKERS_EVENTS_CHANNEL,
} from '../../src/contracts/protocol';
import { waitFor } from './wait-for';

export type Behaviour =
  /** acknowledge and succeed at once with `result(msg)` */
  | 'succeed'
  /** acknowledge and fail at once */
  | 'fail'
  /** acknowledge, then wait for the test to call succeed()/fail() */
  | 'hold'
  /** hear the dispatch but never acknowledge it */
  | 'ignore';

export interface FakeWorkerOptions {
  id: string;
  hardware?: Record<string, unknown>;
  tags?: string[];
  topic?: string;
  behaviour?: Behaviour;
  heartbeatTtlSec?: number;
  result?: (msg: DispatchMessage) => unknown;
  error?: string;
  /** Heartbeat every this many ms (default: only once, at registration). */
  heartbeatIntervalMs?: number;
  /** 2: the durable variant (docs/protocol.md): inbox list, events on the stream mirrored on v1. */
  protocol?: 1 | 2;
  /** Subscribe to the task topic (default true); false simulates the MLOC worker's start-up window. */
  subscribe?: boolean;
}

export const CPU_HW = (cores = 8, memGi = 32) => ({ cpu: { logical_cores: cores, model: 'x86_64' }, memory: { total_bytes: memGi * 2 ** 30 } });
export const GPU_HW = (gpus: string[], cores = 16, memGi = 64, vramGi: number | null = 80) => ({
  ...CPU_HW(cores, memGi),
  gpu: { driver_version: '550.54', cuda_version: '12.4', gpus: gpus.map((name, index) => ({ index, name, uuid: `GPU-${index}`, memory_bytes: vramGi === null ? null : vramGi * 2 ** 30 })) },
});

/**
 * A worker that speaks PROTOCOL v1 exactly as the MLOC Python worker does (sections 1 and 2),
 * driven by the test: register, heartbeat, acknowledge, succeed or fail on demand, go silent.
 */
export class FakeV1Worker {
  readonly id: string;
  readonly received: DispatchMessage[] = [];
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private behaviour: Behaviour;
  private readonly topic: string;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private inbox: Redis | null = null;
  private listening = false;
  private readonly attempts = new Map<string, number>();
  private closed = false;
  /** What went wrong in the background (a dispatch handled, an ack or report sent, a heartbeat). */
  readonly errors: Error[] = [];

  constructor(
    redisUrl: string,
    private readonly opts: FakeWorkerOptions,
  ) {
    this.id = opts.id;
    this.cmd = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    this.behaviour = opts.behaviour ?? 'succeed';
    this.topic = opts.topic ?? 'tasks';
  }

  setBehaviour(b: Behaviour) {
    this.behaviour = b;
  }

  /** Registration in the order of PROTOCOL section 1, then IDLE, then (unless told not to) subscribe. */
  async start(): Promise<this> {
    const now = isoNow();
    await this.cmd.sadd(WORKER_IDS_KEY, this.id);
    await this.cmd.hset(workerKey(this.id), {
      worker_id: this.id,
      status: 'STARTING',
      started_at: now,
      pid: String(process.pid),
      env_json: JSON.stringify({ python: '3.11', fake: true }),
      hardware_json: JSON.stringify(this.opts.hardware ?? CPU_HW()),
      tags_json: JSON.stringify(this.opts.tags ?? []),
      last_seen: now,
      ...(this.v2 ? { protocol: '2' } : {}),
    });
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, JSON.stringify({ type: 'REGISTER', worker_id: this.id, status: 'STARTING', ts: now, tags: this.opts.tags ?? [], ...(this.v2 ? { protocol: 2 } : {}) }));
    await this.heartbeat();
    await this.setStatus('IDLE');
    if (this.opts.subscribe !== false) await this.listen();
    if (this.opts.heartbeatIntervalMs) {
      this.heartbeatTimer = setInterval(() => void this.heartbeat().catch((err) => this.background('heartbeat', err)), this.opts.heartbeatIntervalMs);
    }
    return this;
  }

  private get v2(): boolean {
    return this.opts.protocol === 2;
  }

  async listen(): Promise<void> {
    if (this.v2) {
      this.listening = true;
      void this.takeFromInbox();
      return;
    }
    this.sub.on('message', (_channel: string, raw: string) => void this.onDispatch(raw).catch((err) => this.background('dispatch', err)));
    await this.sub.subscribe(this.topic);
  }

  /** v2: dispatches come from the durable inbox, one at a time. */
  private async takeFromInbox() {
    this.inbox = this.cmd.duplicate();
    while (this.listening) {
      const raw = await this.inbox.blmove(workerInboxKey(this.id), workerProcessingKey(this.id), 'LEFT', 'RIGHT', 0.2).catch((err) => {
        this.background('inbox', err);
        return null;
      });
      if (raw) await this.onDispatch(raw).catch((err) => this.background('dispatch', err));
    }
  }

  async heartbeat(ttlSec = this.opts.heartbeatTtlSec ?? 120): Promise<void> {
    const now = isoNow();
    await this.cmd.setex(workerHeartbeatKey(this.id), Math.max(1, Math.ceil(ttlSec)), now);
    await this.cmd.hset(workerKey(this.id), 'last_seen', now);
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, JSON.stringify({ type: 'HEARTBEAT', worker_id: this.id, ts: now, metrics: { loadavg: { '1m': 0.1, '5m': 0.1, '15m': 0.1 } } }));
  }

  async setStatus(status: string, extra: Record<string, string> = {}): Promise<void> {
    const now = isoNow();
    const fields: Record<string, string> = { status, last_seen: now };
    for (const [k, v] of Object.entries(extra)) fields[`extra_${k}`] = v;
    await this.cmd.hset(workerKey(this.id), fields);
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, JSON.stringify({ type: 'STATUS', worker_id: this.id, status, ts: now, extra }));
  }

  private async onDispatch(raw: string) {
    const msg = JSON.parse(raw) as DispatchMessage;
    if (msg.assigned_worker !== this.id) return;
    this.received.push(msg);
    if (msg.attempt) this.attempts.set(msg.task_id, msg.attempt);
    if (this.behaviour === 'ignore') return;
    await this.ack(msg.task_id);
    if (this.behaviour === 'succeed') await this.succeed(msg.task_id, this.opts.result ? this.opts.result(msg) : {});
    else if (this.behaviour === 'fail') await this.fail(msg.task_id, this.opts.error ?? 'boom');
  }

  async ack(taskId: string): Promise<void> {
    await this.setStatus('RUNNING', { task_id: taskId });
    if (this.v2) await this.report({ type: 'TASK_STARTED', task_id: taskId });
  }

  /** Steps 4 and 5 of "What a v1 worker does with a dispatch". */
  async succeed(taskId: string, result: unknown = {}, attempt?: number): Promise<void> {
    await this.report({ type: 'TASK_SUCCEEDED', task_id: taskId, result }, attempt);
    await this.setStatus('IDLE', { last_task: taskId });
  }

  async fail(taskId: string, error = 'boom', attempt?: number): Promise<void> {
    await this.report({ type: 'TASK_FAILED', task_id: taskId, error }, attempt);
    await this.setStatus('IDLE', { last_task: taskId });
  }

  /** v1: PUBLISH on tasks.events. v2: XADD on the stream with the attempt, mirrored on tasks.events. */
  private async report(ev: Record<string, unknown>, attempt?: number) {
    const body: Record<string, unknown> = { ...ev, worker_id: this.id, ts: isoNow() };
    if (this.v2) {
      Object.assign(body, { protocol: 2, attempt: attempt ?? this.attempts.get(String(ev.task_id)) });
      await this.cmd.xadd(EVENTS_STREAM_KEY, 'MAXLEN', '~', EVENTS_STREAM_MAXLEN, '*', 'event', JSON.stringify(body));
      if (ev.type !== 'TASK_STARTED') {
        for (const m of await this.cmd.lrange(workerProcessingKey(this.id), 0, -1)) {
          if (m.includes(String(ev.task_id))) await this.cmd.lrem(workerProcessingKey(this.id), 0, m);
        }
      }
    }
    if (ev.type !== 'TASK_STARTED') await this.cmd.publish(TASKS_EVENTS_CHANNEL, JSON.stringify(body));
  }

  /**
   * Errors after close() (the test tearing the stack down) are expected; any other is kept, printed
   * at once, and fails the waits of this worker and TestStack.stop(), instead of showing only as a
   * timeout somewhere else.
   */
  private background(what: string, err: unknown) {
    if (this.closed) return;
    const e = new Error(`fake worker ${this.id}: ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    this.errors.push(e);
    process.stderr.write(`${e.message}\n`);
  }

  /** The first background error, if any (for waitFor's `abort`). */
  failure(): Error | null {
    return this.errors[0] ?? null;
  }

  async waitForDispatch(n = 1, timeoutMs = 10_000): Promise<DispatchMessage> {
    await waitFor(() => this.received.length >= n, { timeoutMs, what: `${n} dispatch(es) to ${this.id}`, abort: () => this.failure() });
    return this.received[n - 1];
  }

  /** Stops heartbeating and listening, as a process that died would (its keys stay). */
  async goSilent(): Promise<void> {
    this.stopHeartbeats();
    this.listening = false;
    await this.sub.unsubscribe();
  }

  async unregister(): Promise<void> {
    this.stopHeartbeats();
    await this.cmd.srem(WORKER_IDS_KEY, this.id);
    await this.cmd.del(workerKey(this.id), workerHeartbeatKey(this.id));
    await this.cmd.publish(WORKERS_EVENTS_CHANNEL, JSON.stringify({ type: 'UNREGISTER', worker_id: this.id }));
  }

  private stopHeartbeats() {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopHeartbeats();
    this.listening = false;
    this.inbox?.disconnect();
    this.sub.disconnect();
    this.cmd.disconnect();
  }
}
