import { Injectable } from '@nestjs/common';
import { Keys } from '../../redis/keys';
import { RedisService } from '../../redis/redis.service';

/** One stream entry as XRANGE returns it: `[id, [field, value, ...]]`. */
export type LogEntry = [string, string[]];

/** The task fields the logs route reads. */
export interface LogTaskFields {
  status: string | null;
  assignedWorker: string | null;
  attempts: string | null;
  children: string | null;
  progress: string | null;
}

/**
 * The log streams of tasks (`mloc:task:<id>:logs`, written by our v2 worker, contracts/task-logs.ts)
 * and the few task fields reading them needs. Used by this folder's service only. Never blocks the
 * shared command connection: followers poll with plain XRANGE.
 */
@Injectable()
export class TaskLogsRepository {
  constructor(private readonly redis: RedisService) {}

  /** The task's fields (null when there is no task) and its newest `count` entries, newest first; one round trip. */
  async head(taskId: string, count: number): Promise<{ task: LogTaskFields | null; entries: LogEntry[] }> {
    const [fields, entries] = await Promise.all([
      this.redis.cmd.hmget(Keys.task(taskId), 'id', 'status', 'assigned_worker', 'attempts', 'children', 'progress'),
      this.redis.cmd.xrevrange(Keys.taskLogs(taskId), '+', '-', 'COUNT', count) as Promise<LogEntry[]>,
    ]);
    const [id, status, assignedWorker, attempts, children, progress] = fields;
    return { task: id ? { status, assignedWorker, attempts, children, progress } : null, entries };
  }

  /**
   * A follower's poll, one round trip: the task's status and progress, then up to `count` entries
   * after `afterId`. In this order: a status read as final was written after the worker's last
   * lines (it writes them before it reports), so the entries read next include them all.
   */
  async poll(taskId: string, afterId: string, count: number): Promise<{ status: string | null; progress: string | null; entries: LogEntry[] }> {
    const [[status, progress], entries] = await Promise.all([
      this.redis.cmd.hmget(Keys.task(taskId), 'status', 'progress'),
      this.redis.cmd.xrange(Keys.taskLogs(taskId), `(${afterId}`, '+', 'COUNT', count) as Promise<LogEntry[]>,
    ]);
    return { status, progress, entries };
  }

  /** Deletes the log streams of these tasks; resolves how many existed. */
  async remove(taskIds: string[]): Promise<number> {
    if (taskIds.length === 0) return 0;
    return this.redis.cmd.del(...taskIds.map((id) => Keys.taskLogs(id)));
  }
}
