/** A throwaway redis-server on a free loopback port: no persistence, its files in the demo's folder. */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from '../agent/abort';
import { canRun, DemoError, freePort, ManagedProcess } from './processes';

const REDIS_BINARY = 'redis-server';
const START_TIMEOUT_MS = 10_000;

export async function startThrowawayRedis(dir: string, logsDir: string): Promise<{ url: string; process: ManagedProcess }> {
  if (!canRun(REDIS_BINARY)) {
    throw new DemoError(
      `${REDIS_BINARY} was not found on the PATH. The demo starts its own throwaway Redis: install the ` +
        `Debian/Ubuntu package "redis-server" (sudo apt-get install -y redis-server), or set REDIS_URL to a Redis you run.`,
    );
  }
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const proc = new ManagedProcess('redis', REDIS_BINARY, args, { PATH: process.env.PATH }, join(logsDir, 'redis.log'));
  const url = `redis://127.0.0.1:${port}/0`;
  await waitUntilAnswering(url, proc);
  return { url, process: proc };
}

async function waitUntilAnswering(url: string, proc: ManagedProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    // Refused connections are expected until the server listens; connect() reports them.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return;
    } catch {
      if (!proc.running || Date.now() > deadline) throw new DemoError(`redis-server did not start:\n${proc.logTail()}`);
      await sleep(50);
    } finally {
      client.disconnect();
    }
  }
}
