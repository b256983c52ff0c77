/**
 * The worker process: subscribe, register, heartbeat, run dispatches one at a time, and shut down
 * cleanly. Protocol details live in protocol-client.ts, one task's lifecycle in task-runner.ts.
 */
import { arch, hostname, platform } from 'node:os';
import { Redis } from 'ioredis';
import { DispatchMessage, HardwareInfo, isoNow } from '../contracts/protocol';
import { redactRedisUrl } from '../config/env';
import type { WorkerConfig } from './config';
import type { ExecutorRegistry } from './executors/executor';
import { applyOverride, detectHardware } from './hardware';
import { errorMessage, Logger } from './logger';
import { ProtocolClient } from './protocol-client';
import { SHUTDOWN_ERROR, STOPPING_STATUS, TaskRunner } from './task-runner';

export interface WorkerOptions {
  registry: ExecutorRegistry;
  log: Logger;
  /** Hardware detection (tests replace it); WORKER_HARDWARE_JSON is merged over its result. */
  detectHardware?: () => Promise<HardwareInfo>;
}

/** A shutdown step that cannot finish in this time (Redis unreachable) is given up. */
const SHUTDOWN_STEP_TIMEOUT_MS = 5000;
/** Redis connection errors repeat on every reconnect attempt; log them at most this often. */
const REDIS_ERROR_LOG_INTERVAL_MS = 10_000;

