import { Injectable } from '@nestjs/common';
import { Keys } from '../redis/keys';
import { RedisService } from '../redis/redis.service';
import type { DirectDispatch } from '../contracts/stored-task';

/** A task to create, as the submit-tasks script takes it. */
export interface NewTaskRow {
  id: string;
  key: string;
  owner: string | null;
  deps: string[];
  fields: Record<string, string>;
}

/** A task as submit-tasks left it: its status and the dependencies it waits on. */
export interface CreatedTask {
  id: string;
  status: string;
  waiting_on: string[];
  /** For the task of a `dispatch` request: 'ok' when the script dispatched it, else why not. */
  dispatch?: string;
}

export type SubmitOutcome = { ok: true; tasks: CreatedTask[] } | { ok: false; error: 'unknown_dependency'; key: string; dependency: string };

export interface ListFilter {
  status?: string;
  owner?: string;
  name?: string;
}

/** Hard bound on how many records one list request may scan when filters do not match an index. */
const MAX_SCAN = 50_000;
const SCAN_CHUNK = 500;

/** Task records in Redis. The only place that reads or writes task keys (scripts aside). Used by this module only: others go through its services. */
@Injectable()
export class TasksRepository {
  constructor(private readonly redis: RedisService) {}

  /**
   * `instance`: the submitting orchestrator, named on each ORCH_TASK_SUBMITTED event. `direct`: a
   * worker the leader reserved for the one task of this submission, with the leader's fencing token
   * (SchedulerService.reserveFor); the script dispatches the task itself when it can.
   */
  async createBatch(rows: NewTaskRow[], nowMs: number, instance: string, direct?: { dispatch: DirectDispatch; fence: string }): Promise<SubmitOutcome> {
    const payload = JSON.stringify({ instance, tasks: rows.map((r) => ({ ...r, owner: r.owner ?? '' })), dispatch: direct?.dispatch });
    const outcome = JSON.parse((await this.redis.run('submit-tasks', nowMs, [payload], direct?.fence)) as string) as SubmitOutcome;
    // cjson encodes an empty list as {}.
    if (outcome.ok) for (const t of outcome.tasks) t.waiting_on = Array.isArray(t.waiting_on) ? t.waiting_on : [];
    return outcome;
  }

  async get(id: string): Promise<Record<string, string> | null> {
    const h = await this.redis.cmd.hgetall(Keys.task(id));
    return h && h.id ? h : null;
  }

