/**
 * The worker's side of PROTOCOL v1 (sections 1 and 2): registry entry, heartbeats, status changes,
 * task reports, unregistration; and of the durable variant v2 (docs/protocol.md): the `protocol`
 * registration field, dispatches taken from the inbox into the processing list, acknowledgements
 * and reports on the event stream. Every key, channel and field comes from contracts/protocol.ts,
 * the file the orchestrator reads them with, so the two cannot drift apart.
 */
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import type { ChainableCommander, Redis } from 'ioredis';
import {
  DispatchMessage,
  EVENTS_STREAM_KEY,
  EVENTS_STREAM_MAXLEN,
  HardwareInfo,
  isoNow,
  PROTOCOL_V2,
  TASK_LOG_BATCH_LINES,
  TASK_LOG_MAX_LINES,
  TASK_LOG_TTL_SEC,
  taskHashKey,
  taskLogsKey,
  TASKS_EVENTS_CHANNEL,
  TaskStartedEvent,
  WORKER_IDS_KEY,
  WorkerEvent,
  workerHeartbeatKey,
  workerInboxKey,
  workerKey,
  workerProcessingKey,
  WORKERS_EVENTS_CHANNEL,
  WorkerTaskEvent,
} from '../contracts/protocol';
import { encodeLogEntry, logEntryId, RawLogLine, REPORT_PROGRESS_LUA } from '../contracts/task-logs';
import type { WorkerProtocol } from './config';
import type { LogSink, Progress } from './task-log';

export interface Registration {
  hardware: HardwareInfo;
  tags: string[];
  env: Record<string, unknown>;
  startedAt: string;
}

/**
 * A task outcome, reported on `tasks.events` (v1), or on the event stream and mirrored on
 * `tasks.events` (v2). `entry` is the dispatch as it sits in the processing list (v2): removed
 * from there in the same transaction as the report.
 */
export type TaskReport = { taskId: string; attempt?: number; entry?: string } & ({ ok: true; result: unknown } | { ok: false; error: string });

const REPORT_PROGRESS_SHA = createHash('sha1').update(REPORT_PROGRESS_LUA).digest('hex');

export class ProtocolClient implements LogSink {
  constructor(
    private readonly redis: Redis,
    readonly workerId: string,
    private readonly heartbeatTtlSec: number,
    readonly protocol: WorkerProtocol = 1,
  ) {}

  private get v2(): boolean {
    return this.protocol === PROTOCOL_V2;
  }

  /**
   * Registration in the order of PROTOCOL section 1 (SADD, HSET with status STARTING, REGISTER
   * event), then a first heartbeat so that the orchestrator never sees us without a live
   * heartbeat key, then IDLE. Sent as one MULTI so nobody reads a half-written entry.
   */
  async register(reg: Registration): Promise<void> {
    const now = isoNow();
    const id = this.workerId;
    const register: WorkerEvent = { type: 'REGISTER', worker_id: id, status: 'STARTING', ts: now, tags: reg.tags, ...(this.v2 ? { protocol: PROTOCOL_V2 } : {}) };
    await this.redis
      .multi()
      .sadd(WORKER_IDS_KEY, id)
      .hset(workerKey(id), {
        worker_id: id,
        status: 'STARTING',
        started_at: reg.startedAt,
        pid: String(process.pid),
        env_json: JSON.stringify(reg.env),
        hardware_json: JSON.stringify(reg.hardware),
        tags_json: JSON.stringify(reg.tags),
        last_seen: now,
        // v2: the field the orchestrator tells a durable worker by (docs/protocol.md, Registration).
        ...(this.v2 ? { protocol: String(PROTOCOL_V2) } : {}),
      })
      .publish(WORKERS_EVENTS_CHANNEL, JSON.stringify(register))
      .exec();
    await this.heartbeat();
  }

