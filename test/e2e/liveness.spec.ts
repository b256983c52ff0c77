import { Redis } from 'ioredis';
import { CPU_HW } from '../support/fake-worker';
import { firstId, TestStack, taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';
import { WorkerIndex } from '../../src/scheduler/worker-index';

/** The value of one sample line of the Prometheus text format. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('stale workers and cleanup', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack({ HEARTBEAT_TTL_SEC: '2', CLEANUP_INTERVAL_SEC: '3600' }).start();
  });
  afterEach(() => s.stop());

  it('a task held by a worker that goes stale is placed elsewhere, counted as an attempt', async () => {
    const dying = await s.worker({ id: 'dying', hardware: CPU_HW(8, 32), behaviour: 'hold', heartbeatTtlSec: 1 });
    const id = firstId(await s.submit(taskYaml()));
    await dying.waitForDispatch(1);
    await dying.goSilent();
    const spare = await s.worker({ id: 'spare', hardware: CPU_HW(8, 32), heartbeatIntervalMs: 300, behaviour: 'hold' });
    await spare.waitForDispatch(1, 15_000);
    const running = await waitFor(
      async () => {
        const t = await s.task(id);
        return t.status === 'RUNNING' && t.assigned_worker === 'spare' ? t : null;
      },
      { what: 'the task RUNNING on spare' },
    );
    expect(running.attempts[0]).toMatchObject({ worker: 'dying', outcome: 'failed' });
    expect(running.attempts[0].error).toMatch(/lost/);
    // A late report from the lost worker, then the real one: reports are applied in arrival order,
    // so had the late one counted, the task would have ended with it and the real one be ignored.
    await dying.succeed(id, { late: true });
    await spare.succeed(id, { from: 'spare' });
    const t = await s.waitForStatus(id, 'DONE');
    expect(t.result).toEqual({ from: 'spare' });
    expect(t.attempts.map((a: { worker: string; outcome: string }) => [a.worker, a.outcome])).toEqual([
      ['dying', 'failed'],
      ['spare', 'succeeded'],
    ]);
    expect(spare.received).toHaveLength(1);
  });

  it('shows stale workers and removes them on POST /admin/cleanup with an UNREGISTER event', async () => {
    const w = await s.worker({ id: 'old', hardware: CPU_HW(), heartbeatTtlSec: 1 });
    await w.goSilent();
    const stale = await waitFor(async () => ((await s.http().get('/workers/old')).body.stale ? true : null), { timeoutMs: 5000 });
    expect(stale).toBe(true);
    const listener = s.redis.client();
    const events: string[] = [];
    listener.on('message', (_c: string, m: string) => events.push(m));
    await listener.subscribe('workers.events');
    const res = await s.http().post('/admin/cleanup');
    expect(res.body).toEqual({ ok: true, removed: 1 });
    expect((await s.http().get('/workers/old')).status).toBe(404);
    const redis = s.redis.client();
    expect(await redis.sismember('workers:ids', 'old')).toBe(0);
    await waitFor(() => events.some((e) => JSON.parse(e).type === 'UNREGISTER' && JSON.parse(e).worker_id === 'old'));
    redis.disconnect();
    listener.disconnect();
  });

  it('the cleanup cron runs every CLEANUP_INTERVAL_SEC', async () => {
    await s.closeApp(s.app);
    s.app = await s.newApp({ CLEANUP_INTERVAL_SEC: '1' });
    const w = await s.worker({ id: 'old', hardware: CPU_HW(), heartbeatTtlSec: 1 });
    await w.goSilent();
    const listed = await s.http().get('/workers/old');
    expect(listed.status).toBe(200);
    // No POST /admin/cleanup: only the cron can remove it.
    await waitFor(async () => (await s.http().get('/workers/old')).status === 404, { timeoutMs: 8000, what: 'cron cleanup' });
    const redis = s.redis.client();
    try {
      expect(await redis.sismember('workers:ids', 'old')).toBe(0);
      expect(await redis.exists('worker:old')).toBe(0);
    } finally {
      redis.disconnect();
    }
    expect((await s.http().get('/workers')).body.map((x: { worker_id: string }) => x.worker_id)).not.toContain('old');
  });
});

describe('dispatch acknowledgement', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack({ DISPATCH_ACK_TIMEOUT_SEC: '1' }).start();
  });
  afterEach(() => s.stop());

  it('the RUNNING status with extra.task_id moves the task DISPATCHED -> RUNNING', async () => {
    const w = await s.worker({ id: 'w', hardware: CPU_HW(), behaviour: 'ignore' });
    const id = firstId(await s.submit(taskYaml()));
    expect((await s.task(id)).status).toBe('DISPATCHED');
    await w.ack(id);
    const t = await s.waitForStatus(id, 'RUNNING');
    expect(t.started_at).not.toBeNull();
  });

  it('an unacknowledged dispatch goes back to the queue and is placed on another worker', async () => {
    const deaf = await s.worker({ id: 'deaf', hardware: CPU_HW(), behaviour: 'ignore' });
    const id = firstId(await s.submit(taskYaml()));
    await deaf.waitForDispatch(1);
    await s.worker({ id: 'ok', hardware: CPU_HW() });
    const t = await s.waitForStatus(id, 'DONE', 8000);
    expect(t.assigned_worker).toBe('ok');
    expect(t.attempts[0].error).toMatch(/acknowledge/);
  });

  it('a worker that let a dispatch time out gets no work until it is heard from again', async () => {
    const deaf = await s.worker({ id: 'deaf', hardware: CPU_HW(), behaviour: 'ignore' });
    const first = firstId(await s.submit(taskYaml({ name: 'first' })));
    await deaf.waitForDispatch(1);
    await waitFor(async () => (await s.task(first)).status === 'PENDING' || null, { timeoutMs: 5000, what: 'ack timeout' });
    // Idle again, yet suspect: the task waits rather than going back to the silent worker. Proof
    // that placement saw it so: the scheduler's index shows it SUSPECT, no worker is schedulable,
    // and a pass that began since (it counts its queue read as it starts) placed nothing.
    await waitFor(
      () =>
        s.app
          .get(WorkerIndex)
          .snapshot(Date.now())
          .find((v) => v.id === 'deaf' && v.status === 'SUSPECT'),
      { what: 'deaf SUSPECT' },
    );
    expect(sample((await s.http().get('/metrics')).text, 'mloc_workers_schedulable')).toBe(0);
    const reads = async () => sample((await s.http().get('/metrics')).text, 'mloc_scheduler_queue_reads_total') ?? NaN;
    const before = await reads();
    await waitFor(async () => (await reads()) > before, { what: 'a pass over the queue' });
    expect(deaf.received).toHaveLength(1);
    expect((await s.task(first)).status).toBe('PENDING');
    deaf.setBehaviour('succeed');
    await deaf.heartbeat();
    const t = await s.waitForStatus(first, 'DONE');
    expect(t.assigned_worker).toBe('deaf');
    expect(t.attempts).toHaveLength(2);
  });

  it('a dispatch that PUBLISH reports nobody heard stays queued until a worker listens', async () => {
    const w = await s.worker({ id: 'late', hardware: CPU_HW(), subscribe: false });
    const id = firstId(await s.submit(taskYaml()));
    const t = await s.task(id);
    expect(t.status).toBe('PENDING');
    expect(t.attempt).toBe(0);
    await w.listen();
    await s.waitForStatus(id, 'DONE');
  });

  it('submissions during the pause after an unheard dispatch do not stop scheduling for good', async () => {
    const w = await s.worker({ id: 'late2', hardware: CPU_HW(), subscribe: false });
    // The first dispatch reaches nobody and pauses dispatching for 500 ms; the next submissions ask
    // for passes inside that pause (a pass that ended at once used to leave the scheduler stuck).
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(firstId(await s.submit(taskYaml())));
    for (const id of ids) expect((await s.task(id)).status).toBe('PENDING');
    await w.listen();
    for (const id of ids) await s.waitForStatus(id, 'DONE');
  });
});

describe('restarts and replicas on one Redis', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  it('a restarted orchestrator keeps every record, places waiting tasks and follows running ones', async () => {
    const busy = await s.worker({ id: 'busy', hardware: CPU_HW(), behaviour: 'hold' });
    const running = firstId(await s.submit(taskYaml({ name: 'running' })));
    await busy.waitForDispatch(1);
    const waiting = firstId(await s.submit(taskYaml({ name: 'waiting', cpu: 16 })));
    await s.closeApp(s.app);
    s.app = await s.newApp();
    expect((await s.task(running)).status).toBe('RUNNING');
    expect((await s.task(waiting)).status).toBe('PENDING');
    await busy.succeed(running, { ok: 1 });
    expect((await s.waitForStatus(running, 'DONE')).result).toEqual({ ok: 1 });
    await s.worker({ id: 'big', hardware: CPU_HW(32, 64) });
    expect((await s.waitForStatus(waiting, 'DONE')).assigned_worker).toBe('big');
  });

  it('a report lost while no orchestrator listened: the task is found and run again', async () => {
    const w = await s.worker({ id: 'w', hardware: CPU_HW(), behaviour: 'hold' });
    const id = firstId(await s.submit(taskYaml()));
    await w.waitForDispatch(1);
    await s.waitForStatus(id, 'RUNNING');
    await s.closeApp(s.app);
    await w.succeed(id, { lost: true }); // nobody hears this
    w.setBehaviour('succeed');
    s.app = await s.newApp();
    const t = await s.waitForStatus(id, 'DONE', 10_000);
    expect(t.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['failed', 'succeeded']);
    expect(t.attempts[0].error).toMatch(/report was lost/);
  });

  it('two instances under a burst never dispatch a task twice nor put two tasks on one worker', async () => {
    const second = await s.newApp();
    const workers = [];
    for (let i = 0; i < 8; i++) workers.push(await s.worker({ id: `w${i}`, hardware: CPU_HW() }));
    const spy = s.redis.client();
    const dispatches: { task_id: string; assigned_worker: string }[] = [];
    spy.on('message', (_c: string, m: string) => dispatches.push(JSON.parse(m)));
    await spy.subscribe('tasks');
    const submissions = [];
    for (let i = 0; i < 40; i++) {
      const app = i % 2 === 0 ? s.app : second;
      const batch = [0, 1, 2, 3, 4].map((j) => taskYaml({ name: `burst-${i}-${j}` })).join('---\n');
      submissions.push(s.submit(batch, app));
    }
    const res = await Promise.all(submissions);
    const taskIds = res.flatMap((r) => r.body.tasks.map((t: { task_id: string }) => t.task_id));
    expect(taskIds).toHaveLength(200);
    await waitFor(async () => (await s.http().get('/api/v1/tasks?status=DONE&limit=1000')).body.length === 200, { timeoutMs: 20_000, what: '200 tasks DONE' });
    const perTask = new Map<string, number>();
    for (const d of dispatches) perTask.set(d.task_id, (perTask.get(d.task_id) ?? 0) + 1);
    expect(perTask.size).toBe(200);
    expect([...perTask.values()].every((n) => n === 1)).toBe(true);
    const received = workers.reduce((n, w) => n + w.received.length, 0);
    expect(received).toBe(200);
    spy.disconnect();
    const redis: Redis = s.redis.client();
    expect(await redis.keys('mloc:worker:*:task')).toEqual([]);
    redis.disconnect();
  });
});

describe('Redis unavailable', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack().start();
  });
  afterAll(() => s.stop());

  it('stays up: /healthz answers, /readyz and API calls answer 503, and all resumes when Redis is back', async () => {
    // Ready once elected and the first maintenance tick has run.
    const ready0 = await waitFor(
      async () => {
        const r = await s.http().get('/readyz');
        return r.status === 200 ? r : null;
      },
      { what: 'ready' },
    );
    expect(ready0.body).toMatchObject({ ready: true, redis: 'up', role: 'leader' });
    await s.redis.stop();
    expect((await s.http().get('/healthz')).status).toBe(200);
    const ready = await waitFor(async () => {
      const r = await s.http().get('/readyz');
      return r.status === 503 ? r : null;
    });
    expect(ready.body.reasons.join(' ')).toMatch(/Redis/);
    const api = await s.http().get('/api/v1/tasks');
    expect(api.status).toBe(503);
    expect(api.body.message).toMatch(/Redis is unavailable/);
    await s.redis.start();
    await waitFor(async () => (await s.http().get('/readyz')).status === 200, { timeoutMs: 15_000, what: 'ready again' });
    await s.worker({ id: 'back', hardware: CPU_HW() });
    const id = firstId(await s.submit(taskYaml()));
    await s.waitForStatus(id, 'DONE');
  });
});
