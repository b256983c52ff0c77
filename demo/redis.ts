/** A throwaway redis-server on a free loopback port (the tests' launcher): no persistence, its files in the demo's folder. */
import { join } from 'node:path';
import { TestRedisServer } from '../test/support/redis-server';
import { canRun, DemoError } from './processes';

export async function startThrowawayRedis(dir: string, logsDir: string): Promise<TestRedisServer> {
  if (!canRun(process.env.REDIS_SERVER_BIN ?? 'redis-server')) {
    throw new DemoError(
      `redis-server was not found on the PATH. The demo starts its own throwaway Redis: install the ` +
        `Debian/Ubuntu package "redis-server" (sudo apt-get install -y redis-server), or set REDIS_URL to a Redis you run.`,
    );
  }
  const server = new TestRedisServer({ dir: join(dir, 'redis'), logFile: join(logsDir, 'redis.log'), group: true });
  try {
    return await server.start();
  } catch (err) {
    throw new DemoError(err instanceof Error ? err.message : String(err));
  }
}