  /**
   * SETEX of the heartbeat key, `last_seen`, a HEARTBEAT event with the load average. Resolves
   * false when our registry entry is gone (a cleanup removed us while we were unreachable, or
   * Redis lost its data): the caller then registers again.
   */
  async heartbeat(): Promise<boolean> {
    const now = isoNow();
    const [l1, l5, l15] = loadavg();
    const event: WorkerEvent = { type: 'HEARTBEAT', worker_id: this.workerId, ts: now, metrics: { loadavg: { '1m': l1, '5m': l5, '15m': l15 } } };
    const replies = await this.redis
      .multi()
      .sismember(WORKER_IDS_KEY, this.workerId)
      .setex(workerHeartbeatKey(this.workerId), Math.ceil(this.heartbeatTtlSec), now)
      .hset(workerKey(this.workerId), 'last_seen', now)
      .publish(WORKERS_EVENTS_CHANNEL, JSON.stringify(event))
      .exec();
    return replies?.[0]?.[1] === 1;
  }

  /** `HSET status last_seen [extra_<k> ...]` and a STATUS event (PROTOCOL section 1). */
  async setStatus(status: string, extra: Record<string, string> = {}): Promise<void> {
    await this.statusCommands(this.redis.multi(), status, extra, isoNow()).exec();
  }

  private statusCommands(tx: ChainableCommander, status: string, extra: Record<string, string>, now: string): ChainableCommander {
    const fields: Record<string, string> = { status, last_seen: now };
    for (const [k, v] of Object.entries(extra)) fields[`extra_${k}`] = v;
    const event: WorkerEvent = { type: 'STATUS', worker_id: this.workerId, status, ts: now, extra };
    return tx.hset(workerKey(this.workerId), fields).publish(WORKERS_EVENTS_CHANNEL, JSON.stringify(event));
  }

  /**
   * The acknowledgement of a dispatch: status RUNNING with `extra.task_id` (all v1 gives); in v2
   * also TASK_STARTED with the attempt on the event stream, in the same transaction.
   */
  async acknowledge(msg: DispatchMessage): Promise<void> {
    if (!this.v2) return this.setStatus('RUNNING', { task_id: msg.task_id });
    const now = isoNow();
    const started: TaskStartedEvent = { type: 'TASK_STARTED', worker_id: this.workerId, task_id: msg.task_id, ...attemptOf(msg.attempt), protocol: PROTOCOL_V2, ts: now };
    await execOrThrow(this.statusCommands(this.redis.multi(), 'RUNNING', { task_id: msg.task_id }, now).xadd(...streamEntry(JSON.stringify(started))));
  }

  /**
   * TASK_SUCCEEDED or TASK_FAILED. `attempt` is echoed when the dispatch carried one: v1 readers
   * ignore it, and the orchestrator uses it to recognise a late answer from an earlier attempt.
   * v2, in one transaction and in this order: the stream entry (what the orchestrator applies), the
   * same JSON on `tasks.events` (a mirror for monitoring), the LREM of the dispatch from the
   * processing list. Stream first: were the LREM ever lost, the worst outcome is the same report
   * twice at the next start-up, which the orchestrator ignores by its attempt number.
   */
  async report(r: TaskReport): Promise<void> {
    if (!this.v2) {
      const base = { worker_id: this.workerId, task_id: r.taskId, ts: isoNow(), ...attemptOf(r.attempt) };
      const event: WorkerTaskEvent = r.ok ? { type: 'TASK_SUCCEEDED', ...base, result: r.result } : { type: 'TASK_FAILED', ...base, error: r.error };
      await this.redis.publish(TASKS_EVENTS_CHANNEL, JSON.stringify(event));
      return;
    }
    const base = { worker_id: this.workerId, task_id: r.taskId, ...attemptOf(r.attempt) };
    const event: WorkerTaskEvent = r.ok
      ? { type: 'TASK_SUCCEEDED', ...base, result: r.result, protocol: PROTOCOL_V2, ts: isoNow() }
      : { type: 'TASK_FAILED', ...base, error: r.error, protocol: PROTOCOL_V2, ts: isoNow() };
    const json = JSON.stringify(event);
    const tx = this.redis
      .multi()
      .xadd(...streamEntry(json))
      .publish(TASKS_EVENTS_CHANNEL, json);
    if (r.entry !== undefined) tx.lrem(workerProcessingKey(this.workerId), 0, r.entry);
    await execOrThrow(tx);
  }

