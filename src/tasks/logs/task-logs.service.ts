import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '../../common/errors';
import { isTaskId } from '../../contracts/ids';
import { PROTOCOL_V2, TASK_LOG_MAX_LINES } from '../../contracts/protocol';
import { decodeLogEntry, decodeProgress, LogLine } from '../../contracts/task-logs';
import { isFinal, MULTI_WORKER } from '../../contracts/task-states';
import { WorkersService } from '../../workers/workers.service';
import { LogEntry, LogTaskFields, TaskLogsRepository } from './task-logs.repository';

/** The answer of GET /api/v1/tasks/{id}/logs. */
export interface TaskLogs {
  task_id: string;
  lines: LogLine[];
  /** false when the task's worker sends no logs (the v1 fleet). */
  supported: boolean;
  note?: string;
}

export const V1_NOTE = 'v1 workers send no logs: this task ran on a v1 worker, so there are none to show';
/** How often a follower reads the stream and the task's status. */
export const FOLLOW_POLL_MS = 250;
/** A comment line this often keeps proxies from closing a quiet stream. */
export const FOLLOW_HEARTBEAT_MS = 15_000;
/** Entries read per poll at most (a batch holds up to 64 lines). */
const POLL_ENTRIES = 200;

/**
 * GET /api/v1/tasks/{id}/logs: the last lines of a task's log stream, or (`follow`) those and every
 * new one as Server-Sent Events until the task ends. Followers poll the stream and the task's
 * status every FOLLOW_POLL_MS with plain XRANGE/HMGET (one round trip, nothing blocks the shared
 * connection); a client that goes away stops its poll.
 */
@Injectable()
export class TaskLogsService implements OnModuleDestroy {
  private readonly log = new Logger('TaskLogs');
  private readonly followers = new Set<() => void>();

  constructor(
    private readonly repo: TaskLogsRepository,
    private readonly workers: WorkersService,
  ) {}

  async read(taskId: string, tail: number): Promise<TaskLogs> {
    const { lastId: _lastId, ...logs } = await this.readWithCursor(taskId, tail);
    return logs;
  }

  /** read(), with the id of the newest entry ('0-0' when none) for a follower to continue from. */
  private async readWithCursor(taskId: string, tail: number): Promise<TaskLogs & { lastId: string }> {
    if (!isTaskId(taskId)) throw taskNotFound(taskId);
    // A batch holds at least one line, so `tail` entries hold at least `tail` lines; the stream keeps about TASK_LOG_MAX_LINES.
    const { task, entries } = await this.repo.head(taskId, Math.min(tail, TASK_LOG_MAX_LINES + 100));
    if (!task) throw taskNotFound(taskId);
    const lines = linesOf([...entries].reverse()).slice(-tail);
    const lastId = entries[0]?.[0] ?? '0-0';
    if (lines.length > 0) return { task_id: taskId, lines, supported: true, lastId };
    return { task_id: taskId, lines, lastId, ...(await this.whyEmpty(task)) };
  }

  /**
   * Streams the log as `text/event-stream`: `line` events (a LogLine each, the last `tail` first),
   * `progress` events when the task's progress changes, an `info` event when the log is empty for a
   * known reason (a v1 worker), comments as heartbeats, and a last `end` event with the task's
   * final status (null when the task is gone). Errors before the first byte are the usual JSON ones.
   */
  async follow(taskId: string, tail: number, req: Request, res: Response): Promise<void> {
    const first = await this.readWithCursor(taskId, tail);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    for (const line of first.lines) send('line', line);
    if (first.note !== undefined) send('info', { supported: first.supported, note: first.note });

    let last = first.lastId;
    let progress: string | null | undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), FOLLOW_HEARTBEAT_MS);
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      clearInterval(heartbeat);
      this.followers.delete(stop);
      if (!res.writableEnded) res.end();
    };
    this.followers.add(stop);
    req.on('close', stop);
    res.on('close', stop);

    const tick = async () => {
      if (stopped) return;
      // A slow reader gets nothing more until it drained what it has: memory stays bounded.
      if (!res.writableNeedDrain) {
        try {
          const p = await this.repo.poll(taskId, last, POLL_ENTRIES);
          if (stopped) return;
          for (const [id, fields] of p.entries) {
            for (const line of decodeLogEntry(id, fields)) send('line', line);
            last = id;
          }
          if (p.progress !== progress) {
            if (progress !== undefined || p.progress !== null) send('progress', decodeProgress(p.progress));
            progress = p.progress;
          }
          // Entries left unread (more than one poll's worth) are read before the end.
          if ((p.status === null || isFinal(p.status)) && p.entries.length < POLL_ENTRIES) {
            send('end', { status: p.status });
            return stop();
          }
        } catch (err) {
          this.log.warn(`log follower of ${taskId} stopped: ${(err as Error).message}`);
          send('error', { message: 'the log could not be read; reconnect to continue' });
          return stop();
        }
      }
      timer = setTimeout(() => void tick(), FOLLOW_POLL_MS);
    };
    await tick();
  }

  /** Deletes the logs of these tasks (for retention: a task's logs go with it). Resolves how many there were. */
  remove(taskIds: string[]): Promise<number> {
    return this.repo.remove(taskIds.filter(isTaskId));
  }

  /** Closes every open follow stream (shutdown). */
  onModuleDestroy(): void {
    for (const stop of [...this.followers]) stop();
  }

  /** Why a task has no lines: no output yet, a parent's are its shards', or its worker sends none (v1). */
  private async whyEmpty(task: LogTaskFields): Promise<{ supported: boolean; note?: string }> {
    if (task.children) return { supported: true, note: "a sharded task's lines are in its shards' logs (GET /api/v1/tasks/{shard id}/logs for each id in children)" };
    const worker = task.assignedWorker && task.assignedWorker !== MULTI_WORKER ? task.assignedWorker : lastAttemptWorker(task.attempts);
    if (!worker) return { supported: true, note: 'no output yet: the task has not run' };
    const entry = await this.workers.readEntry(worker);
    if (entry?.hash.protocol === String(PROTOCOL_V2)) return { supported: true };
    return { supported: false, note: entry ? V1_NOTE : `${V1_NOTE}, or its worker is gone and its logs expired` };
  }
}

/** The lines of entries in stream order. */
function linesOf(entries: LogEntry[]): LogLine[] {
  const out: LogLine[] = [];
  for (const [id, fields] of entries) for (const line of decodeLogEntry(id, fields)) out.push(line);
  return out;
}

function lastAttemptWorker(attempts: string | null): string | null {
  try {
    const list: unknown = JSON.parse(attempts ?? '[]');
    const last: unknown = Array.isArray(list) ? list[list.length - 1] : null;
    const worker = typeof last === 'object' && last !== null ? (last as { worker?: unknown }).worker : null;
    return typeof worker === 'string' && worker !== '' ? worker : null;
  } catch {
    return null;
  }
}

function taskNotFound(id: string): DomainError {
  return new DomainError('not_found', `Task ${id.length > 80 ? `${id.slice(0, 76)}...` : id} not found`);
}
