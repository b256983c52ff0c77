import { Injectable } from '@nestjs/common';
import { Keys } from '../redis/keys';
import { RedisService } from '../redis/redis.service';

/**
 * store-result: writes a result posted over HTTP into the task record (docs/results.md).
 * KEYS[1] the task hash. ARGV[1] result JSON (already capped), ARGV[2] result_meta JSON.
 * Returns the task's status, 'not_found', or 'parent' (a sharded parent's result is the
 * aggregation of its shards, written by finalize-parent: nothing is posted over it).
 * Race prevented: a result posted while its task is being removed (cleanup, retention) would
 * recreate a record holding only a result; checking and writing in one step cannot.
 */
const STORE_RESULT_LUA = `
local f = redis.call('HMGET', KEYS[1], 'id', 'status', 'children')
if not f[1] then return 'not_found' end
if f[3] and f[3] ~= '' and f[3] ~= '[]' then return 'parent' end
redis.call('HSET', KEYS[1], 'result', ARGV[1], 'result_meta', ARGV[2])
return f[2] or ''
`;
const STORE_RESULT_COMMAND = 'mloc_store_result';

/** The fields of a task record that GET /api/v1/results/{id} shows. */
export interface StoredResultFields {
  status: string;
  result: string | null;
  resultMeta: string | null;
  assignedWorker: string | null;
  finishedAt: string | null;
}

const READ_FIELDS = ['id', 'status', 'result', 'result_meta', 'assigned_worker', 'finished_at'];

/**
 * The result fields of the task record (`result`, `result_meta`), as the results API reads and
 * writes them. Nothing else of the record is written here; the tasks module owns the rest.
 */
@Injectable()
export class ResultsRepository {
  constructor(private readonly redis: RedisService) {
    if (!(STORE_RESULT_COMMAND in this.redis.cmd)) this.redis.cmd.defineCommand(STORE_RESULT_COMMAND, { numberOfKeys: 1, lua: STORE_RESULT_LUA });
  }

  /** 'not_found', 'parent', or the task's status after the write. One round trip. */
  async store(taskId: string, resultJson: string, metaJson: string): Promise<string> {
    const run = (this.redis.cmd as unknown as Record<string, (...a: string[]) => Promise<string>>)[STORE_RESULT_COMMAND];
    return run.call(this.redis.cmd, Keys.task(taskId), resultJson, metaJson);
  }

  /** The task's result fields, or null when there is no such task. */
  async read(taskId: string): Promise<StoredResultFields | null> {
    const [id, status, result, meta, worker, finishedAt] = await this.redis.cmd.hmget(Keys.task(taskId), ...READ_FIELDS);
    if (!id) return null;
    const orNull = (v: string | null) => (v === null || v === '' ? null : v);
    return { status: status ?? '', result: orNull(result), resultMeta: orNull(meta), assignedWorker: orNull(worker), finishedAt: orNull(finishedAt) };
  }
}
