import { Redis, RedisOptions } from 'ioredis';
import { DispatchMessage, isoNow, workerInboxKey, workerProcessingKey } from '../../src/contracts/protocol';
import * as v1 from './v1-messages';
import { waitFor } from './wait-for';

export { CPU_HW, GPU_HW, type Generation } from './v1-messages';

/** What the worker does once it ran a task: succeed with a result, or fail with an error. */
export type Outcome = { result: unknown } | { error: string };

export type Behaviour =
  /** acknowledge and succeed with `result(msg)` (after `runMs`) */
  | 'succeed'
  /** acknowledge and fail (after `runMs`) */
  | 'fail'
  /** acknowledge, then wait for the test to call succeed()/fail() */
  | 'hold'
  /** hear the dispatch but never acknowledge it: the test drives each step (ack, report, setStatus) */
  | 'ignore'
  /** acknowledge, then succeed or fail as this says (e.g. our worker's "no executor" failure) */
  | ((msg: DispatchMessage) => Outcome);

export interface FakeWorkerOptions {
  id: string;
  /** Event shapes: the MLOC worker at dd27001 (default) or the later one (docs/protocol.md). */
  generation?: v1.Generation;
  hardware?: Record<string, unknown>;
  tags?: string[];
  /** env_json at registration, e.g. `{ executors: ['echo'] }` as our worker advertises them. */
  env?: Record<string, unknown>;
  topic?: string;
  behaviour?: Behaviour;
  /** How long a task runs before the report ('succeed', 'fail', a function). Default 0. */
  runMs?: number;
  heartbeatTtlSec?: number;
  result?: (msg: DispatchMessage) => unknown;
  error?: string;
  /** Heartbeat every this many ms (default: only once, at registration). */
  heartbeatIntervalMs?: number;
  /** 2: the durable variant (docs/protocol.md): inbox list, events on the stream mirrored on v1. */
  protocol?: 1 | 2;
  /** Subscribe to the task topic at start() (default true); false simulates the MLOC worker's start-up window. */
  subscribe?: boolean;
  /** How far this worker's clock is off (ms, positive: ahead). Its timestamps use it. */
  clockOffsetMs?: number;
  /** One task at a time, like the MLOC worker's listen loop: a dispatch heard while busy waits. */
  serial?: boolean;
  /** Send every report twice (a worker that retries its PUBLISH). */
  duplicateReports?: boolean;
  /** Called with every dispatch addressed to this worker, as it arrives. */
  onDispatch?: (msg: DispatchMessage) => void;
  /** Options of its Redis connections (default: a command fails after one retry). */
  redisOptions?: RedisOptions;
}

/**
 * The one emulation of an MLOC worker speaking PROTOCOL v1 (sections 1 and 2), or its durable v2
 * variant, in either event generation, driven by the test: register, heartbeat, acknowledge,
 * succeed or fail on demand or on its own, go silent. Every Redis command comes from
 * v1-messages.ts, which the fault suite's fleet and the bench's simulator use too. With behaviour
 * 'ignore' each protocol step is explicit, so a test can make the worker restart, go IDLE, lose a
 * report, or run with a clock that is off.
 */
export class FakeV1Worker {
  readonly id: string;
  readonly received: DispatchMessage[] = [];
  /** Tasks this worker reported on by itself (succeed/fail behaviours), in order. */
  readonly finished: string[] = [];
  readonly cmd: Redis;
  private readonly sub: Redis;
  private behaviour: Behaviour;
  private readonly topic: string;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private inbox: Redis | null = null;
  private listening = false;
  private readonly attempts = new Map<string, number>();
  private closed = false;
  /** serial: the task in progress (the next dispatch waits for it). */
  private current: Promise<void> = Promise.resolve();
  /** What went wrong in the background (a dispatch handled, an ack or report sent, a heartbeat). */
  readonly errors: Error[] = [];

  constructor(
    redisUrl: string,
    private readonly opts: FakeWorkerOptions,
  ) {
    this.id = opts.id;
    this.cmd = new Redis(redisUrl, { maxRetriesPerRequest: 1, ...opts.redisOptions });
    this.sub = new Redis(redisUrl, { maxRetriesPerRequest: 1, ...opts.redisOptions });
    // Tests restart or pause Redis on purpose; a failed command is reported where it was sent.
    this.cmd.on('error', () => undefined);
    this.sub.on('error', () => undefined);
    this.behaviour = opts.behaviour ?? 'succeed';
    this.topic = opts.topic ?? 'tasks';
  }

  private get w(): v1.WorkerIdentity {
    return { id: this.id, generation: this.opts.generation, hardware: this.opts.hardware, tags: this.opts.tags, env: this.opts.env, protocol: this.opts.protocol };
  }

  private get v2(): boolean {
    return this.opts.protocol === 2;
  }

  /** Now, on the worker's clock. */
  now(): string {
    return isoNow(Date.now() + (this.opts.clockOffsetMs ?? 0));
  }

  setBehaviour(b: Behaviour) {
    this.behaviour = b;
  }

  /** register(), then (unless told not to) listen, then heartbeats every heartbeatIntervalMs. */
  async start(): Promise<this> {
    await this.register();
    if (this.opts.subscribe !== false) await this.listen();
    if (this.opts.heartbeatIntervalMs) this.startHeartbeats(this.opts.heartbeatIntervalMs);
    return this;
  }

  /** PROTOCOL section 1: SADD, HSET (status STARTING), REGISTER; then a heartbeat and IDLE. */
  async register(): Promise<void> {
    await this.send((p) => v1.register(p, this.w, this.now()));
    await this.heartbeat();
    await this.setStatus('IDLE');
  }

