import { Redis } from 'ioredis';
import { isoNow } from '../../src/contracts/protocol';
import { Keys } from '../../src/redis/keys';
import { runScript, ScriptName } from '../../src/redis/scripts';
import { useScriptHarness } from './script-harness';
import { TEST_DOC, TEST_PLACEMENT } from './task-fixtures';
import { encodeShard, SHARD_PARENT_FIELDS, TASK_FIELDS } from '../../src/redis/task-codec';

/**
 * Each script against a real Redis, trying the race its header comment says it prevents.
 * Races are provoked by issuing the competing scripts back to back without awaiting, so Redis
 * receives them together; atomicity must make the outcome the same in every interleaving.
 */
describe('Lua scripts', () => {
  const h = useScriptHarness();
  let r: Redis;
  let listener: Redis;
  let n = 0;
  beforeAll(() => {
    r = h.r;
    listener = h.listener;
  });

  const run = h.run;
  const fields = (id: string, extra: Record<string, string> = {}) => h.fields(id, {}, extra);
  const submit = async (tasks: { id: string; deps?: string[]; fields?: Record<string, string> }[]) =>
    JSON.parse(
      (await run('submit-tasks', JSON.stringify({ tasks: tasks.map((t) => ({ id: t.id, key: t.id, owner: 'o', deps: t.deps ?? [], fields: fields(t.id, t.fields) })) }))) as string,
    );
  const registerWorker = (id: string) => h.registerWorker(id);
  const claim = (task: string, worker: string) => h.claim(task, worker);
  const uid = (p: string) => `${p}-${++n}`;

  it('claim-dispatch: two claims of one task on two workers dispatch it once', async () => {
    const [t, w1, w2] = [uid('t'), uid('w'), uid('w')];
    await submit([{ id: t }]);
    await registerWorker(w1);
    await registerWorker(w2);
    const results = await Promise.all([claim(t, w1), claim(t, w2)]);
    expect(results.sort()).toEqual(['ok', 'task_gone']);
    expect(await r.hget(Keys.task(t), 'attempt')).toBe('1');
  });

  it('claim-dispatch: two tasks claimed on one worker, only one lands', async () => {
    const [t1, t2, w] = [uid('t'), uid('t'), uid('w')];
    await submit([{ id: t1 }, { id: t2 }]);
    await registerWorker(w);
    const results = await Promise.all([claim(t1, w), claim(t2, w)]);
    expect([...results].sort()).toEqual(['ok', 'worker:busy']);
    // Whichever won holds the worker and left the queue; the loser is still queued, undispatched.
    const [won, lost] = results[0] === 'ok' ? [t1, t2] : [t2, t1];
    expect(await r.get(Keys.workerTask(w))).toBe(won);
    expect(await r.zscore(Keys.queue, won)).toBeNull();
    expect(await r.zscore(Keys.queue, lost)).not.toBeNull();
    expect(await r.hmget(Keys.task(lost), 'status', 'attempt')).toEqual(['PENDING', '0']);
  });

  it('claim-dispatch: a stale worker (no heartbeat key) is refused', async () => {
    const [t, w] = [uid('t'), uid('w')];
    await submit([{ id: t }]);
    await registerWorker(w);
    await r.del(`worker:${w}:hb`);
    expect(await claim(t, w)).toBe('worker:stale');
  });

  it('finish-task: a duplicated TASK_SUCCEEDED of a shard counts once', async () => {
    const [p, c1, c2, w1, w2] = [uid('p'), uid('c'), uid('c'), uid('w'), uid('w')];
    await submit([
      { id: p, fields: { children: JSON.stringify([c1, c2]), shard_total: '2', shards_done: '0' } },
      { id: c1, fields: { parent_id: p } },
      { id: c2, fields: { parent_id: p } },
    ]);
    await registerWorker(w1);
    await registerWorker(w2);
    await r.hset(Keys.task(p), 'status', 'RUNNING');
    expect(await claim(c1, w1)).toBe('ok');
    expect(await claim(c2, w2)).toBe('ok');
    const finish = (c: string, w: string) => run('finish-task', c, w, 'succeeded', '{"items":[1]}', 120, '');
    const results = await Promise.all([finish(c1, w1), finish(c1, w1), finish(c1, w1)]);
    expect(results.filter((x) => x === 'done')).toHaveLength(1);
    expect(await r.hget(Keys.task(p), 'shards_done')).toBe('1');
    expect(await finish(c2, w2)).toBe(`parent_ready:${p}`);
    expect(await run('finalize-parent', p, '{"merged":{}}')).toBe(1);
    expect(await run('finalize-parent', p, '{"merged":{}}')).toBe(0);
  });

  it('finish-task: a report from a worker that does not hold the task changes nothing', async () => {
    const [t, w, other] = [uid('t'), uid('w'), uid('w')];
    await submit([{ id: t }]);
    await registerWorker(w);
    expect(await claim(t, w)).toBe('ok');
    expect(await run('finish-task', t, other, 'succeeded', '{}', 120, '')).toBe('ignored:not_held');
    expect(await r.hget(Keys.task(t), 'status')).toBe('DISPATCHED');
  });

  it('ack-task: an acknowledgement after the result changes nothing', async () => {
    const [t, w] = [uid('t'), uid('w')];
    await submit([{ id: t }]);
    await registerWorker(w);
    await claim(t, w);
    await run('finish-task', t, w, 'succeeded', '{}', 120, '');
    expect(await run('ack-task', t, w)).toBe(0);
    expect(await r.hget(Keys.task(t), 'status')).toBe('DONE');
  });

  it('cancel-task vs finish-task: whichever runs first wins, the other sees a final task', async () => {
    const [t, w] = [uid('t'), uid('w')];
    await submit([{ id: t }]);
    await registerWorker(w);
    await claim(t, w);
    const [cancel, finish] = await Promise.all([run('cancel-task', t), run('finish-task', t, w, 'succeeded', '{}', 120, '')]);
    expect(cancel).toBe(`cancelled:${t}`);
    expect(finish).toBe('ignored:not_held:released');
    expect(await r.hget(Keys.task(t), 'status')).toBe('CANCELLED');
    expect(await r.get(Keys.workerTask(w))).toBeNull();
  });

  it('submit-tasks: an unknown dependency creates nothing', async () => {
    const [a, b] = [uid('t'), uid('t')];
    const res = await submit([{ id: a }, { id: b, deps: [a, 'missing'] }]);
    expect(res).toMatchObject({ ok: false, error: 'unknown_dependency', dependency: 'missing' });
    expect(await r.exists(Keys.task(a), Keys.task(b))).toBe(0);
  });

  it('submit-tasks vs finish-task: a dependent created while its dependency finishes is released exactly once', async () => {
    const [dep, w] = [uid('t'), uid('w')];
    await submit([{ id: dep }]);
    await registerWorker(w);
    await claim(dep, w);
    const child = uid('t');
    await Promise.all([run('finish-task', dep, w, 'succeeded', '{}', 120, ''), submit([{ id: child, deps: [dep] }])]);
    expect(await r.hget(Keys.task(child), 'waiting_on')).toBe('[]');
    expect(await r.zscore(Keys.queue, child)).not.toBeNull();
  });

  it("finish-task: says 'done:queued' exactly when a dependent became ready (the scheduler then looks at the queue)", async () => {
    const [a, b, c, wa, wb] = [uid('t'), uid('t'), uid('t'), uid('w'), uid('w')];
    await submit([{ id: a }, { id: b }, { id: c, deps: [a, b] }]);
    await registerWorker(wa);
    await registerWorker(wb);
    expect([await claim(a, wa), await claim(b, wb)]).toEqual(['ok', 'ok']);
    expect(await run('finish-task', a, wa, 'succeeded', '{}', 120, '')).toBe('done');
    expect(await r.zscore(Keys.queue, c)).toBeNull();
    expect(await run('finish-task', b, wb, 'succeeded', '{}', 120, '')).toBe('done:queued');
    expect(await r.zscore(Keys.queue, c)).not.toBeNull();
  });

  it('expire-unacked vs ack-task: an acknowledged dispatch is never expired', async () => {
    const [t, w] = [uid('t'), uid('w')];
    await submit([{ id: t }]);
    await registerWorker(w);
    await run('claim-dispatch', t, w, 'tasks', 'best-fit', 'test', new Date(Date.now() - 60_000).toISOString(), Date.now() - 1);
    const [acked, expired] = await Promise.all([run('ack-task', t, w), run('expire-unacked', 100, 120, 30)]);
    expect(acked).toBe(1);
    expect(JSON.parse(expired as string)).toEqual([]);
    expect(await r.hget(Keys.task(t), 'status')).toBe('RUNNING');
  });

  it('reconcile-finished, v1: a RUNNING task whose worker is IDLE with extra_last_task = it lost its report: one failed attempt, queued again, the worker freed', async () => {
    const [t, w] = [uid('t'), uid('w')];
    await submit([{ id: t, fields: { max_retries: '1' } }]);
    await registerWorker(w);
    expect(await claim(t, w)).toBe('ok');
    await run('ack-task', t, w, '');
    await r.hset(`worker:${w}`, { status: 'IDLE', extra_last_task: t });
    expect(await run('reconcile-finished', t, 120)).toBe('requeued:retry');
    const h = await r.hgetall(Keys.task(t));
    expect([h.status, h.retries]).toEqual(['PENDING', '1']);
    expect(JSON.parse(h.attempts)).toEqual([expect.objectContaining({ attempt: 1, worker: w, outcome: 'failed', error: expect.stringMatching(/report was lost/) })]);
    expect(await r.zscore(Keys.queue, t)).not.toBeNull();
    expect(await r.get(Keys.workerTask(w))).toBeNull();
    // Done once: a second pass finds nothing to do.
    expect(await run('reconcile-finished', t, 120)).toBe('ok');
  });

  it('reconcile-finished, v2: the same picture leaves the task alone (its report waits in the stream)', async () => {
    const [t, w] = [uid('t'), uid('w')];
    await submit([{ id: t, fields: { max_retries: '1' } }]);
    await registerWorker(w);
    await r.hset(`worker:${w}`, 'protocol', '2');
    expect(await claim(t, w)).toBe('ok');
    await run('ack-task', t, w, '');
    await r.hset(`worker:${w}`, { status: 'IDLE', extra_last_task: t });
    const before = await r.hgetall(Keys.task(t));
    expect(await run('reconcile-finished', t, 120)).toBe('ok');
    expect(await r.hgetall(Keys.task(t))).toEqual(before);
    expect(await r.get(Keys.workerTask(w))).toBe(t);
    expect(await r.zscore(Keys.queue, t)).toBeNull();
  });

  it('release-lost-worker: a worker that heartbeats is left alone', async () => {
    const [t, w] = [uid('t'), uid('w')];
    await submit([{ id: t }]);
    await registerWorker(w);
    await claim(t, w);
    const cutoff = new Date(Date.now() - 60_000).toISOString();
    expect(JSON.parse((await run('release-lost-worker', w, cutoff, 120, '1')) as string)).toEqual({ stale: false });
    await r.del(`worker:${w}:hb`);
    const out = JSON.parse((await run('release-lost-worker', w, cutoff, 120, '1')) as string);
    expect(out).toMatchObject({ stale: true, task: t, outcome: 'failed', removed: true });
    expect(await r.sismember('workers:ids', w)).toBe(0);
  });

  it('leader lease: two replicas race, one wins with a token no earlier leader had; a deposed leader writes nothing', async () => {
    const lease = (name: ScriptName, args: (string | number)[], fence?: string) => runScript(r, name, Date.now(), args, fence);
    const [a, b] = await Promise.all([lease('acquire-lease', ['a', 5000]), lease('acquire-lease', ['b', 5000])]);
    const winner = (a ?? b) as string;
    expect([a, b].filter((x) => typeof x === 'string')).toHaveLength(1);
    expect(await lease('renew-lease', [5000], winner)).toBe(1);
    expect(await lease('renew-lease', [5000], 'someone-else#1')).toBe(0);
    expect(await lease('promote-delayed', [10], 'old-leader#0')).toBe(0);
    expect(await lease('claim-dispatch', ['t', 'w', 'tasks', 'x', 'y', new Date().toISOString(), 0], 'old-leader#0')).toBe('not_leader');
    expect(await lease('release-lease', [], winner)).toBe(1);
    const next = (await lease('acquire-lease', ['c', 5000])) as string;
    expect(Number(next.split('#')[1])).toBeGreaterThan(Number(winner.split('#')[1]));
    await lease('release-lease', [], next);
  });

  it('finish-task: a late report of attempt 1 neither changes attempt 2 nor frees the worker holding it', async () => {
    const [t, w] = [uid('t'), uid('w')];
    await submit([{ id: t, fields: { max_retries: '3' } }]);
    await registerWorker(w);
    expect(await claim(t, w)).toBe('ok');
    expect(await run('finish-task', t, w, 'failed', 'first', 120, 1)).toBe('retry');
    expect(await claim(t, w)).toBe('ok');
    expect(await r.hget(Keys.task(t), 'attempt')).toBe('2');
    expect(await run('finish-task', t, w, 'failed', 'late duplicate of attempt 1', 120, 1)).toBe('ignored:old_attempt');
    expect(await r.get(Keys.workerTask(w))).toBe(t);
    expect(await r.hget(Keys.task(t), 'status')).toBe('DISPATCHED');
    expect(await run('finish-task', t, w, 'succeeded', '{}', 120, 2)).toBe('done');
  });
  it('queue-head: a chunk of the queue from an offset, in priority order, with the placement fields and the depth', async () => {
    const [a, b, c] = [uid('t'), uid('t'), uid('t')];
    // Priorities far above every other test's tasks, so these three are the head of the queue.
    await submit([
      { id: a, fields: { priority: '1000' } },
      { id: b, fields: { priority: '1001', req: '{"x":1}' } },
      { id: c, fields: { priority: '1000' } },
    ]);
    await r.hset(Keys.task(c), 'exclude', 'w-bad', 'unschedulable', 'no worker has 8 GPUs');
    await r.hdel(Keys.task(a), 'name');
    const depth = await r.zcard(Keys.queue);
    const head = (await run('queue-head', 0, 3)) as (string | number | null)[];
    expect(head).toEqual([
      depth,
      b,
      '{"x":1}',
      null,
      null,
      `task-${b}`,
      a,
      JSON.stringify(TEST_PLACEMENT),
      null,
      null,
      null,
      c,
      JSON.stringify(TEST_PLACEMENT),
      'w-bad',
      'no worker has 8 GPUs',
      `task-${c}`,
    ]);
    expect(await run('queue-head', 2, 1)).toEqual([depth, c, JSON.stringify(TEST_PLACEMENT), 'w-bad', 'no worker has 8 GPUs', `task-${c}`]);
    expect(await run('queue-head', depth, 5)).toEqual([depth]);
    expect(await run('queue-head', 0, 0)).toEqual([depth]);
  });

  describe("the record and the status indexes at every step of a task's life", () => {
    const STATUSES = ['PENDING', 'DISPATCHED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED'];
    /** The status indexes that hold the task: exactly one, its status's, with its seq as score. */
    const indexesOf = async (id: string) => {
      const out: string[] = [];
      for (const s of STATUSES) {
        const score = await r.zscore(Keys.tasksByStatus(s), id);
        if (score !== null) out.push(`${s}@${score}`);
      }
      return out;
    };
    const expectIndexed = async (id: string, status: string) => {
      const h = await r.hgetall(Keys.task(id));
      expect(h.status).toBe(status);
      expect(await indexesOf(id)).toEqual([`${status}@${h.seq}`]);
    };

    it('submit, dispatch, acknowledgement, success: one write per step, nothing left in queues', async () => {
      const [t, w] = [uid('t'), uid('w')];
      const before = isoNow();
      const res = await submit([{ id: t, fields: { priority: '3', status: 'BOGUS', waiting_on: '["x"]' } }]);
      expect(res.tasks).toEqual([{ id: t, status: 'PENDING', waiting_on: {} }]);
      await expectIndexed(t, 'PENDING');
      const h0 = await r.hgetall(Keys.task(t));
      expect(h0.waiting_on).toBe('[]');
      expect(h0.submitted_at >= before && h0.updated_at === h0.submitted_at).toBe(true);
      expect(await r.zscore(Keys.queue, t)).toBe(String(Number(h0.seq) - 3 * 4294967296));

      await registerWorker(w);
      expect(await claim(t, w)).toBe('ok');
      await expectIndexed(t, 'DISPATCHED');
      const h1 = await r.hgetall(Keys.task(t));
      expect([h1.attempt, h1.assigned_worker, h1.strategy, h1.reason, h1.unschedulable]).toEqual(['1', w, 'best-fit', 'test', '']);
      expect(h1.updated_at).toBe(h1.dispatched_at);
      expect(await r.zscore(Keys.queue, t)).toBeNull();

      expect(await run('ack-task', t, w, '1')).toBe(1);
      await expectIndexed(t, 'RUNNING');
      const h2 = await r.hgetall(Keys.task(t));
      expect(h2.started_at).toBeTruthy();
      expect(h2.updated_at).toBe(h2.started_at);

      expect(await run('finish-task', t, w, 'succeeded', '{"answer":42}', 120, '1')).toBe('done');
      await expectIndexed(t, 'DONE');
      const h3 = await r.hgetall(Keys.task(t));
      expect([h3.result, h3.error, h3.updated_at]).toEqual(['{"answer":42}', '', h3.finished_at]);
      expect(JSON.parse(h3.attempts)).toEqual([{ attempt: 1, worker: w, outcome: 'succeeded', ended_at: h3.finished_at }]);
      for (const set of [Keys.queue, Keys.delayed, Keys.inflight, Keys.unacked]) expect(await r.zscore(set, t)).toBeNull();
      expect(await r.get(Keys.workerTask(w))).toBeNull();
    });

    it('a dispatch nobody hears is undone: attempt, worker and status as before, queued again at its place', async () => {
      const [t, w] = [uid('t'), uid('w')];
      await submit([{ id: t, fields: { priority: '2' } }]);
      const score = await r.zscore(Keys.queue, t);
      await registerWorker(w);
      expect(await run('claim-dispatch', t, w, 'nobody-listens-here', 'best-fit', 'test', new Date(Date.now() - 60_000).toISOString(), Date.now() + 30_000)).toBe('no_subscriber');
      await expectIndexed(t, 'PENDING');
      const h = await r.hgetall(Keys.task(t));
      expect([h.attempt, h.assigned_worker, h.dispatched_at]).toEqual(['0', '', '']);
      expect(await r.zscore(Keys.queue, t)).toBe(score);
      expect(await r.get(Keys.workerTask(w))).toBeNull();
      expect(await r.zscore(Keys.unacked, t)).toBeNull();
    });

    it('a dependent submitted after its dependency failed ends at once, indexed under that status', async () => {
      const [a, b, w] = [uid('t'), uid('t'), uid('w')];
      await submit([{ id: a }]);
      await registerWorker(w);
      expect(await claim(a, w)).toBe('ok');
      expect(await run('finish-task', a, w, 'failed', 'boom', 120, '')).toBe('failed');
      const res = await submit([{ id: b, deps: [a] }]);
      expect(res.tasks).toEqual([{ id: b, status: 'FAILED', waiting_on: {} }]);
      await expectIndexed(b, 'FAILED');
      expect(await r.hget(Keys.task(b), 'error')).toBe(`dependency ${a} (task-${a}) ended FAILED`);
      expect(await r.zscore(Keys.queue, b)).toBeNull();
    });
  });

  describe('submit-tasks with a reserved worker (the leader dispatches a one-task submission in the same step)', () => {
    const FENCE = 'submit-test#7';
    const submitDirect = async (id: string, worker: string, opts: { fence?: string; topic?: string } = {}) => {
      const payload = {
        instance: 'i',
        tasks: [{ id, key: id, owner: 'o', deps: [], fields: fields(id, { priority: '5' }) }],
        dispatch: {
          id,
          worker,
          topic: opts.topic ?? 'tasks',
          strategy: 'best-fit',
          reason: 'test',
          cutoff: new Date(Date.now() - 60_000).toISOString(),
          ack_deadline_ms: Date.now() + 30_000,
        },
      };
      return JSON.parse((await runScript(r, 'submit-tasks', Date.now(), [JSON.stringify(payload)], opts.fence ?? FENCE)) as string) as {
        tasks: { id: string; status: string; dispatch: string }[];
      };
    };
    const drainQueue = async () => {
      for (const id of await r.zrange(Keys.queue, '0', '-1')) await run('cancel-task', id);
    };
    beforeEach(async () => {
      await r.set('mloc:leader', FENCE);
      await drainQueue();
    });
    afterEach(() => r.del('mloc:leader'));

    it('nothing else queued, the worker free, the lease held: created and dispatched at once', async () => {
      const [t, w] = [uid('t'), uid('w')];
      await registerWorker(w);
      const heard = new Promise<string>((resolve) => listener.once('message', (_c: string, m: string) => resolve(m)));
      const res = await submitDirect(t, w);
      expect(res.tasks).toEqual([{ id: t, status: 'DISPATCHED', waiting_on: {}, dispatch: 'ok' }]);
      expect(JSON.parse(await heard)).toMatchObject({ task_id: t, assigned_worker: w, attempt: 1, task: { spec: {} } });
      const h = await r.hgetall(Keys.task(t));
      expect([h.status, h.attempt, h.assigned_worker, h.strategy]).toEqual(['DISPATCHED', '1', w, 'best-fit']);
      expect(await r.zscore(Keys.tasksByStatus('DISPATCHED'), t)).toBe(h.seq);
      expect(await r.zscore(Keys.tasksByStatus('PENDING'), t)).toBeNull();
      expect(await r.zscore(Keys.queue, t)).toBeNull();
      expect(await r.zscore(Keys.unacked, t)).not.toBeNull();
      expect(await r.get(Keys.workerTask(w))).toBe(t);
      expect(await r.hget(`worker:${w}`, 'status')).toBe('RUNNING');
    });

    it.each([
      ['another task is queued (it may be owed the worker)', 'queue_not_empty'],
      ['the fencing token is not the lease', 'not_leader'],
      ['no fencing token at all', 'not_leader'],
      ['the worker holds a task', 'worker:busy'],
      ['nobody hears the dispatch', 'no_subscriber'],
    ])('%s: the task is queued as usual, once, and the worker untouched', async (why, expected) => {
      const [t, w, other] = [uid('t'), uid('w'), uid('t')];
      await registerWorker(w);
      let opts: { fence?: string; topic?: string } = {};
      if (expected === 'queue_not_empty') await submit([{ id: other }]);
      if (why.startsWith('the fencing token')) opts = { fence: 'someone-else#1' };
      if (why.startsWith('no fencing')) opts = { fence: '*' };
      if (expected === 'worker:busy') await r.set(Keys.workerTask(w), 'another-task');
      if (expected === 'no_subscriber') opts = { topic: 'nobody-listens-here' };
      const res = await submitDirect(t, w, opts);
      expect(res.tasks).toEqual([{ id: t, status: 'PENDING', waiting_on: {}, dispatch: expected }]);
      const h = await r.hgetall(Keys.task(t));
      expect([h.status, h.attempt, h.assigned_worker ?? '']).toEqual(['PENDING', '0', '']);
      expect(await r.zscore(Keys.queue, t)).toBe(String(Number(h.seq) - 5 * 4294967296));
      expect(await r.zscore(Keys.tasksByStatus('PENDING'), t)).toBe(h.seq);
      expect(await r.zscore(Keys.tasksByStatus('DISPATCHED'), t)).toBeNull();
      if (expected !== 'worker:busy') expect(await r.get(Keys.workerTask(w))).toBeNull();
      expect(await r.hget(`worker:${w}`, 'status')).toBe('IDLE');
    });
  });

  it('every field a task, a parent and its shards get is one the codec lists (task-codec TASK_FIELDS), and every listed field is written', async () => {
    const [t, p, s1, s2, w, w1, w2] = [uid('t'), uid('p'), uid('s'), uid('s'), uid('w'), uid('w'), uid('w')];
    await submit([{ id: t }, { id: p, fields: { max_retries: '1' } }]);
    for (const x of [w, w1, w2]) await registerWorker(x);
    // t: dispatched, acknowledged, succeeded.
    expect(await claim(t, w)).toBe('ok');
    expect(await run('ack-task', t, w, '1')).toBe(1);
    expect(await run('finish-task', t, w, 'succeeded', '{}', 120, '1')).toBe('done');
    // p: fanned out into two shards built by the codec; s1 fails once (retried), s2 succeeds, then p is cancelled.
    const parent = (await r.hmget(Keys.task(p), ...SHARD_PARENT_FIELDS)) as string[];
    const parentRow = Object.fromEntries(SHARD_PARENT_FIELDS.map((f, i) => [f, parent[i]]));
    const shards = [s1, s2].map((id, index) => ({
      id,
      worker: [w1, w2][index],
      fields: encodeShard(p, parentRow, { id, index, total: 2, doc: TEST_DOC, placement: TEST_PLACEMENT }),
    }));
    const cutoff = new Date(Date.now() - 60_000).toISOString();
    expect(
      await run('dispatch-shards', JSON.stringify({ parent: p, topic: 'tasks', strategy: 'spread', reason: 'test', cutoff, ack_deadline_ms: Date.now() + 30_000, shards })),
    ).toBe('ok');
    expect(await run('finish-task', s1, w1, 'failed', 'boom', 120, '1')).toBe('retry');
    expect(await run('finish-task', s2, w2, 'succeeded', '{}', 120, '1')).toBe('done');
    expect(await run('cancel-task', p)).toBe(`cancelled:${p}`);
    const written = new Set<string>();
    for (const id of [t, p, s1, s2]) for (const f of Object.keys(await r.hgetall(Keys.task(id)))) written.add(f);
    // result_meta is written by POST /api/v1/results (test/e2e/results.spec.ts), progress by our worker (test/agent/logs.spec.ts), not by a task script.
    // The `api` fields (raw_yaml, retry links) are written by the tasks API (test/e2e/rest-shape.spec.ts).
    expect([...written].sort()).toEqual(
      Object.entries(TASK_FIELDS)
        .filter(([, f]) => f.by !== 'results' && f.by !== 'worker' && f.by !== 'api')
        .map(([k]) => k)
        .sort(),
    );
  });
});
