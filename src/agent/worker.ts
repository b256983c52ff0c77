/**
 * The worker process: register, heartbeat, run dispatches one at a time, and shut down cleanly.
 * v1 hears dispatches on the task topic; v2 (the default) takes them from its durable inbox and
 * first reports what an earlier run of it left unfinished. Protocol details live in
 * protocol-client.ts, one task's lifecycle in task-runner.ts.
 */
import { arch, hostname, platform } from 'node:os';
import { Redis } from 'ioredis';
import { DispatchMessage, HardwareInfo, isoNow, PROTOCOL_V2, workerInboxKey } from '../contracts/protocol';
import { redactRedisUrl } from '../config/env';
import type { WorkerConfig } from './config';
import type { ExecutorRegistry } from './executors/executor';
import { applyOverride, detectHardware } from './hardware';
import { errorMessage, Logger } from './logger';
import { ProtocolClient } from './protocol-client';
import { BlockingReader } from './blocking-reader';
import { GivenUpAttempts, givenUpError, parseControl, parseJsonObject, takeControl } from './control';
import { RESTART_ERROR, SHUTDOWN_ERROR, STOPPING_STATUS, TaskRunner } from './task-runner';

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
/** v2: how long one BLMOVE waits for a dispatch (shutdown ends a waiting one at once, see BlockingReader). */
const INBOX_WAIT_SEC = 1;
/** v2: how long one BLPOP waits for a control message (a message ends it at once; so does shutdown). */
const CONTROL_WAIT_SEC = 5;