  /** Hears dispatches: v1 subscribes to the task topic, v2 takes from the durable inbox. */
  async listen(): Promise<void> {
    if (this.v2) {
      if (this.listening) return;
      this.listening = true;
      void this.takeFromInbox();
      return;
    }
    if (!this.listening) this.sub.on('message', (_channel: string, raw: string) => this.heard(raw));
    this.listening = true;
    await this.sub.subscribe(this.topic);
  }

  /** v2: dispatches come from the durable inbox, one at a time. */
  private async takeFromInbox() {
    this.inbox?.disconnect();
    this.inbox = this.cmd.duplicate();
    this.inbox.on('error', () => undefined);
    while (this.listening) {
      const raw = await this.inbox.blmove(workerInboxKey(this.id), workerProcessingKey(this.id), 'LEFT', 'RIGHT', 0.2).catch((err) => {
        this.background('inbox', err);
        return null;
      });
      if (raw) await this.onDispatch(raw).catch((err) => this.background('dispatch', err));
    }
  }

  /** The commands of one step in one MULTI-less pipeline (one round trip, in order). */
  private async send(step: (p: v1.CommandSink) => void): Promise<void> {
    const p = this.cmd.pipeline();
    step(p);
    const res = (await p.exec()) ?? [];
    const failed = res.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async heartbeat(ttlSec = this.opts.heartbeatTtlSec ?? 120): Promise<void> {
    await this.send((p) => v1.heartbeat(p, this.w, ttlSec, this.now()));
  }

  startHeartbeats(everyMs: number) {
    this.stopHeartbeats();
    this.heartbeatTimer = setInterval(() => void this.heartbeat().catch((err) => this.background('heartbeat', err)), everyMs);
  }

  stopHeartbeats() {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  async setStatus(status: string, extra: Record<string, string> = {}): Promise<void> {
    await this.send((p) => v1.status(p, this.w, status, extra, this.now()));
  }

  private heard(raw: string) {
    const run = () => this.onDispatch(raw).catch((err) => this.background('dispatch', err));
    if (this.opts.serial) this.current = this.current.then(run);
    else void run();
  }

  private async onDispatch(raw: string) {
    let msg: DispatchMessage;
    try {
      msg = JSON.parse(raw) as DispatchMessage;
    } catch {
      return; // not a dispatch (the topic is shared)
    }
    if (msg.assigned_worker !== this.id) return;
    this.received.push(msg);
    this.opts.onDispatch?.(msg);
    if (msg.attempt) this.attempts.set(msg.task_id, msg.attempt);
    const behaviour = this.behaviour;
    if (behaviour === 'ignore') return;
    await this.ack(msg.task_id, msg);
    if (behaviour === 'hold') return;
    if (this.opts.runMs) await new Promise((r) => setTimeout(r, this.opts.runMs));
    const outcome: Outcome =
      typeof behaviour === 'function' ? behaviour(msg) : behaviour === 'fail' ? { error: this.opts.error ?? 'boom' } : { result: this.opts.result ? this.opts.result(msg) : {} };
    if ('error' in outcome) await this.fail(msg.task_id, outcome.error);
    else await this.succeed(msg.task_id, outcome.result);
    this.finished.push(msg.task_id);
  }

  /**
   * The acknowledgement: STATUS RUNNING with the task; v2 also a TASK_STARTED on the stream, the
   * later generation a TASK_STARTED on tasks.events.
   */
  async ack(taskId: string, msg?: DispatchMessage): Promise<void> {
    const startedAt = this.now();
    await this.setStatus('RUNNING', { task_id: taskId });
    if (this.v2) await this.report('TASK_STARTED', taskId);
    else if (this.opts.generation === 'later') {
      await this.report('TASK_STARTED', taskId, { payload: { taskType: msg?.task_type ?? null, dispatched_at: msg?.dispatched_at ?? null, started_at: startedAt } });
    }
  }

  /** Steps 4 and 5 of "What a v1 worker does with a dispatch": the report, then IDLE with extra.last_task. */
  async succeed(taskId: string, result: unknown = {}, attempt?: number): Promise<void> {
    await this.report('TASK_SUCCEEDED', taskId, { result }, attempt);
    if (this.opts.duplicateReports) await this.report('TASK_SUCCEEDED', taskId, { result }, attempt);
    await this.setStatus('IDLE', { last_task: taskId });
  }

  async fail(taskId: string, error = 'boom', attempt?: number): Promise<void> {
    await this.report('TASK_FAILED', taskId, { error }, attempt);
    if (this.opts.duplicateReports) await this.report('TASK_FAILED', taskId, { error }, attempt);
    await this.setStatus('IDLE', { last_task: taskId });
  }

  /**
   * A task event alone (without the IDLE that normally follows). v1: PUBLISH on tasks.events. v2:
   * XADD on the stream with the attempt, mirrored on tasks.events; a report also takes the
   * dispatch off the worker's processing list.
   */
  async report(type: v1.ReportType | string, taskId: string, body: Record<string, unknown> = {}, attempt?: number): Promise<void> {
    const a = this.v2 ? (attempt ?? this.attempts.get(taskId)) : undefined;
    await this.send((p) => v1.report(p, this.w, type, taskId, body, this.now(), a));
    if (this.v2 && type !== 'TASK_STARTED') {
      for (const m of await this.cmd.lrange(workerProcessingKey(this.id), 0, -1)) {
        if (m.includes(taskId)) await this.cmd.lrem(workerProcessingKey(this.id), 0, m);
      }
    }
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
    if (this.v2) this.listening = false;
    await this.sub.unsubscribe();
  }

  async unregister(): Promise<void> {
    this.stopHeartbeats();
    await this.send((p) => v1.unregister(p, this.w, this.now()));
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