export class Worker {
  readonly id: string;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly protocol: ProtocolClient;
  private readonly runner: TaskRunner;
  private readonly log: Logger;
  private readonly shutdown = new AbortController();
  private readonly queue: DispatchMessage[] = [];
  private current: DispatchMessage | null = null;
  private draining: Promise<void> | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeating = false;
  private hardware: HardwareInfo = {};
  private readonly startedAt = isoNow();
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly config: WorkerConfig,
    private readonly opts: WorkerOptions,
  ) {
    this.id = config.workerId;
    this.log = opts.log;
    // No retry limit per command: a report or status change waits out a Redis restart instead of being lost.
    const redisOptions = { maxRetriesPerRequest: null, connectionName: `mloc-worker:${this.id}` };
    this.cmd = new Redis(config.redisUrl, redisOptions);
    this.sub = new Redis(config.redisUrl, redisOptions);
    for (const [name, conn] of [['commands', this.cmd], ['subscriber', this.sub]] as const) this.watchConnection(name, conn);
    this.protocol = new ProtocolClient(this.cmd, this.id, config.heartbeatTtlSec);
    this.runner = new TaskRunner({
      protocol: this.protocol,
      registry: opts.registry,
      resultsDir: config.resultsDir,
      settings: { openaiBaseUrl: config.openaiBaseUrl, openaiApiKey: config.openaiApiKey },
      log: opts.log,
    });
  }

  /**
   * Subscribes to the task topic first, then registers and turns IDLE: unlike the MLOC worker
   * (PROTOCOL section 6), no dispatch can arrive in a window where nobody listens.
   */
  start(): Promise<void> {
    this.starting ??= this.startUp();
    return this.starting;
  }

  private async startUp(): Promise<void> {
    this.sub.on('message', (channel: string, raw: string) => {
      if (channel === this.config.taskTopic) this.onDispatch(raw);
    });
    await this.sub.subscribe(this.config.taskTopic);
    this.hardware = applyOverride(await (this.opts.detectHardware ?? detectHardware)(), this.config.hardwareOverride);
    await this.register();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.config.heartbeatIntervalSec * 1000);
    this.log.info('worker ready', {
      workerId: this.id,
      redis: redactRedisUrl(this.config.redisUrl),
      topic: this.config.taskTopic,
      resultsDir: this.config.resultsDir,
      executors: this.opts.registry.types(),
      hardware: this.hardware,
    });
  }

  /**
   * Stops taking work, reports the task in progress (and any waiting) as failed with "worker
   * shutting down" so that they are retried elsewhere at once, unregisters, closes Redis.
   * Idempotent: every call returns the same promise.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    this.log.info('shutting down', { workerId: this.id, task: this.current?.task_id ?? null });
    // A signal during start-up: let registration finish first, so that unregistering undoes it.
    if (this.starting) await this.step('start-up', this.starting);
    await this.step('status STOPPING', this.protocol.setStatus(STOPPING_STATUS));
    await this.step('unsubscribe', this.sub.unsubscribe());
    this.shutdown.abort();
    for (const msg of this.queue.splice(0)) await this.step(`report ${msg.task_id}`, this.failUnstarted(msg));
    await this.draining;
    this.stopHeartbeats();
    await this.step('unregister', this.protocol.unregister());
    this.sub.disconnect();
    await this.step('close', this.cmd.quit());
    this.cmd.disconnect();
    this.log.info('worker stopped', { workerId: this.id });
  }

  private async register(): Promise<void> {
    await this.protocol.register({
      hardware: this.hardware,
      tags: this.config.tags,
      startedAt: this.startedAt,
      env: {
        runtime: 'node',
        node_version: process.version,
        platform: platform(),
        arch: arch(),
        hostname: hostname(),
        worker: 'mloc-worker (TypeScript)',
        executors: this.opts.registry.types(),
        task_topic: this.config.taskTopic,
        results_dir: this.config.resultsDir,
        heartbeat_interval_sec: this.config.heartbeatIntervalSec,
      },
    });
    if (this.current) await this.protocol.setStatus('RUNNING', { task_id: this.current.task_id });
    else await this.protocol.setStatus('IDLE');
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeating) return;
    this.heartbeating = true;
    try {
      const registered = await this.protocol.heartbeat();
      if (!registered && !this.stopping) {
        this.log.warn('our registry entry is gone (cleaned up as stale, or Redis lost its data); registering again', { workerId: this.id });
        await this.register();
      }
    } catch (err) {
      this.log.warn(`heartbeat failed: ${errorMessage(err)}`, { workerId: this.id });
    } finally {
      this.heartbeating = false;
    }
  }

  private onDispatch(raw: string): void {
    const msg = parseDispatch(raw);
    if (!msg || msg.assigned_worker !== this.id) return;
    if (this.stopping) {
      // Heard between STOPPING and unsubscribing: hand it straight back.
      void this.step(`report ${msg.task_id}`, this.failUnstarted(msg));
      return;
    }
    const same = (m: DispatchMessage | null) => m !== null && m.task_id === msg.task_id && m.attempt === msg.attempt;
    if (same(this.current) || this.queue.some(same)) {
      this.log.debug('duplicate dispatch ignored', { taskId: msg.task_id, attempt: msg.attempt });
      return;
    }
    // One task at a time (v1): a dispatch that arrives while busy waits its turn.
    this.queue.push(msg);
    this.drain();
  }

  private drain(): void {
    if (this.draining) return;
    this.draining = (async () => {
      while (this.queue.length > 0 && !this.shutdown.signal.aborted) {
        const msg = this.queue.shift()!;
        this.current = msg;
        try {
          await this.runner.run(msg, this.shutdown.signal);
        } catch (err) {
          this.log.error(`task ${msg.task_id} could not be handled: ${errorMessage(err)}`, { taskId: msg.task_id });
        } finally {
          this.current = null;
        }
      }
    })().finally(() => {
      this.draining = null;
    });
  }

  private failUnstarted(msg: DispatchMessage): Promise<void> {
    return this.protocol.report({ taskId: msg.task_id, attempt: msg.attempt, ok: false, error: SHUTDOWN_ERROR });
  }

  private stopHeartbeats() {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** Runs one shutdown step, bounded in time; a failure is logged and shutdown goes on. */
  private async step(what: string, work: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${SHUTDOWN_STEP_TIMEOUT_MS} ms`)), SHUTDOWN_STEP_TIMEOUT_MS);
    });
    try {
      await Promise.race([work, timeout]);
    } catch (err) {
      this.log.warn(`${what} failed: ${errorMessage(err)}`, { workerId: this.id });
    } finally {
      clearTimeout(timer);
    }
  }

  private watchConnection(name: string, conn: Redis) {
    let lastLogMs = 0;
    let failing = false;
    conn.on('error', (err: Error) => {
      failing = true;
      if (Date.now() - lastLogMs < REDIS_ERROR_LOG_INTERVAL_MS) return;
      lastLogMs = Date.now();
      this.log.warn(`redis (${name}): ${err.message}; retrying`, { redis: redactRedisUrl(this.config.redisUrl) });
    });
    conn.on('ready', () => {
      if (failing) this.log.info(`redis (${name}): connected again`);
      failing = false;
    });
  }
}

/** A dispatch message (PROTOCOL section 2), or null for anything else on the topic. */
export function parseDispatch(raw: string): DispatchMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const m = value as Partial<DispatchMessage>;
  if (typeof m.task_id !== 'string' || m.task_id === '' || typeof m.assigned_worker !== 'string') return null;
  const attempt = Number.isInteger(m.attempt) && (m.attempt as number) > 0 ? m.attempt : undefined;
  return { ...(m as DispatchMessage), attempt };
}
