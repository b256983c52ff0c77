import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { APP_CONFIG } from '../config/config.module';
import { AppConfig, redactRedisUrl } from '../config/env';
import { CorkingRedis } from './corking-redis';
import { PREFIX } from './keys';
import { defineScripts, runScript, ScriptName } from './scripts';

export class RedisUnavailableError extends Error {
  constructor(cause?: unknown) {
    super(`Redis is unavailable${cause instanceof Error ? `: ${cause.message}` : ''}`);
    this.name = 'RedisUnavailableError';
  }
}

/** A command the command connection sent got no answer within REDIS_COMMAND_TIMEOUT_MS (Redis stalled). */
export class RedisTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Redis did not answer within REDIS_COMMAND_TIMEOUT_MS (${timeoutMs} ms); the command may or may not have been applied`);
    this.name = 'RedisTimeoutError';
  }
}

/** Redis at `maxmemory` with a policy that cannot evict (noeviction) refuses every write with `OOM ...`. */
export function isRedisOutOfMemory(err: unknown): boolean {
  return err instanceof Error && /^OOM\b/.test(err.message);
}

/** Written by every readiness check: readiness means Redis accepts writes, not only that it answers. */
const WRITE_PROBE_KEY = `${PREFIX}health:write-probe`;
/** The longest BLOCK of the v2 stream reader (StreamConsumer: 1 s), with room to spare. */
const STREAM_MAX_BLOCK_MS = 5000;
/** TCP keepalive probes start after this much silence on a connection. */
const KEEPALIVE_MS = 10_000;

type Role = 'commands' | 'subscriber' | 'event stream';
/** What a readiness check found: `up` when Redis answers at all; every problem in `reasons`. */
export interface RedisHealth {
  up: boolean;
  reasons: string[];
}

/** The parts of ioredis's pending-command queue the watchdog reads (public on the client, untyped items). */
type PendingQueue = {
  length: number;
  peekFront(): { command: { isSettled?: boolean; reject(err: Error): void } } | undefined;
  peekAt(i: number): { command: { isSettled?: boolean; reject(err: Error): void } } | undefined;
};

/**
 * The three connections every module shares: one for commands and scripts, one dedicated to
 * SUBSCRIBE, one to the blocking reads of the v2 event stream. All reconnect forever with a capped
 * backoff; commands issued while Redis is down fail at once (no offline queue), so the API can answer
 * 503 instead of hanging. Each connection is watched (see `watch`): a command Redis does not answer
 * within REDIS_COMMAND_TIMEOUT_MS fails, and a connection that goes silent without closing (half-open
 * TCP, a NAT or proxy that dropped it) is closed and reconnected, the subscriber with its subscriptions.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly log = new Logger('Redis');
  readonly cmd: Redis;
  readonly sub: Redis;
  /** Dedicated to blocking stream reads (XREADGROUP BLOCK) of the v2 event stream. */
  readonly stream: Redis;
  private readonly lastErrorLogMs = new Map<Role, number>();
  private readonly timeoutMs: number;
  private readonly healthCheckMs: number;
  private readonly tickMs: number;
  private readonly timer: NodeJS.Timeout;
  // Command watchdog: the oldest unanswered command and when the watchdog first saw it.
  private headCommand: unknown = null;
  private headSeenMs = 0;
  private stalled = false;
  private lastCmdPingMs = 0;
  // Subscriber check: a PING goes out every healthCheckMs; healthy once one sent since the last connect was answered.
  private subPingSentMs = 0;
  private subPingPending = false;
  private subVerified = false;
  /** False when this ioredis lacks the internals the watchdog reads: ioredis's own per-command timer then. */
  readonly watchdogUsable: boolean;
  private streamClientId: number | null = null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.timeoutMs = config.redisCommandTimeoutMs;
    this.healthCheckMs = config.redisHealthCheckMs;
    this.tickMs = Math.max(10, Math.round(Math.min(this.timeoutMs, this.healthCheckMs) / 10));
    const opts = {
      lazyConnect: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      keepAlive: KEEPALIVE_MS,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 3000),
    };
    // No auto-pipelining. It saves writes, but it builds an ioredis Pipeline for every tick's commands,
    // and each Pipeline defines an accessor on itself and copies the script commands onto itself:
    // per-instance hidden classes in V8's old generation, which made every young GC take ~7 ms.
    // Turned off (alternating bench runs): GC time during the latency run halved, its p99 fell from
    // ~27 to ~17 ms, and throughput was the same or better. Batches that matter are pipelined explicitly,
    // and the commands of one turn of the event loop still leave in one write (CorkingRedis).
    // No ioredis `commandTimeout` either: it arms a timer per command; the watchdog below costs
    // nothing per command.
    this.cmd = new CorkingRedis(config.redisUrl, { ...opts, enableAutoPipelining: false, connectionName: 'mloc-orchestrator' });
    // The subscriber keeps its queue and waits: SUBSCRIBE issued before the first connect must not
    // fail, and ioredis subscribes again by itself after every reconnect.
    this.sub = new Redis(config.redisUrl, { ...opts, enableOfflineQueue: true, maxRetriesPerRequest: null, connectionName: 'mloc-orchestrator-sub' });
    // Blocked in XREADGROUP most of the time, so it cannot be PINGed: a socket with a read pending
    // that receives nothing for longer than any BLOCK plus the command timeout is closed and reconnected.
    this.stream = new Redis(config.redisUrl, {
      ...opts,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      socketTimeout: STREAM_MAX_BLOCK_MS + this.timeoutMs,
      connectionName: 'mloc-orchestrator-stream',
    });
    defineScripts(this.cmd);
    this.watchdogUsable = watchdogInternalsPresent(this.cmd);
    if (!this.watchdogUsable) {
      // Start-up self-check: the watchdog reads ioredis's private command queue. A version without it
      // falls back to ioredis's own commandTimeout (one timer per command), read at send time.
      this.log.warn('ioredis internals the command watchdog reads are missing; using ioredis commandTimeout instead');
      (this.cmd.options as { commandTimeout?: number }).commandTimeout = this.timeoutMs;
    }
    const where = redactRedisUrl(config.redisUrl);
    for (const [role, conn] of [
      ['commands', this.cmd],
      ['subscriber', this.sub],
      ['event stream', this.stream],
    ] as const) {
      conn.on('ready', () => this.log.log(`connected (${role}) to ${where}`));
      conn.on('error', (err: Error) => this.logConnectionError(role, where, err));
    }
    // The stream connection's id, so a shutdown can end its blocking read at once (CLIENT UNBLOCK).
    this.stream.on('ready', () => {
      this.stream.client('ID').then(
        (id) => (this.streamClientId = Number(id)),
        () => undefined,
      );
    });
    this.sub.on('ready', () => {
      this.subVerified = false;
      this.subPingPending = false;
      this.pingSubscriber(Date.now());
    });
    this.timer = setInterval(() => this.watch(Date.now()), this.tickMs);
    this.timer.unref();
  }

  /** Connection errors repeat on every retry: one line (never a stack) per connection every 5 s. */
  private logConnectionError(role: Role, where: string, err: Error) {
    const now = Date.now();
    if (now - (this.lastErrorLogMs.get(role) ?? 0) < 5000) return;
    this.lastErrorLogMs.set(role, now);
    this.log.warn(`cannot reach Redis (${role}) at ${where}: ${err.message}; retrying`);
  }

  get ready(): boolean {
    return this.cmd.status === 'ready';
  }

  /** True while the subscriber is connected and has answered a PING since it last (re)connected, in time. */
  get subscriberHealthy(): boolean {
    return this.sub.status === 'ready' && this.subVerified && !this.subPingOverdue(Date.now());
  }

  /** One pass of the health checks; runs every tickMs (a tenth of the shorter of the timeout and the check interval). */
  private watch(now: number) {
    this.watchCommands(now);
    if (this.sub.status === 'ready') {
      if (this.subPingOverdue(now)) this.replace(this.sub, 'subscriber', `did not answer a PING within ${this.timeoutMs} ms`);
      else if (!this.subPingPending && now - this.subPingSentMs >= this.healthCheckMs) this.pingSubscriber(now);
    }
  }

  private subPingOverdue(now: number): boolean {
    return this.subPingPending && now - this.subPingSentMs >= this.timeoutMs;
  }

  private pingSubscriber(now: number) {
    this.subPingPending = true;
    this.subPingSentMs = now;
    const conn = this.sub;
    const sent = now;
    conn.ping().then(
      () => {
        if (this.subPingSentMs !== sent) return; // an older PING, resent after a reconnect
        this.subPingPending = false;
        this.subVerified = true;
      },
      () => undefined,
    );
  }

  /**
   * The command timeout, without a timer per command: Redis answers in order, so when the oldest
   * pending command has waited REDIS_COMMAND_TIMEOUT_MS every pending command fails with
   * RedisTimeoutError (they stay queued, so a late answer still pairs with its command). Commands
   * sent while Redis stays stalled fail at the next pass. A stall longer than the timeout plus a
   * health-check interval closes the connection (a half-open socket never answers) and reconnects.
   * An idle connection is PINGed every health-check interval, so a dead one is noticed before a request needs it.
   */
  private watchCommands(now: number) {
    if (!this.watchdogUsable) return;
    if (this.cmd.status !== 'ready') {
      this.headCommand = null;
      this.stalled = false;
      return;
    }
    const queue = this.cmd.commandQueue as unknown as PendingQueue;
    const head = queue.length > 0 ? queue.peekFront()?.command : undefined;
    if (!head) {
      if (this.stalled) this.log.log('Redis answers again');
      this.headCommand = null;
      this.stalled = false;
      if (now - this.lastCmdPingMs >= this.healthCheckMs) {
        this.lastCmdPingMs = now;
        this.cmd.ping().catch(() => undefined);
      }
      return;
    }
    if (head !== this.headCommand) {
      if (this.stalled) this.log.log('Redis answers again');
      this.headCommand = head;
      this.headSeenMs = now;
      this.stalled = false;
      return;
    }
    // The head was sent at most one pass before it was first seen, and it fails at most one pass
    // after the threshold: two passes early keeps the failure within the timeout.
    if (now - this.headSeenMs < this.timeoutMs - 2 * this.tickMs) return;
    if (!this.stalled) this.log.warn(`Redis did not answer within ${this.timeoutMs} ms (REDIS_COMMAND_TIMEOUT_MS); commands fail until it does`);
    this.stalled = true;
    const err = new RedisTimeoutError(this.timeoutMs);
    for (let i = 0; i < queue.length; i++) {
      const c = queue.peekAt(i)?.command;
      if (c && !c.isSettled) c.reject(err);
    }
    if (now - this.headSeenMs >= this.timeoutMs + this.healthCheckMs) {
      // Every pending command has failed already: drop them (and their late answers) so the
      // reconnect does not send them again, then close the socket.
      (this.cmd as unknown as { flushQueue(e: Error, o: { offlineQueue: boolean }): void }).flushQueue(err, { offlineQueue: false });
      this.headCommand = null;
      this.replace(this.cmd, 'commands', `stalled for ${now - this.headSeenMs} ms`);
    }
  }

  /** Closes a connection that went silent; ioredis reconnects it (and subscribes again: `autoResubscribe`). */
  private replace(conn: Redis, role: Role, why: string) {
    this.log.warn(`the ${role} connection ${why}; replacing it`);
    if (conn === this.sub) {
      this.subPingPending = false;
      this.subVerified = false;
    }
    const socket = conn.stream as Socket | undefined;
    // destroy, not end: a half-open peer never answers a FIN, and ioredis reconnects on 'close'.
    if (socket) socket.destroy();
    else conn.disconnect(true);
  }

  /** True when Redis answers a PING within 500 ms. */
  async ping(): Promise<boolean> {
    if (!this.ready) return false;
    try {
      return (await Promise.race([this.cmd.ping(), new Promise<null>((r) => setTimeout(() => r(null), 500).unref())])) === 'PONG';
    } catch {
      return false;
    }
  }

  /**
   * Readiness of the Redis side: Redis accepts a write within 500 ms (a PING would pass with Redis
   * full), and the subscriber and event-stream connections are up. One SET per call, off the task path.
   */
  async health(): Promise<RedisHealth> {
    const reasons: string[] = [];
    let up = false;
    if (this.ready && !this.stalled) {
      try {
        const r = await Promise.race([this.cmd.set(WRITE_PROBE_KEY, Date.now(), 'PX', 60_000), new Promise<null>((r) => setTimeout(() => r(null), 500).unref())]);
        up = r === 'OK';
      } catch (err) {
        if (isRedisOutOfMemory(err)) {
          up = true;
          reasons.push('Redis is out of memory (maxmemory reached): it refuses writes');
        }
      }
    }
    if (!up) reasons.push('Redis does not answer');
    if (!this.subscriberHealthy) reasons.push('the subscriber connection (tasks.events, workers.events) is down');
    if (this.stream.status !== 'ready') reasons.push('the event-stream connection is down');
    return { up, reasons };
  }

  /** Resolves once the command connection is ready (used at start-up and by tests). */
  waitReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.cmd.once('ready', () => resolve()));
  }

  run(name: ScriptName, nowMs: number, args: (string | number)[], fence?: string): Promise<unknown> {
    return runScript(this.cmd, name, nowMs, args, fence);
  }

  /**
   * Ends a blocking read under way on the stream connection (as if its BLOCK had passed), so a
   * shutdown does not wait it out. Bounded to 500 ms; nothing when the connection is not up.
   */
  async unblockStream(): Promise<void> {
    if (this.streamClientId === null || !this.ready) return;
    await Promise.race([this.cmd.client('UNBLOCK', this.streamClientId).catch(() => undefined), new Promise((r) => setTimeout(r, 500).unref())]);
  }

  /** QUIT when connected (bounded to 1 s); a connection still retrying is simply dropped. */
  async onApplicationShutdown() {
    clearInterval(this.timer);
    const quit = (c: Redis) => (c.status === 'ready' ? Promise.race([c.quit(), new Promise((r) => setTimeout(r, 1000).unref())]) : Promise.resolve());
    // The stream connection may be blocked in XREADGROUP: just drop it.
    this.stream.disconnect();
    await Promise.allSettled([quit(this.sub), quit(this.cmd)]);
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}

/** The private parts of ioredis the command watchdog relies on (checked once at start-up). */
export function watchdogInternalsPresent(conn: Redis): boolean {
  const c = conn as unknown as { commandQueue?: Partial<PendingQueue>; flushQueue?: unknown };
  return (
    typeof c.commandQueue?.peekFront === 'function' &&
    typeof c.commandQueue?.peekAt === 'function' &&
    typeof c.commandQueue?.length === 'number' &&
    typeof c.flushQueue === 'function'
  );
}
