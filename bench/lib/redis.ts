/**
 * The Redis the bench runs against: its own throwaway redis-server on a free loopback port
 * (the default), or the one REDIS_URL names (then nothing is flushed or reconfigured).
 * Also the server-side figures: INFO commandstats, INFO cpu, SLOWLOG.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisServerBinary, TestRedisServer } from '../../test/support/redis-server';

export { redisServerBinary };

export interface RedisTarget {
  url: string;
  /** True when the bench started this server (so it may reconfigure and kill it). */
  owned: boolean;
  pid?: number;
  stop(): Promise<void>;
}

/** Starts a redis-server without persistence in `dir` (the tests' launcher); resolves once it answers PING. */
export async function startRedis(dir: string): Promise<RedisTarget> {
  const server = await new TestRedisServer({ dir, logFile: join(dir, 'redis.log'), group: true }).start();
  return { url: server.url, owned: true, pid: server.pid, stop: () => server.stop(true) };
}

export function externalRedis(url: string): RedisTarget {
  return { url, owned: false, stop: async () => undefined };
}

export type CommandStats = Map<string, { calls: number; usec: number }>;

export async function commandStats(r: Redis): Promise<CommandStats> {
  const text = await r.info('commandstats');
  const out: CommandStats = new Map();
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (m) out.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Per-command deltas of calls between two snapshots, the bench's own INFO calls left out. */
export function commandDelta(before: CommandStats, after: CommandStats): Map<string, { calls: number; usec: number }> {
  const out = new Map<string, { calls: number; usec: number }>();
  for (const [cmd, a] of after) {
    if (cmd === 'info' || cmd === 'slowlog' || cmd === 'config|set' || cmd === 'config|get') continue;
    const b = before.get(cmd) ?? { calls: 0, usec: 0 };
    const calls = a.calls - b.calls;
    if (calls > 0) out.set(cmd, { calls, usec: a.usec - b.usec });
  }
  return out;
}

/** used_cpu_sys + used_cpu_user of the server, in ms. */
export async function redisCpuMs(r: Redis): Promise<number> {
  const text = await r.info('cpu');
  const get = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0);
  return (get('used_cpu_sys') + get('used_cpu_user')) * 1000;
}

export async function redisVersion(r: Redis): Promise<string> {
  const text = await r.info('server');
  return /^redis_version:(\S+)/m.exec(text)?.[1] ?? 'unknown';
}

export async function redisMemoryMb(r: Redis): Promise<number> {
  const text = await r.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(text)?.[1] ?? 0) / 2 ** 20;
}

export interface SlowEntry {
  durationUs: number;
  command: string;
}

/** Turns SLOWLOG on for commands slower than `thresholdUs` and empties it (own server only). */
export async function slowlogStart(r: Redis, thresholdUs: number): Promise<void> {
  await r.config('SET', 'slowlog-log-slower-than', String(thresholdUs));
  await r.config('SET', 'slowlog-max-len', '1024');
  await r.call('SLOWLOG', 'RESET');
}

/** The slowest entries, longest first, each command cut to 120 characters (EVALSHA bodies are hashes). */
export async function slowlogTop(r: Redis, n: number): Promise<{ count: number; top: SlowEntry[]; byCommand: Record<string, { count: number; maxUs: number; totalUs: number }> }> {
  const raw = (await r.call('SLOWLOG', 'GET', '1024')) as unknown[][];
  const entries: SlowEntry[] = raw.map((e) => ({
    durationUs: Number(e[2]),
    command: ((e[3] as unknown[]) ?? []).map(String).join(' ').slice(0, 120),
  }));
  const byCommand: Record<string, { count: number; maxUs: number; totalUs: number }> = {};
  for (const e of entries) {
    const args = e.command.split(' ');
    const name = args[0].toLowerCase() === 'evalsha' ? `evalsha ${args[1]?.slice(0, 8)}` : args[0].toLowerCase();
    const b = (byCommand[name] ??= { count: 0, maxUs: 0, totalUs: 0 });
    b.count++;
    b.maxUs = Math.max(b.maxUs, e.durationUs);
    b.totalUs += e.durationUs;
  }
  entries.sort((a, b) => b.durationUs - a.durationUs);
  return { count: entries.length, top: entries.slice(0, n), byCommand };
}
