/**
 * Simulated v1 workers: thousands of them in one process, over a few Redis connections, each
 * speaking PROTOCOL.md v1 exactly as the MLOC worker does. The fast path of the tests' worker
 * emulation (test/support/fake-worker.ts): the same commands, built by test/support/v1-messages.ts,
 * but pipelined across many workers on shared connections:
 *
 *   register   SADD workers:ids, HSET worker:{id} (all fields, status STARTING), PUBLISH REGISTER;
 *              heartbeat; status IDLE
 *   heartbeat  SETEX worker:{id}:hb <ttl> <now>, HSET last_seen, PUBLISH HEARTBEAT (every interval)
 *   dispatch   (one subscription to the task topic for the whole process; a message is for one of
 *              our workers when `assigned_worker` is its id) status RUNNING with extra.task_id,
 *              run for `taskMs`, PUBLISH TASK_SUCCEEDED, status IDLE with extra.last_task
 *   stop       SREM, DEL worker:{id}, DEL worker:{id}:hb, PUBLISH UNREGISTER
 *
 * A worker runs one task at a time: a dispatch to a busy worker is queued and counted as an
 * anomaly (the orchestrator must never do that). The process also records what only a worker can
 * time in one clock: pipeline handoffs (stage n TASK_SUCCEEDED sent -> stage n+1 dispatch seen),
 * shard completion (last shard's TASK_SUCCEEDED sent -> parent ORCH_TASK_DONE seen), and the
 * order in which dispatches arrive. Runs as a forked child; the runner drives it over IPC.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { DEFAULT_TASK_TOPIC, DispatchMessage, isoNow, OrchestratorEventType, TASKS_EVENTS_CHANNEL } from '../src/contracts/protocol';
import * as v1 from '../test/support/v1-messages';
import { stageOf } from './lib/docs';
import { serve } from './lib/rpc';

interface SimConfig {
  redisUrl: string;
  topic?: string;
  connections?: number;
  heartbeatIntervalMs: number;
  heartbeatTtlSec: number;
}

interface SimWorker {
  id: string;
  conn: Redis;
  taskMs: number;
  busy: boolean;
  backlog: DispatchMessage[];
  tags: string[];
}

let config: SimConfig;
let conns: Redis[] = [];
let sub: Redis | null = null;
let topic = DEFAULT_TASK_TOPIC;
const workers = new Map<string, SimWorker>();
const order: SimWorker[] = [];
let hbTimer: NodeJS.Timeout | null = null;
let hbCursor = 0;
let hbBusy = false;
let observingTaskEvents = false;

const counters = {
  dispatches: 0,
  foreignDispatches: 0,
  duplicateDispatches: 0,
  busyDispatches: 0,
  succeeded: 0,
  commandsSent: 0,
  heartbeats: 0,
  subscriberReconnects: 0,
  badMessages: 0,
  errors: 0,
  inFlight: 0,
};
let lastError = '';

// Records, cleared by reset().
const seenTasks = new Set<string>();
let recordOrder = false;
let orderLog: { name: string; priority: number }[] = [];
let recordHandoffs = false;
const stageSucceededAt = new Map<string, number>();
let handoffs: number[] = [];
const shardParents = new Map<string, { total: number; succeeded: number; lastSucceededAt: number }>();
let shardDone: { parentId: string; shards: number; ms: number }[] = [];

const now = () => performance.now();

function conn(i: number): Redis {
  return conns[i % conns.length];
}

async function init(c: SimConfig) {
  config = c;
  topic = c.topic ?? DEFAULT_TASK_TOPIC;
  const n = Math.max(1, c.connections ?? 4);
  conns = Array.from({ length: n }, (_, i) => new Redis(c.redisUrl, { connectionName: `bench-sim-${i}`, maxRetriesPerRequest: 3 }));
  sub = new Redis(c.redisUrl, { connectionName: 'bench-sim-sub', maxRetriesPerRequest: null });
  sub.on('reconnecting', () => counters.subscriberReconnects++);
  sub.on('message', onMessage);
  await Promise.all(conns.map((r) => r.ping()));
  await sub.subscribe(topic);
  hbTimer = setInterval(heartbeatTick, 100);
  return { pid: process.pid };
}

function hardwareFor(kind: string) {
  const hw = kind === 'gpu' ? v1.GPU_HW(['NVIDIA A100-SXM4-80GB'], 8, 32) : v1.CPU_HW();
  return { ...hw, network: { ip: '127.0.0.1' } };
}

/** Registers `count` workers (PROTOCOL section 1, in order), `chunk` at a time per connection. */
async function addWorkers(arg: { prefix: string; count: number; hardware?: 'cpu' | 'gpu'; taskMs?: number; tags?: string[] }) {
  const t0 = now();
  const hardware = hardwareFor(arg.hardware ?? 'cpu');
  const tags = arg.tags ?? [];
  const created: SimWorker[] = [];
  for (let i = 0; i < arg.count; i++) {
    const id = `${arg.prefix}-w${i}`;
    if (workers.has(id)) continue;
    const w: SimWorker = { id, conn: conn(order.length), taskMs: arg.taskMs ?? 0, busy: false, backlog: [], tags };
    workers.set(id, w);
    order.push(w);
    created.push(w);
  }
  const CHUNK = 200;
  for (let i = 0; i < created.length; i += CHUNK * conns.length) {
    await Promise.all(
      conns.map(async (c) => {
        const mine = created.slice(i, i + CHUNK * conns.length).filter((w) => w.conn === c);
        if (mine.length === 0) return;
        const p = c.pipeline();
        for (const w of mine) {
          v1.register(p, { id: w.id, hardware, tags, env: { python: '3.11', simulated: true } }, isoNow());
          heartbeatInto(p, w);
          statusInto(p, w, 'IDLE', {});
          counters.commandsSent += v1.COMMANDS.register + v1.COMMANDS.heartbeat + v1.COMMANDS.status;
        }
        await p.exec();
      }),
    );
  }
  return { registered: created.length, total: workers.size, ms: now() - t0 };
}

