import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Keys } from '../../src/redis/keys';
import { useScriptHarness } from './script-harness';

/**
 * release-held-task (a v1 worker that registered again or went IDLE while holding a task) and the
 * worker-id check of release-lost-worker, against a real Redis, trying the races their header
 * comments name. Competing scripts are issued back to back without awaiting.
 */
describe('worker scripts', () => {
  const h = useScriptHarness();
  let r: Redis;
  let n = 0;
  beforeAll(() => {
    r = h.r;
  });

  const run = h.run;
  const submit = (id: string) => run('submit-tasks', JSON.stringify({ tasks: [{ id, key: id, owner: 'o', deps: [], fields: h.fields(id, { maxRetries: 1 }) }] }));
  const registerWorker = (id: string) => h.registerWorker(id);
  const claim = (task: string, worker: string) => h.claim(task, worker);
  const releaseHeld = (w: string, t: string, why: 'register' | 'idle') => run('release-held-task', w, t, why, 120);
  /** A task dispatched to a fresh worker, acknowledged unless told otherwise. */
  const held = async (opts: { ack?: boolean } = {}) => {
    const [t, w] = [randomUUID(), `w-${++n}`];
    await submit(t);
    await registerWorker(w);
    expect(await claim(t, w)).toBe('ok');
    if (opts.ack !== false) {
      await run('ack-task', t, w, '');
      await r.hset(`worker:${w}`, { status: 'RUNNING', extra_task_id: t });
    }
    return { t, w };
  };
  const attempts = async (t: string) => JSON.parse((await r.hget(Keys.task(t), 'attempts')) ?? '[]') as { outcome: string; error?: string }[];

  it('idle: the report applied first leaves nothing to do; the attempt is counted once', async () => {
    const { t, w } = await held();
    await r.hset(`worker:${w}`, { status: 'IDLE', extra_last_task: t });
    const [finished, released] = await Promise.all([run('finish-task', t, w, 'succeeded', '{}', 120, ''), releaseHeld(w, t, 'idle')]);
    expect([finished, released]).toEqual(['done', 'not_held']);
    expect(await attempts(t)).toEqual([expect.objectContaining({ outcome: 'succeeded' })]);
  });

  it('idle: given up first, a late report changes nothing; the worker is free', async () => {
    const { t, w } = await held();
    await r.hset(`worker:${w}`, { status: 'IDLE' });
    const [released, finished] = await Promise.all([releaseHeld(w, t, 'idle'), run('finish-task', t, w, 'succeeded', '{}', 120, '')]);
    expect(released).toBe('requeued:retry');
    expect(finished).toMatch(/^ignored/);
    expect(await attempts(t)).toEqual([expect.objectContaining({ outcome: 'failed', error: expect.stringMatching(/went IDLE without reporting/) })]);
    expect(await r.hget(Keys.task(t), 'status')).toBe('PENDING');
    expect(await r.get(Keys.workerTask(w))).toBeNull();
    expect(await releaseHeld(w, t, 'idle')).toBe('not_held');
  });

  it('idle: a dispatch not acknowledged yet, or a worker no longer IDLE, is kept', async () => {
    const a = await held({ ack: false });
    await r.hset(`worker:${a.w}`, 'status', 'IDLE');
    expect(await releaseHeld(a.w, a.t, 'idle')).toBe('kept:task DISPATCHED');
    const b = await held();
    expect(await releaseHeld(b.w, b.t, 'idle')).toBe('kept:status RUNNING');
    expect(await attempts(a.t)).toEqual([]);
    expect(await attempts(b.t)).toEqual([]);
  });

  it('names a task: after a newer dispatch to the same worker, the cue about the old task does nothing', async () => {
    const { t, w } = await held();
    await run('finish-task', t, w, 'succeeded', '{}', 120, '');
    const next = randomUUID();
    await submit(next);
    expect(await claim(next, w)).toBe('ok');
    await r.hset(`worker:${w}`, 'status', 'IDLE');
    expect(await releaseHeld(w, t, 'idle')).toBe('not_held');
    expect(await r.get(Keys.workerTask(w))).toBe(next);
  });

  it('register: a restarted worker loses even an unacknowledged dispatch; one still RUNNING it is kept', async () => {
    const a = await held({ ack: false });
    await r.hset(`worker:${a.w}`, 'status', 'STARTING');
    expect(await releaseHeld(a.w, a.t, 'register')).toBe('requeued:retry');
    expect(await attempts(a.t)).toEqual([expect.objectContaining({ outcome: 'failed', error: expect.stringMatching(/registered again \(it restarted\)/) })]);
    expect(await r.zscore(Keys.unacked, a.t)).toBeNull();
    // Our own worker registers again (its entry was removed) while it still runs the task.
    const b = await held();
    expect(await releaseHeld(b.w, b.t, 'register')).toBe('kept:running');
    expect(await r.get(Keys.workerTask(b.w))).toBe(b.t);
  });

  it('a v2 worker is left alone (its attempts are durable)', async () => {
    const { t, w } = await held();
    await r.hset(`worker:${w}`, { protocol: '2', status: 'IDLE' });
    expect(await releaseHeld(w, t, 'idle')).toBe('kept:v2');
    expect(await releaseHeld(w, t, 'register')).toBe('kept:v2');
  });

  it('ids that break the id rule never reach a key: "victim:hb" does not delete the victim\'s heartbeat', async () => {
    const victim = await held();
    await r.sadd('workers:ids', `${victim.w}:hb`);
    const cutoff = new Date(Date.now() - 60_000).toISOString();
    for (const id of [`${victim.w}:hb`, `${victim.w}*`, `${victim.w}?`, `[${victim.w}]`, `${victim.w} `]) {
      expect(JSON.parse((await run('release-lost-worker', id, cutoff, 120, '1')) as string)).toEqual({ stale: false, invalid_id: true });
      expect(await releaseHeld(id, victim.t, 'register')).toBe('invalid_id');
    }
    expect(await r.exists(`worker:${victim.w}:hb`)).toBe(1);
    expect(await r.get(Keys.workerTask(victim.w))).toBe(victim.t);
    expect(await r.hget(Keys.task(victim.t), 'status')).toBe('RUNNING');
  });
});
