/**
 * A process running N emulated v1 workers (fake-worker.ts, the tests' worker emulation), for the
 * fault-injection suite, which kills it with SIGKILL and restarts Redis under it. Each worker runs
 * one task at a time like the MLOC worker's listen loop, and its connections wait out a Redis
 * restart instead of failing. Built with the bench (`npm run build:harness`, to dist-bench/) and
 * started as `node dist-bench/test/support/worker-fleet.js`. Configured by environment:
 *   REDIS_URL, FLEET_PREFIX (worker ids <prefix>-<n>), FLEET_SIZE, TASK_MS (task duration),
 *   HEARTBEAT_MS, HEARTBEAT_TTL_SEC, FLEET_SUBSCRIBE=0 (never hears dispatches), FLEET_DUPLICATE=1
 *   (sends every report twice), FLEET_LOG (file: one JSON line per dispatch received),
 *   FLEET_GENERATION (dd27001 or later), TASK_TOPIC.
 * Prints {"ready": N} once every worker has registered.
 */
import { appendFileSync } from 'node:fs';
import { CPU_HW, FakeV1Worker } from './fake-worker';
import type { Generation } from './v1-messages';

async function main() {
  const env = process.env;
  if (!env.REDIS_URL) throw new Error('REDIS_URL is required');
  const size = Number(env.FLEET_SIZE ?? 1);
  const prefix = env.FLEET_PREFIX ?? 'w';
  const log = env.FLEET_LOG;
  const workers = Array.from(
    { length: size },
    (_, i) =>
      new FakeV1Worker(env.REDIS_URL!, {
        id: `${prefix}-${i}`,
        generation: (env.FLEET_GENERATION as Generation | undefined) ?? 'dd27001',
        hardware: CPU_HW(),
        topic: env.TASK_TOPIC ?? 'tasks',
        runMs: Number(env.TASK_MS ?? 0),
        heartbeatIntervalMs: Number(env.HEARTBEAT_MS ?? 1000),
        heartbeatTtlSec: Number(env.HEARTBEAT_TTL_SEC ?? 120),
        subscribe: env.FLEET_SUBSCRIBE !== '0',
        duplicateReports: env.FLEET_DUPLICATE === '1',
        serial: true,
        result: (msg) => ({ items: [msg.task_id] }),
        onDispatch: log
          ? (msg) => appendFileSync(log, JSON.stringify({ task_id: msg.task_id, attempt: msg.attempt, worker: msg.assigned_worker, at: Date.now() }) + '\n')
          : undefined,
        redisOptions: { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(50 * n, 500) },
      }),
  );
  for (const w of workers) await w.start();
  process.stdout.write(JSON.stringify({ ready: size }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
