/**
 * One scenario's processes: Redis (own or REDIS_URL), the orchestrator, the simulated workers and
 * the load client, plus the runner's own Redis connection for server-side figures. A stack is
 * always stopped in a finally block; every child is also killed if the runner dies.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { commandDelta, commandStats, CommandStats, externalRedis, redisCpuMs, RedisTarget, slowlogStart, slowlogTop, startRedis } from './redis';
import { Orchestrator, scriptShas, startOrchestrator, TOKEN } from './orchestrator';
import { processCpuMs, startChild } from './proc';
import { RpcClient } from './rpc';
import { round, sleep } from './stats';

export interface Context {
  root: string;
  tmp: string;
  quick: boolean;
  cpuProfile: boolean;
  externalRedisUrl: string | null;
  runId: string;
  log: (line: string) => void;
}

export interface SimStats {
  dispatches: number;
  foreignDispatches: number;
  duplicateDispatches: number;
  busyDispatches: number;
  succeeded: number;
  commandsSent: number;
  heartbeats: number;
  subscriberReconnects: number;
  badMessages: number;
  errors: number;
  inFlight: number;
  workers: number;
  lastError: string;
  shardDone?: number;
}

export interface StackOptions {
  /** Worker heartbeat interval (ms); the MLOC worker's default is 30 s. */
  heartbeatIntervalMs?: number;
  simConnections?: number;
  orchestratorEnv?: Record<string, string>;
}

export class Stack {
  private constructor(
    readonly ctx: Context,
    readonly name: string,
    readonly dir: string,
    readonly redis: RedisTarget,
    readonly admin: Redis,
    readonly orch: Orchestrator,
    readonly sim: RpcClient,
    readonly load: RpcClient,
  ) {}

  get prefix(): string {
    return `${this.ctx.runId}-${this.name}`;
  }

  static async start(ctx: Context, name: string, opts: StackOptions = {}): Promise<Stack> {
    const dir = join(ctx.tmp, name);
    mkdirSync(dir, { recursive: true });
    const parts: { stop(): Promise<void> }[] = [];
    try {
      const redis = ctx.externalRedisUrl ? externalRedis(ctx.externalRedisUrl) : await startRedis(join(dir, 'redis'));
      parts.push(redis);
      const admin = new Redis(redis.url, { connectionName: 'bench-runner', maxRetriesPerRequest: 2 });
      parts.push({ stop: async () => admin.disconnect() });
      const orch = await startOrchestrator({ root: ctx.root, redisUrl: redis.url, dir, cpuProfile: ctx.cpuProfile, env: opts.orchestratorEnv });
      parts.push(orch);
      const here = resolve(__dirname, '..');
      const simProc = startChild({ name: 'sim-workers', args: [join(here, 'sim-workers.js')], inherit: true, ipc: true });
      parts.push({ stop: () => simProc.stop(1000, 'SIGKILL').then(() => undefined) });
      const loadProc = startChild({ name: 'load', args: [join(here, 'load.js')], inherit: true, ipc: true });
      parts.push({ stop: () => loadProc.stop(1000, 'SIGKILL').then(() => undefined) });
      const sim = new RpcClient('sim-workers', simProc);
      const load = new RpcClient('load', loadProc);
      const hb = opts.heartbeatIntervalMs ?? 30_000;
      await sim.call('init', { redisUrl: redis.url, connections: opts.simConnections ?? 4, heartbeatIntervalMs: hb, heartbeatTtlSec: Math.max(120, (4 * hb) / 1000) });
      await load.call('init', { baseUrl: orch.baseUrl, token: TOKEN, redisUrl: redis.url });
      if (redis.owned) await slowlogStart(admin, 1000);
      return new Stack(ctx, name, dir, redis, admin, orch, sim, load);
    } catch (err) {
      for (const p of parts.reverse()) await p.stop().catch(() => undefined);
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.redis.owned) await this.sim.call('unregisterAll', {}, 60_000).catch(() => undefined);
    await Promise.allSettled([this.sim.call('close', {}, 2000), this.load.call('close', {}, 2000)]);
    await Promise.allSettled([this.sim.proc.stop(1000, 'SIGKILL'), this.load.proc.stop(1000, 'SIGKILL')]);
    await this.orch.stop().catch(() => undefined);
    this.admin.disconnect();
    await this.redis.stop();
  }

  simStats(): Promise<SimStats> {
    return this.sim.call<SimStats>('stats');
  }

  /**
   * Waits until the orchestrator is idle (under 5% of a core over 300 ms) and no simulated worker
   * is busy, bounded by `timeoutMs`. Used after registering workers and before a measurement.
   */
  async settle(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const c0 = processCpuMs(this.orch.pid) ?? 0;
      await sleep(300);
      const c1 = processCpuMs(this.orch.pid) ?? 0;
      const s = await this.simStats();
      if (c1 - c0 <= 15 && s.inFlight === 0) return true;
    }
    return false;
  }

  /** Registers workers and waits until the orchestrator has digested the registrations. */
  async addWorkers(count: number, opts: { hardware?: 'cpu' | 'gpu'; taskMs?: number; tag?: string } = {}): Promise<{ ms: number }> {
    const r = await this.sim.call<{ ms: number }>('addWorkers', { prefix: `${this.prefix}-${opts.tag ?? 'w'}`, count, hardware: opts.hardware, taskMs: opts.taskMs ?? 0 }, 300_000);
    await this.settle(60_000);
    return r;
  }

  /** A few tasks end to end before measuring (JIT, script cache, connections). */
  async warmUp(count: number, doc: Record<string, unknown> = {}): Promise<void> {
    await this.load.call('reset');
    await this.load.call('observe', { done: true });
    await this.load.call('submitBatches', { prefix: `${this.prefix}-warm`, count, batchSize: Math.min(100, count), concurrency: 1, doc }, 120_000);
    const r = await this.load.call<{ missing: number }>('waitDone', { timeoutMs: 60_000 }, 70_000);
    if (r.missing) throw new Error(`warm-up: ${r.missing} of ${count} tasks never finished`);
    await this.settle();
  }

  async beginWindow(): Promise<Window> {
    return Window.begin(this);
  }
}