type Pipe = ReturnType<Redis['pipeline']>;

function heartbeatInto(p: Pipe, w: SimWorker) {
  v1.heartbeat(p, w, config.heartbeatTtlSec, isoNow());
}

function statusInto(p: Pipe, w: SimWorker, status: string, extra: Record<string, string>) {
  v1.status(p, w, status, extra, isoNow());
}

/** Every 100 ms, the share of workers whose heartbeat is due, so each beats once per interval. */
function heartbeatTick() {
  if (hbBusy || order.length === 0 || config.heartbeatIntervalMs <= 0) return;
  const n = Math.min(order.length, Math.ceil((order.length * 100) / config.heartbeatIntervalMs));
  const pipes = new Map<Redis, Pipe>();
  for (let k = 0; k < n; k++) {
    const w = order[hbCursor % order.length];
    hbCursor++;
    let p = pipes.get(w.conn);
    if (!p) pipes.set(w.conn, (p = w.conn.pipeline()));
    heartbeatInto(p, w);
    counters.commandsSent += v1.COMMANDS.heartbeat;
    counters.heartbeats++;
  }
  hbBusy = true;
  Promise.all([...pipes.values()].map((p) => p.exec()))
    .catch(noteError)
    .finally(() => (hbBusy = false));
}

function noteError(err: unknown) {
  counters.errors++;
  lastError = err instanceof Error ? err.message : String(err);
}

function onMessage(channel: string, raw: string) {
  if (channel === topic) return onDispatch(raw);
  if (channel === TASKS_EVENTS_CHANNEL) return onTaskEvent(raw);
}

function onDispatch(raw: string) {
  const t = now();
  let msg: DispatchMessage;
  try {
    msg = JSON.parse(raw) as DispatchMessage;
  } catch {
    counters.badMessages++;
    return;
  }
  const w = workers.get(msg.assigned_worker);
  if (!w) {
    counters.foreignDispatches++;
    return;
  }
  counters.dispatches++;
  if (seenTasks.has(msg.task_id)) counters.duplicateDispatches++;
  seenTasks.add(msg.task_id);
  const meta = (msg.task?.metadata ?? {}) as { name?: string };
  const spec = (msg.task?.spec ?? {}) as { priority?: number; shard?: { parent_task_id?: string; total?: number } };
  const name = meta.name ?? '';
  if (recordOrder) orderLog.push({ name, priority: Number(spec.priority ?? 0) });
  if (recordHandoffs) {
    const st = stageOf(name);
    if (st && st.stage > 1) {
      const prev = stageSucceededAt.get(`${st.base}:s${st.stage - 1}`);
      if (prev !== undefined) handoffs.push(t - prev);
    }
  }
  if (spec.shard?.parent_task_id && observingTaskEvents && !shardParents.has(spec.shard.parent_task_id)) {
    shardParents.set(spec.shard.parent_task_id, { total: Number(spec.shard.total ?? 0), succeeded: 0, lastSucceededAt: 0 });
  }
  if (w.busy) {
    counters.busyDispatches++;
    w.backlog.push(msg);
    return;
  }
  void run(w, msg);
}

function resultFor(msg: DispatchMessage): unknown {
  const spec = (msg.task?.spec ?? {}) as { shard?: unknown; data?: { prompts?: unknown[] } };
  if (!spec.shard) return {};
  const prompts = Array.isArray(spec.data?.prompts) ? spec.data!.prompts! : [];
  return {
    items: prompts.map((p) => ({ prompt: p, output: 'ok' })),
    usage: { prompt_tokens: prompts.length * 12, completion_tokens: prompts.length * 24 },
    model: 'simulated',
  };
}

