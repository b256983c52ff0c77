/**
 * A process running N simulated workers that speak PROTOCOL v1 exactly as the MLOC Python worker
 * does (registration, heartbeats, acknowledgement, report, IDLE), for the fault-injection suite.
 * Plain CommonJS so it runs without a build. Configured by environment:
 *   REDIS_URL, FLEET_PREFIX (worker ids <prefix>-<n>), FLEET_SIZE, TASK_MS (task duration),
 *   HEARTBEAT_MS, HEARTBEAT_TTL_SEC, FLEET_SUBSCRIBE=0 (never hears dispatches), FLEET_DUPLICATE=1
 *   (sends every report twice), FLEET_LOG (file: one JSON line per dispatch received).
 * Every loop is bounded by the process lifetime; the test kills the process.
 */
const { Redis } = require('ioredis');
const { appendFileSync } = require('node:fs');

const env = process.env;
const size = Number(env.FLEET_SIZE ?? 1);
const prefix = env.FLEET_PREFIX ?? 'w';
const taskMs = Number(env.TASK_MS ?? 0);
const heartbeatMs = Number(env.HEARTBEAT_MS ?? 1000);
const ttlSec = Number(env.HEARTBEAT_TTL_SEC ?? 120);
const subscribe = env.FLEET_SUBSCRIBE !== '0';
const duplicate = env.FLEET_DUPLICATE === '1';
const topic = env.TASK_TOPIC ?? 'tasks';
const opts = { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(50 * n, 500) };
const cmd = new Redis(env.REDIS_URL, opts);
const sub = new Redis(env.REDIS_URL, opts);
const now = () => new Date().toISOString();
const ids = Array.from({ length: size }, (_, i) => `${prefix}-${i}`);
const mine = new Set(ids);
const busy = new Set();
const chains = new Map();

async function setStatus(id, status, extra = {}) {
  const fields = { status, last_seen: now() };
  for (const [k, v] of Object.entries(extra)) fields[`extra_${k}`] = v;
  await cmd.hset(`worker:${id}`, fields);
  await cmd.publish('workers.events', JSON.stringify({ type: 'STATUS', worker_id: id, status, ts: now(), extra }));
}

async function heartbeat(id) {
  const t = now();
  await cmd.setex(`worker:${id}:hb`, Math.max(1, Math.ceil(ttlSec)), t);
  await cmd.hset(`worker:${id}`, 'last_seen', t);
  await cmd.publish('workers.events', JSON.stringify({ type: 'HEARTBEAT', worker_id: id, ts: t, metrics: { loadavg: { '1m': 0 } } }));
}

async function register(id) {
  const t = now();
  await cmd.sadd('workers:ids', id);
  await cmd.hset(`worker:${id}`, {
    worker_id: id, status: 'STARTING', started_at: t, pid: String(process.pid), env_json: '{}',
    hardware_json: JSON.stringify({ cpu: { logical_cores: 8 }, memory: { total_bytes: 32 * 2 ** 30 } }), tags_json: '[]', last_seen: t,
  });
  await cmd.publish('workers.events', JSON.stringify({ type: 'REGISTER', worker_id: id, status: 'STARTING', ts: t, tags: [] }));
  await heartbeat(id);
  await setStatus(id, 'IDLE');
}

async function run(msg) {
  const id = msg.assigned_worker;
  if (env.FLEET_LOG) appendFileSync(env.FLEET_LOG, JSON.stringify({ task_id: msg.task_id, attempt: msg.attempt, worker: id, at: Date.now() }) + '\n');
  busy.add(id);
  await setStatus(id, 'RUNNING', { task_id: msg.task_id });
  if (taskMs) await new Promise((r) => setTimeout(r, taskMs));
  const report = JSON.stringify({ type: 'TASK_SUCCEEDED', worker_id: id, task_id: msg.task_id, result: { items: [msg.task_id] }, ts: now() });
  await cmd.publish('tasks.events', report);
  if (duplicate) await cmd.publish('tasks.events', report);
  await setStatus(id, 'IDLE', { last_task: msg.task_id });
  busy.delete(id);
}

async function main() {
  for (const id of ids) await register(id);
  if (subscribe) {
    sub.on('message', (_c, raw) => {
      let msg;
      try {
        msg = JSON.parse(raw);
      } catch {
        return;
      }
      if (!mine.has(msg.assigned_worker)) return;
      // Like the MLOC worker's listen loop: a dispatch heard while busy waits for the current task.
      const id = msg.assigned_worker;
      const prev = chains.get(id) ?? Promise.resolve();
      const next = prev.then(() => run(msg)).catch((err) => process.stderr.write(`fleet: ${err.message}\n`));
      chains.set(id, next);
    });
    await sub.subscribe(topic);
  }
  setInterval(() => ids.forEach((id) => heartbeat(id).catch(() => undefined)), heartbeatMs);
  process.stdout.write(JSON.stringify({ ready: size }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`fleet failed: ${err.stack}\n`);
  process.exit(1);
});
