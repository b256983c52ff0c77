/**
 * What a v1 worker writes to Redis, step by step (docs/protocol.md, sections 1 and 2), in one
 * place: the test worker (fake-worker.ts), the fault suite's worker fleet (worker-fleet.ts) and the
 * bench's simulator of thousands of workers (bench/sim-workers.ts) all send these exact commands.
 * Each step writes into a `CommandSink`: an ioredis connection (one round trip per command) or a
 * pipeline (the bench batches many workers' steps into one).
 *
 * Two generations of the MLOC worker differ in their event shapes (docs/protocol.md, "Two worker
 * generations"):
 * - `dd27001`: the events carry only their own keys; STATUS has the task in `extra`, which is
 *   also written to the worker hash as `extra_<key>`;
 * - `later`: every event carries every key of the worker's one event model, null where it has
 *   nothing to say; STATUS has the task in `payload` and no extra_ fields; a TASK_STARTED goes to
 *   tasks.events before a task runs; a TASK_SUCCEEDED carries no `result`.
 */
import { EVENTS_STREAM_KEY, EVENTS_STREAM_MAXLEN, TASKS_EVENTS_CHANNEL, WORKER_IDS_KEY, workerHeartbeatKey, workerKey, WORKERS_EVENTS_CHANNEL } from '../../src/contracts/protocol';

export type Generation = 'dd27001' | 'later';

/** The Redis commands a worker step uses; both `Redis` and `Redis#pipeline()` are sinks. */
export interface CommandSink {
  sadd(key: string, member: string): unknown;
  srem(key: string, member: string): unknown;
  hset(key: string, fields: Record<string, string>): unknown;
  setex(key: string, seconds: number, value: string): unknown;
  del(...keys: string[]): unknown;
  publish(channel: string, message: string): unknown;
  xadd(key: string, ...args: (string | number)[]): unknown;
}

export const CPU_HW = (cores = 8, memGi = 32) => ({ cpu: { logical_cores: cores, model: 'x86_64' }, memory: { total_bytes: memGi * 2 ** 30 } });
export const GPU_HW = (gpus: string[], cores = 16, memGi = 64, vramGi: number | null = 80) => ({
  ...CPU_HW(cores, memGi),
  gpu: {
    driver_version: '550.54',
    cuda_version: '12.4',
    gpus: gpus.map((name, index) => ({ index, name, uuid: `GPU-${index}`, memory_bytes: vramGi === null ? null : vramGi * 2 ** 30 })),
  },
});

/** Who a worker says it is at registration. */
export interface WorkerIdentity {
  id: string;
  generation?: Generation;
  hardware?: Record<string, unknown>;
  tags?: string[];
  /** env_json (e.g. `{ executors: [...] }`); default `{ python: '3.11' }`. */
  env?: Record<string, unknown>;
  pid?: number;
  /** 2: the durable variant (docs/protocol.md, v2): `protocol` in the hash and the REGISTER. */
  protocol?: 1 | 2;
}

const LATER_MODEL = { task_id: null, status: null, tags: null, metrics: null, payload: null, result: null, error: null };

/** One event as a worker of `generation` writes it (JSON text). */
export function workerEvent(generation: Generation | undefined, type: string, workerId: string, ts: string, fields: Record<string, unknown> = {}): string {
  if (generation === 'later') return JSON.stringify({ type, worker_id: workerId, ...LATER_MODEL, ts, ...fields });
  return JSON.stringify({ type, worker_id: workerId, ...fields, ts });
}

/** Section 1: SADD workers:ids, HSET worker:{id} (every field, status STARTING), PUBLISH REGISTER. */
export function register(sink: CommandSink, w: WorkerIdentity, ts: string): void {
  const v2 = w.protocol === 2;
  sink.sadd(WORKER_IDS_KEY, w.id);
  sink.hset(workerKey(w.id), {
    worker_id: w.id,
    status: 'STARTING',
    started_at: ts,
    pid: String(w.pid ?? process.pid),
    env_json: JSON.stringify(w.env ?? { python: w.generation === 'later' ? '3.12' : '3.11' }),
    hardware_json: JSON.stringify(w.hardware ?? CPU_HW()),
    tags_json: JSON.stringify(w.tags ?? []),
    last_seen: ts,
    ...(v2 ? { protocol: '2' } : {}),
  });
  sink.publish(WORKERS_EVENTS_CHANNEL, workerEvent(w.generation, 'REGISTER', w.id, ts, { status: 'STARTING', tags: w.tags ?? [], ...(v2 ? { protocol: 2 } : {}) }));
}

