import { Injectable } from '@nestjs/common';
import { RedisService } from '../../redis/redis.service';

/** One call of remove-expired. */
export interface ExpiredBatch {
  /** Every id removed, shards included (their result files go too). */
  removed: string[];
  /** Tasks that could not go yet (an unfinished dependent, a worker still holding it): looked at again later. */
  postponed: number;
  /** The batch ended before the due entries did: call again soon. */
  more: boolean;
}

/** What delete-task answers. */
export type DeleteOutcome = { ok: true; removed: string[] } | { ok: false; error: string; task: string };

/** One step of a prune. */
export interface PruneStep {
  removed: string[];
  /** Tasks removed, not counting shards. */
  tasks: number;
  /** The score to go on from; null once the index was read to its end. */
  cursor: string | null;
}

/** The retention scripts (scripts/remove-expired.lua, delete-task.lua, prune-tasks.lua). Used by this module only. */
@Injectable()
export class RetentionRepository {
  constructor(private readonly redis: RedisService) {}

  async removeExpired(nowMs: number, batch: number, historyMax: number, recheckMs: number): Promise<ExpiredBatch> {
    const r = JSON.parse((await this.redis.run('remove-expired', nowMs, [batch, historyMax, recheckMs])) as string) as ExpiredBatch;
    // cjson writes an empty list as {}.
    return { ...r, removed: list(r.removed) };
  }

  async deleteTask(id: string, cascade: boolean, nowMs: number): Promise<DeleteOutcome> {
    const r = JSON.parse((await this.redis.run('delete-task', nowMs, [id, cascade ? '1' : '0'])) as string) as DeleteOutcome;
    return r.ok ? { ok: true, removed: list(r.removed) } : r;
  }

  async pruneStep(f: { status: string; owner: string; before: string }, cursor: string | null, examine: number, limit: number, nowMs: number): Promise<PruneStep> {
    const r = JSON.parse((await this.redis.run('prune-tasks', nowMs, [f.status, f.owner, f.before, cursor ?? '', examine, limit])) as string) as {
      removed: unknown;
      tasks: number;
      cursor: string | false;
    };
    return { removed: list(r.removed), tasks: r.tasks, cursor: r.cursor === false ? null : String(r.cursor) };
  }
}

const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);