  /**
   * v2: waits up to `timeoutSec` for a dispatch in our inbox and moves it to our processing list
   * (`BLMOVE inbox processing LEFT RIGHT`), atomically, so that a crash never loses it. `conn` is
   * a connection of its own: the command blocks. Resolves the message as stored, or null.
   */
  takeDispatch(conn: Redis, timeoutSec: number): Promise<string | null> {
    return conn.blmove(workerInboxKey(this.workerId), workerProcessingKey(this.workerId), 'LEFT', 'RIGHT', timeoutSec);
  }

  /** v2: what sits in our processing list: dispatches taken and not reported (we crashed). */
  unfinished(): Promise<string[]> {
    return this.redis.lrange(workerProcessingKey(this.workerId), 0, -1);
  }

  /** v2: removes an entry of the processing list that is not a dispatch for us (nothing to report). */
  async discard(entry: string): Promise<void> {
    await this.redis.lrem(workerProcessingKey(this.workerId), 0, entry);
  }

  /**
   * v2: a task's output lines, `lastLine` the number of the last (from 1), in one transaction: one
   * entry of its log stream per TASK_LOG_BATCH_LINES lines, id `<attempt>-<number of its last line>`;
   * entries wholly before the last TASK_LOG_MAX_LINES lines of this attempt (and every entry of an
   * earlier attempt) are trimmed (MINID), and the stream's TTL is renewed. Rejects when a later
   * attempt already writes the log (its ids are higher): TaskLog then stops.
   */
  async appendLog(taskId: string, attempt: number, lastLine: number, lines: RawLogLine[]): Promise<void> {
    const key = taskLogsKey(taskId);
    const minId = logEntryId(attempt, Math.max(0, lastLine - TASK_LOG_MAX_LINES + 1));
    const tx = this.redis.multi();
    const first = lastLine - lines.length;
    for (let i = 0; i < lines.length; i += TASK_LOG_BATCH_LINES) {
      const batch = lines.slice(i, i + TASK_LOG_BATCH_LINES);
      tx.call('XADD', key, 'MINID', '=', minId, logEntryId(attempt, first + i + batch.length), ...encodeLogEntry(this.workerId, batch));
    }
    await execOrThrow(tx.expire(key, TASK_LOG_TTL_SEC));
  }

  /**
   * v2: a task's progress, written by the report-progress script (contracts/task-logs.ts) only while
   * we hold the task's current attempt. Resolves 1 (written), 0 (not ours: ignored) or -1 (refused).
   */
  async reportProgress(taskId: string, attempt: number | undefined, p: Progress): Promise<number> {
    const args = [taskHashKey(taskId), this.workerId, attempt ?? '', p.done, p.total ?? '', p.unit ?? ''];
    try {
      return Number(await this.redis.evalsha(REPORT_PROGRESS_SHA, 1, ...args));
    } catch (err) {
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
      return Number(await this.redis.eval(REPORT_PROGRESS_LUA, 1, ...args));
    }
  }

  /** Clean shutdown: SREM, DEL of the entry and the heartbeat key, UNREGISTER event. */
  async unregister(): Promise<void> {
    const id = this.workerId;
    const event: WorkerEvent = { type: 'UNREGISTER', worker_id: id, ts: isoNow() };
    await this.redis.multi().srem(WORKER_IDS_KEY, id).del(workerKey(id), workerHeartbeatKey(id)).publish(WORKERS_EVENTS_CHANNEL, JSON.stringify(event)).exec();
  }
}

const attemptOf = (attempt: number | undefined): { attempt?: number } => (attempt !== undefined ? { attempt } : {});

/** `XADD mloc:events MAXLEN ~ 100000 * event <json>` (docs/protocol.md, Events). */
const streamEntry = (json: string) => [EVENTS_STREAM_KEY, 'MAXLEN', '~', EVENTS_STREAM_MAXLEN, '*', 'event', json] as const;

/** EXEC, rejecting when any command of the transaction failed (ioredis resolves those as replies). */
async function execOrThrow(tx: ChainableCommander): Promise<void> {
  const replies = await tx.exec();
  if (!replies) throw new Error('transaction aborted');
  const failed = replies.find(([err]) => err);
  if (failed) throw failed[0];
}