/** One task on one worker, exactly steps 1-5 of PROTOCOL section 2 (the executor takes taskMs). */
async function run(w: SimWorker, msg: DispatchMessage): Promise<void> {
  w.busy = true;
  counters.inFlight++;
  try {
    const ack = w.conn.pipeline();
    statusInto(ack, w, 'RUNNING', { task_id: msg.task_id });
    counters.commandsSent += v1.COMMANDS.status;
    await ack.exec();
    if (w.taskMs > 0) await new Promise((r) => setTimeout(r, w.taskMs));
    const name = ((msg.task?.metadata ?? {}) as { name?: string }).name ?? '';
    const done = w.conn.pipeline();
    v1.report(done, w, 'TASK_SUCCEEDED', msg.task_id, { result: resultFor(msg) }, isoNow());
    statusInto(done, w, 'IDLE', { last_task: msg.task_id });
    counters.commandsSent += v1.COMMANDS.report + v1.COMMANDS.status;
    const t = now();
    if (recordHandoffs && stageOf(name)) stageSucceededAt.set(name, t);
    const parentId = ((msg.task?.spec ?? {}) as { shard?: { parent_task_id?: string } }).shard?.parent_task_id;
    const parent = parentId ? shardParents.get(parentId) : undefined;
    if (parent) {
      parent.succeeded++;
      parent.lastSucceededAt = Math.max(parent.lastSucceededAt, t);
    }
    const sent = done.exec();
    // Free from here on: the orchestrator may dispatch again as soon as it has our report, even
    // before our own reply arrives. A dispatch that comes while `busy` (before the report was
    // sent) is a real double booking. Later commands of this worker go on the same connection,
    // so Redis still sees them after these.
    release(w);
    await sent;
    counters.succeeded++;
  } catch (err) {
    noteError(err);
    if (w.busy) release(w);
  } finally {
    counters.inFlight--;
  }
}

function release(w: SimWorker) {
  w.busy = false;
  const next = w.backlog.shift();
  if (next) void run(w, next);
}

function onTaskEvent(raw: string) {
  if (!raw.includes(OrchestratorEventType.DONE)) return;
  const t = now();
  let ev: { type?: string; task_id?: string };
  try {
    ev = JSON.parse(raw);
  } catch {
    return;
  }
  if (ev.type !== OrchestratorEventType.DONE || !ev.task_id) return;
  const p = shardParents.get(ev.task_id);
  if (!p) return;
  shardDone.push({ parentId: ev.task_id, shards: p.succeeded, ms: p.succeeded >= p.total && p.lastSucceededAt > 0 ? t - p.lastSucceededAt : NaN });
  shardParents.delete(ev.task_id);
}

const handlers = {
  init,
  addWorkers,
  setTaskMs(arg: { taskMs: number }) {
    for (const w of order) w.taskMs = arg.taskMs;
    return workers.size;
  },
  async observe(arg: { taskEvents?: boolean; order?: boolean; handoffs?: boolean }) {
    recordOrder = !!arg.order;
    recordHandoffs = !!arg.handoffs;
    if (arg.taskEvents !== undefined && arg.taskEvents !== observingTaskEvents) {
      observingTaskEvents = arg.taskEvents;
      if (arg.taskEvents) await sub!.subscribe(TASKS_EVENTS_CHANNEL);
      else await sub!.unsubscribe(TASKS_EVENTS_CHANNEL);
    }
    return true;
  },
  reset() {
    for (const k of Object.keys(counters) as (keyof typeof counters)[]) if (k !== 'inFlight') counters[k] = 0;
    seenTasks.clear();
    orderLog = [];
    stageSucceededAt.clear();
    handoffs = [];
    shardParents.clear();
    shardDone = [];
    lastError = '';
    return true;
  },
  stats() {
    return { ...counters, workers: workers.size, lastError };
  },
  records() {
    return { orderLog, handoffs, shardDone };
  },
  async unregisterAll() {
    const list = [...order];
    for (let i = 0; i < list.length; i += 500) {
      const pipes = new Map<Redis, Pipe>();
      for (const w of list.slice(i, i + 500)) {
        let p = pipes.get(w.conn);
        if (!p) pipes.set(w.conn, (p = w.conn.pipeline()));
        v1.unregister(p, w, isoNow());
      }
      await Promise.all([...pipes.values()].map((p) => p.exec()));
    }
    workers.clear();
    order.length = 0;
    return list.length;
  },
  async close() {
    shutdown();
    return true;
  },
};

function shutdown() {
  if (hbTimer) clearInterval(hbTimer);
  hbTimer = null;
  sub?.disconnect();
  for (const c of conns) c.disconnect();
  setTimeout(() => process.exit(0), 50).unref();
}

serve(handlers, () => process.exit(0));