export interface WindowFigures {
  elapsedMs: number;
  tasks: number;
  commandsPerTask: number | null;
  orchestratorCommandsPerTask: number | null;
  workerCommandsPerTask: number | null;
  scriptCallsPerTask: number | null;
  topCommandsPerTask: Record<string, number>;
  redisUsecPerTask: Record<string, number>;
  cpuMsPerTask: Record<string, number | null>;
  cpuCoreShare: Record<string, number | null>;
  slowlog?: unknown;
}

/** Server and process counters over a measurement window. */
export class Window {
  private constructor(
    private readonly stack: Stack,
    private readonly t0: number,
    private readonly cmd: CommandStats,
    private readonly redisCpu: number,
    private readonly cpu: Record<string, number | null>,
    private readonly simCommands: number,
  ) {}

  private static cpuNow(stack: Stack): Record<string, number | null> {
    return {
      orchestrator: processCpuMs(stack.orch.pid),
      simWorkers: processCpuMs(stack.sim.child.pid),
      load: processCpuMs(stack.load.child.pid),
      redis: stack.redis.pid ? processCpuMs(stack.redis.pid) : null,
    };
  }

  static async begin(stack: Stack): Promise<Window> {
    if (stack.redis.owned) await stack.admin.call('SLOWLOG', 'RESET');
    const s = await stack.simStats();
    const cmd = await commandStats(stack.admin);
    const redisCpu = await redisCpuMs(stack.admin);
    return new Window(stack, performance.now(), cmd, redisCpu, Window.cpuNow(stack), s.commandsSent);
  }

  async end(tasks: number): Promise<WindowFigures> {
    const elapsedMs = performance.now() - this.t0;
    const cpu = Window.cpuNow(this.stack);
    const s = await this.stack.simStats();
    const cmd = commandDelta(this.cmd, await commandStats(this.stack.admin));
    const redisCpu = await redisCpuMs(this.stack.admin);
    let total = 0;
    let scripts = 0;
    for (const [name, v] of cmd) {
      total += v.calls;
      if (name === 'evalsha' || name === 'eval') scripts += v.calls;
    }
    const worker = s.commandsSent - this.simCommands;
    const per = (v: number) => (tasks > 0 ? round(v / tasks) : null);
    const top = [...cmd.entries()].sort((a, b) => b[1].calls - a[1].calls).slice(0, 12);
    const byUsec = [...cmd.entries()].sort((a, b) => b[1].usec - a[1].usec).slice(0, 8);
    const cpuMsPerTask: Record<string, number | null> = {};
    const cpuCoreShare: Record<string, number | null> = {};
    for (const k of Object.keys(cpu)) {
      const a = this.cpu[k];
      const b = cpu[k];
      const used = a === null || b === null ? (k === 'redis' ? redisCpu - this.redisCpu : null) : b - a;
      cpuMsPerTask[k] = used === null || tasks === 0 ? null : round(used / tasks);
      cpuCoreShare[k] = used === null ? null : round(used / elapsedMs);
    }
    const fig: WindowFigures = {
      elapsedMs: round(elapsedMs)!,
      tasks,
      commandsPerTask: per(total),
      orchestratorCommandsPerTask: per(total - worker),
      workerCommandsPerTask: per(worker),
      scriptCallsPerTask: per(scripts),
      topCommandsPerTask: Object.fromEntries(top.map(([n, v]) => [n, round(v.calls / Math.max(1, tasks))!])),
      redisUsecPerTask: Object.fromEntries(byUsec.map(([n, v]) => [n, round(v.usec / Math.max(1, tasks))!])),
      cpuMsPerTask,
      cpuCoreShare,
    };
    if (this.stack.redis.owned) {
      const shas = scriptShas(this.stack.ctx.root);
      // EVALSHA <sha> ... reads better as EVALSHA <script name>.
      const scriptName = (sha: string) => [...shas.entries()].find(([full]) => full.startsWith(sha.toLowerCase()))?.[1] ?? sha.slice(0, 8);
      const named = (c: string) => c.replace(/^evalsha ([0-9a-f]{8,40})/i, (_, sha: string) => `evalsha ${scriptName(sha)}`);
      const slow = await slowlogTop(this.stack.admin, 5);
      fig.slowlog = {
        over1ms: slow.count,
        top: slow.top.map((e) => ({ us: e.durationUs, command: named(e.command).slice(0, 100) })),
        byCommand: Object.fromEntries(Object.entries(slow.byCommand).map(([k, v]) => [named(k), v])),
      };
    }
    return fig;
  }
}