const LOAD = { loadavg: { '1m': 0.1, '5m': 0.1, '15m': 0.1 } };

/** SETEX worker:{id}:hb <ttl> <now>, HSET last_seen, PUBLISH HEARTBEAT. */
export function heartbeat(sink: CommandSink, w: Pick<WorkerIdentity, 'id' | 'generation'>, ttlSec: number, ts: string): void {
  sink.setex(workerHeartbeatKey(w.id), Math.max(1, Math.ceil(ttlSec)), ts);
  sink.hset(workerKey(w.id), { last_seen: ts });
  sink.publish(WORKERS_EVENTS_CHANNEL, workerEvent(w.generation, 'HEARTBEAT', w.id, ts, { metrics: LOAD }));
}

/**
 * HSET status (and, dd27001, extra_<key>), PUBLISH STATUS. `extra` holds task_id (RUNNING, the v1
 * acknowledgement) or last_task (IDLE after a task); the later generation sends only a running
 * task, as `payload.task_id`.
 */
export function status(sink: CommandSink, w: Pick<WorkerIdentity, 'id' | 'generation'>, value: string, extra: Record<string, string>, ts: string): void {
  if (w.generation === 'later') {
    sink.hset(workerKey(w.id), { status: value, last_seen: ts });
    const payload = value === 'RUNNING' && extra.task_id ? { task_id: extra.task_id } : null;
    sink.publish(WORKERS_EVENTS_CHANNEL, workerEvent('later', 'STATUS', w.id, ts, { status: value, metrics: {}, payload }));
    return;
  }
  const fields: Record<string, string> = { status: value, last_seen: ts };
  for (const [k, v] of Object.entries(extra)) fields[`extra_${k}`] = v;
  sink.hset(workerKey(w.id), fields);
  sink.publish(WORKERS_EVENTS_CHANNEL, workerEvent(w.generation, 'STATUS', w.id, ts, { status: value, extra }));
}

export type ReportType = 'TASK_STARTED' | 'TASK_SUCCEEDED' | 'TASK_FAILED';

/**
 * A task event (TASK_SUCCEEDED with `result`, TASK_FAILED with `error`, TASK_STARTED). v1:
 * PUBLISH on tasks.events. v2 (`attempt` given): XADD on the stream, mirrored on tasks.events
 * except TASK_STARTED. The later generation's TASK_SUCCEEDED has no result.
 */
export function report(
  sink: CommandSink,
  w: Pick<WorkerIdentity, 'id' | 'generation' | 'protocol'>,
  type: ReportType | string,
  taskId: string,
  body: Record<string, unknown>,
  ts: string,
  attempt?: number,
): void {
  const fields: Record<string, unknown> = { task_id: taskId, ...body };
  if (w.generation === 'later' && type === 'TASK_SUCCEEDED') delete fields.result;
  if (w.protocol === 2) {
    const event = JSON.stringify({ type, ...fields, worker_id: w.id, ts, protocol: 2, attempt });
    sink.xadd(EVENTS_STREAM_KEY, 'MAXLEN', '~', EVENTS_STREAM_MAXLEN, '*', 'event', event);
    if (type !== 'TASK_STARTED') sink.publish(TASKS_EVENTS_CHANNEL, event);
    return;
  }
  sink.publish(TASKS_EVENTS_CHANNEL, workerEvent(w.generation, type, w.id, ts, fields));
}

/** SREM workers:ids, DEL the hash and the heartbeat, PUBLISH UNREGISTER. */
export function unregister(sink: CommandSink, w: Pick<WorkerIdentity, 'id' | 'generation'>, ts: string): void {
  sink.srem(WORKER_IDS_KEY, w.id);
  sink.del(workerKey(w.id), workerHeartbeatKey(w.id));
  sink.publish(WORKERS_EVENTS_CHANNEL, workerEvent(w.generation, 'UNREGISTER', w.id, ts));
}

/** How many Redis commands each step sends (the bench counts the workers' share). */
export const COMMANDS = { register: 3, heartbeat: 3, status: 2, report: 1, unregister: 3 } as const;
