import { Redis } from 'ioredis';
import { Keys } from '../../src/redis/keys';
import { defineScripts, runScript, ScriptName } from '../../src/redis/scripts';
import { encodeNewTask, encodeShard, SHARD_PARENT_FIELDS } from '../../src/redis/task-codec';
import { RETENTION_BATCH } from '../../src/tasks/retention/retention.service';
import { TestRedisServer } from '../support/redis-server';
import { keySpace, traces as tracesOf } from './retention-key-space';
import { TEST_DOC, TEST_PLACEMENT } from './task-fixtures';

/**
 * Retention against a real Redis: the finished index written by every path that ends a task, and
 * the removal scripts (remove-expired, delete-task, prune-tasks) taking a task with everything it owns.
 */
describe('retention scripts', () => {
  const server = new TestRedisServer();
  let r: Redis;
  let listener: Redis;
  let n = 0;
  const uid = (p: string) => `${p}-${++n}-${Math.random().toString(36).slice(2, 8)}`;
  const HOUR = 3600_000;

  const run = (name: ScriptName, now: number, ...args: (string | number)[]) => runScript(r, name, now, args);
  const fields = (id: string, retentionSec: number, deps: string[], extra: Record<string, string> = {}) => ({
    ...encodeNewTask({
      id,
      name: `task-${id}`,
      owner: 'ret-owner',
      kind: 'K',
      taskType: 'echo',
      topic: 'tasks',
      doc: TEST_DOC,
      placement: TEST_PLACEMENT,
      priority: 0,
      maxRetries: 0,
      backoffSec: 0,
      dependsOn: deps,
      retentionSec,
    }),
    ...extra,
  });
  const submit = async (tasks: { id: string; deps?: string[]; retention?: number; owner?: string }[], now = Date.now()) => {
    const out = JSON.parse(
      (await run(
        'submit-tasks',
        now,
        JSON.stringify({
          tasks: tasks.map((t) => ({
            id: t.id,
            key: t.id,
            owner: t.owner ?? 'ret-owner',
            deps: t.deps ?? [],
            fields: fields(t.id, t.retention ?? 60, t.deps ?? [], t.owner ? { owner: t.owner } : {}),
          })),
        }),
      )) as string,
    );
    expect(out.ok).toBe(true);
  };
  const registerWorker = async (id: string) => {
    const iso = new Date().toISOString();
    await r.sadd('workers:ids', id);
    await r.hset(`worker:${id}`, { worker_id: id, status: 'IDLE', last_seen: iso });
    await r.setex(`worker:${id}:hb`, 600, iso);
  };
  const claim = (task: string, worker: string, now = Date.now()) =>
    run('claim-dispatch', now, task, worker, 'tasks', 'best-fit', 'test', new Date(now - 60_000).toISOString(), now + 30_000);
  /** Submitted, dispatched, acknowledged and succeeded at `now` (the succeed path). */
  const succeeded = async (id: string, w: string, now: number, opts: { retention?: number; deps?: string[] } = {}) => {
    await submit([{ id, deps: opts.deps, retention: opts.retention }], now);
    expect(await claim(id, w, now)).toBe('ok');
    expect(await run('ack-task', now, id, w, '1')).toBe(1);
    expect(String(await run('finish-task', now, id, w, 'succeeded', '{"ok":1}', 120, '1'))).toMatch(/^done/);
  };
  const cancelled = async (id: string, now: number, retention = 60) => {
    await submit([{ id, retention }], now);
    expect(await run('cancel-task', now, id)).toBe(`cancelled:${id}`);
  };
  const removeExpired = async (now: number, max = 1_000_000, batch = RETENTION_BATCH) =>
    JSON.parse((await run('remove-expired', now, batch, max, 60_000)) as string) as { removed: string[] | Record<string, never>; postponed: number; more: boolean };
  const removedIds = (x: { removed: string[] | Record<string, never> }) => (Array.isArray(x.removed) ? x.removed : []);

  const snapshot = () => keySpace(r);
  const traces = (ids: string[]) => tracesOf(r, ids);

  beforeAll(async () => {
    await server.start();
    r = server.client();
    defineScripts(r);
    listener = server.client();
    await listener.subscribe('tasks');
  });
  afterAll(async () => {
    r.disconnect();
    listener.disconnect();
    await server.destroy();
  });
  // Each test starts from an empty Redis, so "the whole key space" means this test's keys.
  beforeEach(async () => {
    await r.flushdb();
  });

  it('a finished task is indexed by the end of its retention, and then removed with every key and index entry: the key space is as before', async () => {
    const w = uid('w');
    await registerWorker(w);
    await r.incr(Keys.seq); // the counter outlives every task
    const before = await snapshot();
    const t0 = Date.now();
    const t = uid('t');
    await succeeded(t, w, t0, { retention: 5 });
    await r.xadd(Keys.taskLogs(t), '*', 'line', 'hello'); // our worker's log stream
    expect(Number(await r.zscore(Keys.finished, t))).toBe(t0 + 5000);

    // Not yet due: nothing happens.
    expect(removedIds(await removeExpired(t0 + 4999))).toEqual([]);
    expect(await r.exists(Keys.task(t))).toBe(1);

    expect(removedIds(await removeExpired(t0 + 5000))).toEqual([t]);
    expect(await traces([t])).toEqual([]);
    // The whole key space is what it was before the task (the worker went back to IDLE).
    expect(await snapshot()).toEqual(before);
  });

  it('every path that ends a task indexes it: success, failure, cancel (with cascade), a dependency that ended, a parent finalized', async () => {
    const now = Date.now();
    const w = uid('w');
    await registerWorker(w);
    // failed for good (max_retries 0)
    const f = uid('f');
    await submit([{ id: f }], now);
    expect(await claim(f, w, now)).toBe('ok');
    expect(await run('finish-task', now, f, w, 'failed', 'boom', 120, '1')).toBe('failed');
    // cancel with a downstream task
    const [c, d] = [uid('c'), uid('d')];
    await submit([{ id: c }, { id: d, deps: [c] }], now);
    expect(await run('cancel-task', now, c)).toBe(`cancelled:${c}`);
    // a task submitted on a dependency that already failed ends at once
    const late = uid('late');
    await submit([{ id: late, deps: [f] }], now);
    for (const id of [f, c, d, late]) expect(await r.zscore(Keys.finished, id)).toBe(String(now + 60_000));
  });

  it('a finished task an unfinished task depends on stays (and is looked at again later); it goes once the dependent has ended', async () => {
    const now = Date.now();
    const w = uid('w');
    await registerWorker(w);
    const [a, b] = [uid('a'), uid('b')];
    await submit(
      [
        { id: a, retention: 1 },
        { id: b, deps: [a], retention: 1 },
      ],
      now,
    );
    expect(await claim(a, w, now)).toBe('ok');
    expect(await run('finish-task', now, a, w, 'succeeded', '{}', 120, '1')).toBe('done:queued');
    const r1 = await removeExpired(now + 2000);
    expect(removedIds(r1)).toEqual([]);
    expect(r1.postponed).toBe(1);
    expect(await r.hget(Keys.task(a), 'status')).toBe('DONE');
    expect(Number(await r.zscore(Keys.finished, a))).toBe(now + 2000 + 60_000);
    // b ends and goes at its own time, taking its edge out of a's dependents; a goes when looked at again.
    expect(await run('cancel-task', now + 3000, b)).toBe(`cancelled:${b}`);
    expect(removedIds(await removeExpired(now + 3000 + 999))).toEqual([]);
    expect(removedIds(await removeExpired(now + 3000 + 1000))).toEqual([b]);
    expect(await traces([b])).toEqual([]);
    expect(await r.exists(Keys.task(a))).toBe(1);
    expect(removedIds(await removeExpired(now + 2000 + 60_000))).toEqual([a]);
    expect(await traces([a, b])).toEqual([]);
  });

  it('over TASK_HISTORY_MAX the ones due first go first, whatever their retention; only down to the maximum', async () => {
    const now = Date.now();
    const ids = [uid('o1'), uid('o2'), uid('o3'), uid('o4'), uid('o5')];
    for (const [i, id] of ids.entries()) await cancelled(id, now + i * 1000, 3600);
    const out = await removeExpired(now + 10_000, 3);
    expect(removedIds(out)).toEqual(ids.slice(0, 2));
    expect(await r.zrange(Keys.finished, '0', '-1')).toEqual(ids.slice(2));
    // At the maximum, nothing more goes before its time.
    expect(removedIds(await removeExpired(now + 10_000, 3))).toEqual([]);
  });

  it('a big backlog goes a batch at a time: one call never removes more than RETENTION_BATCH records', async () => {
    const now = Date.now();
    const total = RETENTION_BATCH * 2 + 50;
    const ids = Array.from({ length: total }, () => uid('b'));
    for (let i = 0; i < ids.length; i += 100) {
      const chunk = ids.slice(i, i + 100);
      await submit(
        chunk.map((id) => ({ id, retention: 1 })),
        now,
      );
      await Promise.all(chunk.map((id) => run('cancel-task', now, id)));
    }
    expect(await r.zcard(Keys.finished)).toBe(total);
    const first = await removeExpired(now + 5000);
    expect(removedIds(first)).toHaveLength(RETENTION_BATCH);
    expect(first.more).toBe(true);
    expect(await r.zcard(Keys.finished)).toBe(total - RETENTION_BATCH);
    expect(removedIds(await removeExpired(now + 5000))).toHaveLength(RETENTION_BATCH);
    const last = await removeExpired(now + 5000);
    expect(removedIds(last)).toHaveLength(50);
    expect(last.more).toBe(false);
  });

  it('a sharded parent goes with its shards (which are not indexed on their own)', async () => {
    const now = Date.now();
    const [p, s1, s2, w1, w2] = [uid('p'), uid('s'), uid('s'), uid('w'), uid('w')];
    await registerWorker(w1);
    await registerWorker(w2);
    const before = await snapshot();
    await submit([{ id: p, retention: 1 }], now);
    const parent = (await r.hmget(Keys.task(p), ...SHARD_PARENT_FIELDS)) as string[];
    const parentRow = Object.fromEntries(SHARD_PARENT_FIELDS.map((f, i) => [f, parent[i]]));
    const shards = [s1, s2].map((id, index) => ({
      id,
      worker: [w1, w2][index],
      fields: encodeShard(p, parentRow, { id, index, total: 2, doc: TEST_DOC, placement: TEST_PLACEMENT }),
    }));
    expect(
      await run(
        'dispatch-shards',
        now,
        JSON.stringify({ parent: p, topic: 'tasks', strategy: 'spread', reason: 'test', cutoff: new Date(now - 60_000).toISOString(), ack_deadline_ms: now + 30_000, shards }),
      ),
    ).toBe('ok');
    expect(await run('finish-task', now, s1, w1, 'succeeded', '{}', 120, '1')).toBe('done');
    expect(await run('finish-task', now, s2, w2, 'succeeded', '{}', 120, '1')).toBe(`parent_ready:${p}`);
    expect(await run('finalize-parent', now, p, '{"shards":2}')).toBe(1);
    expect(await r.zrange(Keys.finished, '0', '-1')).toEqual([p]);
    const t = uid('t');
    await cancelled(t, now + 1, 1);
    // A shard cannot be deleted on its own.
    expect(JSON.parse((await run('delete-task', now, s1, '0')) as string)).toEqual({ ok: false, error: 'shard', task: s1 });
    // A batch of 2 stops after the parent: its shards count.
    const first = await removeExpired(now + 2000, 1_000_000, 2);
    expect(removedIds(first).sort()).toEqual([p, s1, s2].sort());
    expect(first.more).toBe(true);
    expect(removedIds(await removeExpired(now + 2000, 1_000_000, 2))).toEqual([t]);
    expect(await traces([p, s1, s2, t])).toEqual([]);
    const after = await snapshot();
    after.delete(Keys.seq);
    expect(after).toEqual(before);
  });

  it('a cancelled task whose worker still holds it stays until the worker gives it back', async () => {
    const now = Date.now();
    const [t, w] = [uid('t'), uid('w')];
    await registerWorker(w);
    await submit([{ id: t, retention: 1 }], now);
    expect(await claim(t, w, now)).toBe('ok');
    expect(await run('ack-task', now, t, w, '1')).toBe(1);
    expect(await run('cancel-task', now, t)).toBe(`cancelled:${t}`);
    expect(await r.get(Keys.workerTask(w))).toBe(t);
    expect((await removeExpired(now + 2000)).postponed).toBe(1);
    expect(await r.exists(Keys.task(t))).toBe(1);
    // The worker's late report frees it; then the task can go.
    expect(String(await run('finish-task', now + 3000, t, w, 'succeeded', '{}', 120, '1'))).toMatch(/^ignored/);
    expect(removedIds(await removeExpired(now + 2000 + 60_000))).toEqual([t]);
  });

  it('delete-task: 404, unfinished, depended on; with cascade the finished pipeline goes, all or nothing', async () => {
    const now = Date.now();
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const del = async (id: string, cascade: boolean) => JSON.parse((await run('delete-task', now, id, cascade ? '1' : '0')) as string);
    expect(await del(uid('none'), false)).toEqual({ ok: false, error: 'not_found', task: expect.any(String) });
    await submit([{ id: a }, { id: b, deps: [a] }, { id: c, deps: [b] }], now);
    expect(await del(a, false)).toEqual({ ok: false, error: 'unfinished', task: a });
    const w = uid('w');
    await registerWorker(w);
    expect(await claim(a, w, now)).toBe('ok');
    expect(await run('finish-task', now, a, w, 'succeeded', '{}', 120, '1')).toBe('done:queued');
    // b is queued, c waits: a is depended on by unfinished tasks.
    expect(await del(a, false)).toEqual({ ok: false, error: `dependent:${b}`, task: a });
    expect(await del(a, true)).toEqual({ ok: false, error: `dependent:${b}`, task: a });
    expect(await run('cancel-task', now, b)).toBe(`cancelled:${b}`); // c ends with it
    expect(await del(a, false)).toEqual({ ok: false, error: 'has_dependents', task: b });
    expect(await del(b, false)).toEqual({ ok: false, error: 'has_dependents', task: c });
    const out = await del(a, true);
    expect(out.ok).toBe(true);
    expect([...out.removed].sort()).toEqual([a, b, c].sort());
    expect(await traces([a, b, c])).toEqual([]);
  });

  it('prune-tasks: removes what finished before `before` with the status and owner given, oldest first, bounded, with a cursor', async () => {
    const now = Date.now();
    const w = uid('w');
    await registerWorker(w);
    const old = [uid('old'), uid('old'), uid('old')];
    for (const id of old) await cancelled(id, now - 2 * HOUR);
    const done = uid('done');
    await succeeded(done, w, now - 2 * HOUR);
    const other = uid('other');
    await submit([{ id: other, owner: 'someone-else' }], now - 2 * HOUR);
    await run('cancel-task', now - 2 * HOUR, other);
    const recent = uid('recent');
    await cancelled(recent, now);
    const running = uid('running');
    await submit([{ id: running }], now - 3 * HOUR);
    const before = new Date(now - HOUR).toISOString();
    const prune = async (status: string, owner: string, cursor: string, examine: number, limit: number) =>
      JSON.parse((await run('prune-tasks', now, status, owner, before, cursor, examine, limit)) as string) as { removed: string[]; tasks: number; cursor: string | false };
    // Two at most: the two oldest cancelled ones, and a cursor to go on.
    const p1 = await prune('CANCELLED', 'ret-owner', '', 100, 2);
    expect(p1.removed).toEqual(old.slice(0, 2));
    expect(p1.cursor).not.toBe(false);
    const p2 = await prune('CANCELLED', 'ret-owner', p1.cursor as string, 100, 100);
    expect(p2.removed).toEqual([old[2]]);
    expect(p2.cursor).toBe(false);
    // Neither the DONE one (status), someone else's (owner), a recent one, nor an unfinished one went.
    for (const id of [done, other, recent, running]) expect(await r.exists(Keys.task(id))).toBe(1);
    const p3 = await prune('', '', '', 100, 100);
    expect([...p3.removed].sort()).toEqual([done, other].sort());
    for (const id of [recent, running]) expect(await r.exists(Keys.task(id))).toBe(1);
    expect(await traces([...old, done, other])).toEqual([]);
  });
});