export class Worker {
  readonly id: string;
  private readonly cmd: Redis;
  /** v1: the task topic subscriber. */
  private readonly sub: Redis | null = null;
  /** v2: BLMOVE on our inbox, on a connection of its own. */
  private readonly inbox: BlockingReader | null = null;
  /** v2: the loop that takes dispatches from the inbox. */
  private intake: Promise<void> | null = null;
  /** v2: BLPOP on our control list (docs/protocol.md, "Control"), on a connection of its own. */
  private readonly control: BlockingReader | null = null;
  /** v2: the loop that reads control messages, for the worker's whole life. */
  private controlLoop: Promise<void> | null = null;
  /** v2: attempts the orchestrator gave up, remembered for a while: one taken later is not run. */
  private readonly givenUp = new GivenUpAttempts();
  /** Aborted when the orchestrator gives up the attempt in progress (a control message names it). */
  private stopCurrent: AbortController | null = null;
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
    this.watchConnection('commands', this.cmd);
    if (this.v2) {
      const reader = (name: string) => {
        const conn = new Redis(config.redisUrl, redisOptions);
        this.watchConnection(name, conn);
        return new BlockingReader(conn, this.cmd);
      };
      this.inbox = reader('inbox');
      this.control = reader('control');
    } else {
      this.watchConnection('subscriber', (this.sub = new Redis(config.redisUrl, redisOptions)));
    }
    this.protocol = new ProtocolClient(this.cmd, this.id, config.heartbeatTtlSec, config.protocol);
    this.runner = new TaskRunner({
      protocol: this.protocol,
      registry: opts.registry,
      resultsDir: config.resultsDir,
      settings: { openaiBaseUrl: config.openaiBaseUrl, openaiApiKey: config.openaiApiKey },
      log: opts.log,
    });
  }

  private get v2(): boolean {
    return this.config.protocol === PROTOCOL_V2;
  }

  /**
   * v1: subscribes to the task topic first, then registers and turns IDLE: unlike the MLOC worker
   * (PROTOCOL section 6), no dispatch can arrive in a window where nobody listens.
   * v2: reports what an earlier run left in the processing list, registers (with `protocol` = 2),
   * turns IDLE, then takes dispatches from the inbox, which keeps them meanwhile.
   */
  start(): Promise<void> {
    this.starting ??= this.startUp();
    return this.starting;
  }

  private async startUp(): Promise<void> {
    if (this.sub) {
      this.sub.on('message', (channel: string, raw: string) => {
        if (channel === this.config.taskTopic) this.onDispatch(raw);
      });
      await this.sub.subscribe(this.config.taskTopic);
    }
    this.hardware = applyOverride(await (this.opts.detectHardware ?? detectHardware)(), this.config.hardwareOverride);
    // Before registering: the orchestrator applies these reports before it can place new work here.
    if (this.v2) await this.reportUnfinished();
    await this.register();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.config.heartbeatIntervalSec * 1000);
    if (this.v2) {
      this.controlLoop = this.readControl();
      this.intake = this.takeDispatches();
    }
    this.log.info('worker ready', {
      workerId: this.id,
      redis: redactRedisUrl(this.config.redisUrl),
      protocol: this.config.protocol,
      ...(this.v2 ? { inbox: workerInboxKey(this.id) } : { topic: this.config.taskTopic }),
      resultsDir: this.config.resultsDir,
      executors: this.opts.registry.types(),
      hardware: this.hardware,
    });
  }

  /**
   * Stops taking work, reports the task in progress (and any waiting) as failed with "worker
   * shutting down" so that they are retried elsewhere at once, unregisters, closes Redis. v2: a
   * dispatch still in the inbox stays there (the orchestrator takes it back once we are gone).
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
    if (this.sub) await this.step('unsubscribe', this.sub.unsubscribe());
    this.shutdown.abort();
    if (this.inbox) await this.step('unblock the inbox connection', this.inbox.stop());
    for (const msg of this.queue.splice(0)) await this.step(`report ${msg.task_id}`, this.failUnstarted(msg));
    await this.draining;
    // v2: the loop ends after the BLMOVE in flight (if any); what that takes is handed back.
    if (this.intake) await this.step('stop taking dispatches', this.intake);
    if (this.control) {
      await this.step('unblock the control connection', this.control.stop());
      await this.step('stop reading control messages', this.controlLoop!);
    }
    this.stopHeartbeats();
    await this.step('unregister', this.protocol.unregister());
    this.sub?.disconnect();
    this.inbox?.disconnect();
    this.control?.disconnect();
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

  /**
   * v2: takes dispatches from the inbox into the processing list, one at a time, until shutdown.
   * Each stays in the processing list until its report, so a crash leaves it there for the next start.
   */
  private takeDispatches(): Promise<void> {
    return this.inbox!.loop(
      (conn) => this.protocol.takeDispatch(conn, INBOX_WAIT_SEC),
      (entry) => this.onTaken(entry),
      (err) => this.log.warn(`taking a dispatch from the inbox failed: ${errorMessage(err)}; retrying`, { workerId: this.id }),
    );
  }

  /**
   * v2: control messages, read for the worker's whole life (one BLPOP at a time on its own
   * connection: no command per task). A CANCEL naming the attempt in progress stops it at once; one
   * naming any other attempt is remembered for a while (the dispatch may be taken just after it)
   * and otherwise dropped.
   */
  private readControl(): Promise<void> {
    return this.control!.loop(
      (conn) => takeControl(conn, this.id, CONTROL_WAIT_SEC),
      (raw) => this.onControl(raw),
      (err) => this.log.warn(`reading control messages failed: ${errorMessage(err)}; retrying`, { workerId: this.id }),
    );
  }

  private onControl(raw: string): void {
    const m = parseControl(raw);
    if (!m) {
      this.log.warn('dropped a control message that cannot be read', { workerId: this.id, bytes: raw.length });
      return;
    }
    this.givenUp.add(m);
    const cur = this.current;
    if (cur && this.stopCurrent && GivenUpAttempts.names(m, cur)) {
      this.log.warn('the orchestrator gave this attempt up; stopping it', { taskId: m.task_id, attempt: m.attempt, reason: m.reason });
      this.stopCurrent.abort(givenUpError(m));
    } else {
      this.log.debug('control message for an attempt not in progress: dropped', { taskId: m.task_id, attempt: m.attempt });
    }
  }

  private async onTaken(entry: string): Promise<void> {
    const msg = parseDispatch(entry);
    if (!msg || msg.assigned_worker !== this.id) {
      this.log.warn('dropped an inbox entry that is not a dispatch for this worker', { workerId: this.id, bytes: entry.length });
      await this.step('drop inbox entry', this.protocol.discard(entry));
      return;
    }
    if (this.stopping) {
      // Taken while shutting down: hand it straight back, as v1 does with a late dispatch.
      await this.step(`report ${msg.task_id}`, this.failUnstarted(msg, entry));
      return;
    }
    const givenUp = this.givenUp.find(msg);
    if (givenUp) {
      // Its control message came before we took it: never start what the orchestrator gave up.
      this.log.warn('a dispatch the orchestrator gave up already; not run', { taskId: msg.task_id, attempt: msg.attempt, reason: givenUp.reason });
      await this.step(`report ${msg.task_id}`, this.protocol.report({ taskId: msg.task_id, attempt: msg.attempt, entry, ok: false, error: givenUpError(givenUp).message }));
      return;
    }
    this.current = msg;
    this.stopCurrent = new AbortController();
    this.draining = this.runner
      .run(msg, this.shutdown.signal, entry, this.stopCurrent.signal)
      .catch((err) => this.log.error(`task ${msg.task_id} could not be handled: ${errorMessage(err)}`, { taskId: msg.task_id }))
      .finally(() => {
        this.current = null;
        this.stopCurrent = null;
        this.draining = null;
      });
    await this.draining;
  }

  /**
   * v2 start-up: a dispatch in the processing list was taken by an earlier run of this worker that
   * died before reporting it. It is reported failed with its attempt, so the orchestrator retries at
   * once (or ignores it, when it has given that attempt up already); never run again silently.
   */
  private async reportUnfinished(): Promise<void> {
    for (const entry of await this.protocol.unfinished()) {
      const msg = parseDispatch(entry);
      if (!msg || msg.assigned_worker !== this.id) {
        this.log.warn('dropped a processing-list entry that is not a dispatch for this worker', { workerId: this.id, bytes: entry.length });
        await this.protocol.discard(entry);
        continue;
      }
      this.log.warn('a dispatch taken before a restart was not finished; reporting it failed', { taskId: msg.task_id, attempt: msg.attempt });
      await this.protocol.report({ taskId: msg.task_id, attempt: msg.attempt, entry, ok: false, error: RESTART_ERROR });
    }
  }

  private failUnstarted(msg: DispatchMessage, entry?: string): Promise<void> {
    return this.protocol.report({ taskId: msg.task_id, attempt: msg.attempt, entry, ok: false, error: SHUTDOWN_ERROR });
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
  const m = parseJsonObject(raw) as Partial<DispatchMessage> | null;
  if (!m) return null;
  if (typeof m.task_id !== 'string' || m.task_id === '' || typeof m.assigned_worker !== 'string') return null;
  const attempt = Number.isInteger(m.attempt) && (m.attempt as number) > 0 ? m.attempt : undefined;
  return { ...(m as DispatchMessage), attempt };
}