  async getMany(ids: string[]): Promise<Record<string, string>[]> {
    if (ids.length === 0) return [];
    const pipe = this.redis.cmd.pipeline();
    for (const id of ids) pipe.hgetall(Keys.task(id));
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, h]) => (err ? null : (h as Record<string, string>))).filter((h): h is Record<string, string> => !!h && !!h.id);
  }

  async getFields(ids: string[], fields: string[]): Promise<(string | null)[][]> {
    if (ids.length === 0) return [];
    const pipe = this.redis.cmd.pipeline();
    for (const id of ids) pipe.hmget(Keys.task(id), ...fields);
    const res = (await pipe.exec()) ?? [];
    return res.map(([err, v]) => (err ? fields.map(() => null) : (v as (string | null)[])));
  }

  /**
   * Newest first. `cursor` is the `seq` to continue below (exclusive). Status and owner filters
   * read their own index; a second filter and the name substring filter are applied on the records.
   */
  async list(
    filter: ListFilter,
    limit: number,
    cursor: number | null,
    hashFields: string[] | null = null,
  ): Promise<{ records: Record<string, string>[]; nextCursor: number | null }> {
    const index = filter.status ? Keys.tasksByStatus(filter.status) : filter.owner ? Keys.tasksByOwner(filter.owner) : Keys.allTasks;
    const matches = (h: Record<string, string>) =>
      (!filter.status || h.status === filter.status) && (!filter.owner || h.owner === filter.owner) && (!filter.name || (h.name ?? '').includes(filter.name));
    const needsScan = !!filter.name || (!!filter.status && !!filter.owner);
    const out: Record<string, string>[] = [];
    let below = cursor === null ? '+inf' : `(${cursor}`;
    let scanned = 0;
    while (out.length < limit) {
      if (scanned >= MAX_SCAN) return { records: out, nextCursor: Number(below.slice(1)) };
      const chunk = needsScan ? SCAN_CHUNK : Math.min(SCAN_CHUNK, limit - out.length);
      const page = await this.redis.cmd.zrevrangebyscore(index, below, '-inf', 'WITHSCORES', 'LIMIT', 0, chunk);
      const ids = page.filter((_, i) => i % 2 === 0);
      if (ids.length === 0) return { records: out, nextCursor: null };
      scanned += ids.length;
      const byId = new Map((await (hashFields ? this.getManyFields(ids, hashFields) : this.getMany(ids))).map((h) => [h.id, h]));
      for (let i = 0; i < ids.length && out.length < limit; i++) {
        below = `(${page[2 * i + 1]}`;
        const h = byId.get(ids[i]);
        if (h && matches(h)) out.push(h);
      }
      if (ids.length < chunk && out.length < limit) return { records: out, nextCursor: null };
    }
    return { records: out, nextCursor: Number(below.slice(1)) };
  }

  /** Like getMany, reading only `fields` (which must include `id`): HMGET instead of HGETALL. */
  async getManyFields(ids: string[], fields: string[]): Promise<Record<string, string>[]> {
    const rows = await this.getFields(ids, fields);
    return rows.flatMap((values) => {
      const h: Record<string, string> = {};
      values.forEach((v, i) => {
        if (v !== null) h[fields[i]] = v;
      });
      return h.id ? [h] : [];
    });
  }

  /**
   * Fills `raw_yaml` of the records that share their document's text (`raw_of`: stages, graph
   * nodes, retries) from the task that holds it: one pipeline for all of them.
   */
  async resolveRawYaml(records: Record<string, string>[]): Promise<void> {
    const refs = [...new Set(records.filter((h) => !h.raw_yaml && h.raw_of).map((h) => h.raw_of))];
    if (refs.length === 0) return;
    const texts = new Map(refs.map((id, i) => [id, i]));
    const values = await this.getFields(refs, ['raw_yaml']);
    for (const h of records) if (!h.raw_yaml && h.raw_of) h.raw_yaml = values[texts.get(h.raw_of)!]?.[0] ?? '';
  }

  /** Marks task `id` as retried by `newId` unless it already was: null when marked, else the earlier retry's id ('gone': the task was removed). */
  async linkRetry(id: string, newId: string): Promise<string | null> {
    const key = Keys.task(id);
    const [[, set], [, current], [, taskId]] = (await this.redis.cmd.multi().hsetnx(key, 'retried_by', newId).hget(key, 'retried_by').hget(key, 'id').exec()) as [
      [null, number],
      [null, string],
      [null, string | null],
    ];
    // Removed meanwhile (retention, DELETE): HSETNX made a hash of that one field; it goes again.
    if (taskId === null) {
      await this.redis.cmd.del(key);
      return 'gone';
    }
    return set === 1 ? null : current;
  }

  /** Undoes linkRetry when the new task could not be created. */
  async unlinkRetry(id: string, newId: string): Promise<void> {
    const key = Keys.task(id);
    if ((await this.redis.cmd.hget(key, 'retried_by')) === newId) await this.redis.cmd.hdel(key, 'retried_by');
  }

  async cancel(id: string, nowMs: number): Promise<string> {
    return (await this.redis.run('cancel-task', nowMs, [id])) as string;
  }

  async ack(id: string, workerId: string, nowMs: number, attempt: number | null = null): Promise<boolean> {
    return (await this.redis.run('ack-task', nowMs, [id, workerId, attempt ?? ''])) === 1;
  }

  async finish(id: string, workerId: string, outcome: 'succeeded' | 'failed', payload: string, backoffCapSec: number, attempt: number | null, nowMs: number): Promise<string> {
    return (await this.redis.run('finish-task', nowMs, [id, workerId, outcome, payload, backoffCapSec, attempt ?? ''])) as string;
  }

  async finalizeParent(parentId: string, resultJson: string, nowMs: number): Promise<boolean> {
    return (await this.redis.run('finalize-parent', nowMs, [parentId, resultJson])) === 1;
  }

  /** Parents whose shards were fanned out and that are not finished yet. */
  runningParents(): Promise<string[]> {
    return this.redis.cmd.smembers(Keys.parents);
  }
}
