import fc from 'fast-check';
import { Redis } from 'ioredis';
import { isValidWorkerId, WORKER_IDS_KEY, workerHeartbeatKey, workerKey, WORKERS_EVENTS_CHANNEL } from '../../src/contracts/protocol';
import { FakeV1Worker, FakeWorkerOptions } from '../support/fake-worker';
import { firstId, TestStack, taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * What a worker does to its own registry entry (restarts, IDLE while holding a task, a clock that
 * runs ahead, ids that name other workers' keys), driven through the v1 keys and channels exactly
 * as a worker uses them, against the real app and a real redis-server.
 */

type Stack = { s: TestStack; workers: FakeV1Worker[]; redis: Redis };

function stack(env: Record<string, string> = {}) {
  const ctx = {} as Stack;
  beforeEach(async () => {
    ctx.s = await new TestStack(env).start();
    ctx.workers = [];
    ctx.redis = ctx.s.redis.client();
  });
  afterEach(async () => {
    for (const w of ctx.workers) await w.close();
    ctx.redis.disconnect();
    await ctx.s.stop();
  });
  return ctx;
}

/** A v1 worker that only hears its dispatches: the test drives every step. */
async function startWorker(ctx: Stack, id: string, opts: Omit<FakeWorkerOptions, 'id'> = {}): Promise<FakeV1Worker> {
  const w = new FakeV1Worker(ctx.s.redis.url, { id, behaviour: 'ignore', ...opts });
  ctx.workers.push(w);
  await w.listen();
  await w.register();
  return w;
}

/** Submits one task, waits until `w` has it and has acknowledged it (RUNNING). */
async function runningOn(ctx: Stack, w: FakeV1Worker, extraSpec?: string): Promise<string> {
  const n = w.received.length + 1;
  const id = firstId(await ctx.s.submit(taskYaml({ extraSpec })));
  const d = await w.waitForDispatch(n);
  expect(d.task_id).toBe(id);
  await w.ack(id);
  await ctx.s.waitForStatus(id, 'RUNNING');
  return id;
}

describe('a worker that restarts while it holds a task', () => {
  const ctx = stack();

  it('the task is re-queued at once and the worker gets work again', async () => {
    const w = await startWorker(ctx, 'gpu-node-7.example.org');
    const id = await runningOn(ctx, w, 'retry: {maxRetries: 1}');
    // The process dies and comes back with the same id, within the heartbeat TTL.
    await w.register();
    const again = await w.waitForDispatch(2);
    expect(again).toMatchObject({ task_id: id, attempt: 2 });
    const t = await ctx.s.task(id);
    expect(t.attempts).toHaveLength(1);
    expect(t.attempts[0]).toMatchObject({ worker: w.id, outcome: 'failed' });
    expect(t.attempts[0].error).toMatch(/registered again \(it restarted\)/);
    await w.ack(id);
    await w.succeed(id, { ok: 1 });
    expect((await ctx.s.waitForStatus(id, 'DONE')).result).toEqual({ ok: 1 });
  });

  it('out of retries the task fails with the reason, and the worker takes the next task', async () => {
    const w = await startWorker(ctx, 'host-4242');
    const id = await runningOn(ctx, w, 'retry: {maxRetries: 0}');
    await w.register();
    const t = await ctx.s.waitForStatus(id, 'FAILED');
    expect(t.error).toMatch(/host-4242 registered again/);
    const next = firstId(await ctx.s.submit(taskYaml({ name: 'next' })));
    expect((await w.waitForDispatch(2)).task_id).toBe(next);
    expect(await ctx.redis.get(`mloc:worker:${w.id}:task`)).toBe(next);
  });
});

describe('a worker that reports IDLE while it holds a task', () => {
  const ctx = stack();

  it('without any report: the attempt is given up at once with a clear error, and runs again', async () => {
    const w = await startWorker(ctx, 'w-idle');
    const id = await runningOn(ctx, w, 'retry: {maxRetries: 1}');
    await w.setStatus('IDLE');
    const again = await w.waitForDispatch(2);
    expect(again).toMatchObject({ task_id: id, attempt: 2 });
    const t = await ctx.s.task(id);
    expect(t.attempts[0]).toMatchObject({ worker: 'w-idle', outcome: 'failed' });
    expect(t.attempts[0].error).toMatch(/went IDLE without reporting the task/);
  });

  it('with extra.last_task but a report that never arrived: re-queued, saying so', async () => {
    const w = await startWorker(ctx, 'w-lost');
    const id = await runningOn(ctx, w, 'retry: {maxRetries: 0}');
    await w.setStatus('IDLE', { last_task: id });
    const t = await ctx.s.waitForStatus(id, 'FAILED');
    expect(t.error).toMatch(/went IDLE after the task, but its report never reached the orchestrator/);
  });

  it('a report followed by IDLE, and an IDLE about an earlier task, change nothing (checked against one that does)', async () => {
    const normal = await startWorker(ctx, 'normal');
    const first = await runningOn(ctx, normal);
    // The usual v1 order: the report, then IDLE with extra.last_task.
    await normal.succeed(first, { n: 1 });
    // An IDLE about `first` arriving after the next dispatch (not acknowledged yet).
    const second = firstId(await ctx.s.submit(taskYaml({ name: 'second' })));
    expect((await normal.waitForDispatch(2)).task_id).toBe(second);
    await normal.setStatus('IDLE', { last_task: first });
    // The control: a worker that goes IDLE without a report is caught; by then the others were judged.
    const control = await startWorker(ctx, 'control');
    const c = await runningOn(ctx, control, 'retry: {maxRetries: 0}');
    await control.setStatus('IDLE');
    await ctx.s.waitForStatus(c, 'FAILED');
    const done = await ctx.s.waitForStatus(first, 'DONE');
    expect(done.attempts).toEqual([expect.objectContaining({ worker: 'normal', outcome: 'succeeded' })]);
    const t2 = await ctx.s.task(second);
    expect(t2).toMatchObject({ status: 'DISPATCHED', attempt: 1, assigned_worker: 'normal' });
    expect(t2.attempts).toEqual([]);
    expect(normal.received).toHaveLength(2);
  });

  it('is reconciled by whichever replica leads, once', async () => {
    const second = await ctx.s.newApp();
    // The first replica leads; it goes away and the second takes over.
    await ctx.s.closeApp(ctx.s.app);
    ctx.s.app = second;
    await waitFor(async () => (await ctx.s.http().get('/readyz')).status === 200, { timeoutMs: 20_000, what: 'the second replica leads' });
    const w = await startWorker(ctx, 'w-replica');
    const id = await runningOn(ctx, w, 'retry: {maxRetries: 0}');
    await w.setStatus('IDLE');
    const t = await ctx.s.waitForStatus(id, 'FAILED');
    expect(t.attempts).toHaveLength(1);
    expect(t.attempts[0].error).toMatch(/went IDLE without reporting/);
  });
});

describe('liveness is judged on the orchestrator side', () => {
  const ctx = stack({ HEARTBEAT_TTL_SEC: '2' });

  it('a worker whose clock runs an hour ahead loses its task once its heartbeat stops, within the TTL', async () => {
    const ahead = await startWorker(ctx, 'ahead', { clockOffsetMs: 3600_000, heartbeatTtlSec: 1 });
    ahead.startHeartbeats(300);
    const id = await runningOn(ctx, ahead);
    ahead.stopHeartbeats(); // it dies
    const spare = await startWorker(ctx, 'spare', { heartbeatTtlSec: 2 });
    spare.startHeartbeats(300);
    // Bounded well below the worker index's one-minute resync, which used to be the only way out.
    const d = await spare.waitForDispatch(1, 20_000);
    expect(d.task_id).toBe(id);
    const t = await ctx.s.task(id);
    expect(t.attempts[0]).toMatchObject({ worker: 'ahead', outcome: 'failed' });
    expect(t.attempts[0].error).toMatch(/lost/);
  });
});

describe('worker ids', () => {
  it.each([
    ['gpu-node-1', true],
    ['host.example.org-12345', true],
    ['550e8400-e29b-41d4-a716-446655440000', true],
    ['worker_1@rack-2', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['', false],
    ['victim:hb', false],
    ['w*', false],
    ['w?', false],
    ['w[1]', false],
    ['w\\1', false],
    ['w 1', false],
    ['w\n', false],
    ['w\u0000', false],
    ['w\u2028', false],
  ])('isValidWorkerId(%j) = %s', (id, ok) => {
    expect(isValidWorkerId(id)).toBe(ok);
  });
});

describe("ids that would name another worker's keys", () => {
  const ctx = stack();

  /** A live worker holding a RUNNING task, and everything about it that nobody else may change. */
  async function victim(): Promise<{ w: FakeV1Worker; task: string; snapshot: () => Promise<unknown> }> {
    const w = await startWorker(ctx, 'victim', { heartbeatTtlSec: 3600 });
    const task = await runningOn(ctx, w);
    const snapshot = async () => ({
      member: await ctx.redis.sismember(WORKER_IDS_KEY, 'victim'),
      hash: await ctx.redis.hgetall(workerKey('victim')),
      hb: await ctx.redis.get(workerHeartbeatKey('victim')),
      holder: await ctx.redis.get(`mloc:worker:victim:task`),
      suspect: await ctx.redis.exists(`mloc:worker:victim:suspect`),
      task: await ctx.s.task(task).then((t) => ({ status: t.status, worker: t.assigned_worker, attempt: t.attempt, attempts: t.attempts })),
    });
    return { w, task, snapshot };
  }

  it('a registry entry "victim:hb" leaves the victim alone through cleanups and events', async () => {
    const v = await victim();
    const before = await v.snapshot();
    await ctx.redis.sadd(WORKER_IDS_KEY, 'victim:hb', 'victim:task', '*');
    for (const id of ['victim:hb', '*', 'victim:*']) {
      for (const type of ['REGISTER', 'HEARTBEAT', 'UNREGISTER'])
        await ctx.redis.publish(WORKERS_EVENTS_CHANNEL, JSON.stringify({ type, worker_id: id, status: 'IDLE', ts: new Date().toISOString() }));
      await ctx.redis.publish(
        WORKERS_EVENTS_CHANNEL,
        JSON.stringify({ type: 'STATUS', worker_id: id, status: 'IDLE', ts: new Date().toISOString(), extra: { last_task: v.task } }),
      );
    }
    for (let i = 0; i < 2; i++) expect((await ctx.s.http().post('/admin/cleanup')).body).toEqual({ ok: true, removed: 0 });
    expect(await v.snapshot()).toEqual(before);
    const list = (await ctx.s.http().get('/workers')).body as { worker_id: string }[];
    expect(list.map((w) => w.worker_id)).toEqual(['victim']);
    expect((await ctx.s.http().get(`/workers/${encodeURIComponent('victim:hb')}`)).status).toBe(404);
  });

  it("property: random ids and hostile workers.events messages never touch another worker's keys nor stop the subscriber", async () => {
    const v = await victim();
    const before = await v.snapshot();
    const victimKeys = new Set([
      workerKey('victim'),
      workerHeartbeatKey('victim'),
      'mloc:worker:victim:task',
      'mloc:worker:victim:suspect',
      'mloc:worker:victim:inbox',
      'mloc:worker:victim:processing',
    ]);
    const hostileId = fc
      .oneof(
        fc.constantFrom(
          'victim:hb',
          'victim:task',
          'victim:',
          ':hb',
          'victim*',
          'vict?m',
          'victi[m]',
          '*',
          '?',
          '[a-z]*',
          'victim\\',
          'victim ',
          ' victim',
          'victim\n',
          'victim\u0000',
          'Victim',
          'victim-2',
          'x'.repeat(200),
        ),
        fc.string({ maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.string({ maxLength: 8 }).map((x) => `victim${x}`),
        fc.string({ maxLength: 8 }).map((x) => `${x}:hb`),
      )
      .filter((id) => id !== 'victim');
    const junk = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer(),
      fc.constant(null),
      fc.boolean(),
      fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
    );
    const event = fc.record(
      {
        type: fc.constantFrom('REGISTER', 'HEARTBEAT', 'STATUS', 'UNREGISTER', 'status', 'Register', 'TASK_SUCCEEDED'),
        worker_id: fc.oneof(hostileId, hostileId, junk),
        status: fc.oneof(fc.constantFrom('IDLE', 'RUNNING', 'STARTING', 'idle'), junk),
        ts: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          junk,
        ),
        extra: fc.oneof(fc.record({ task_id: fc.oneof(fc.constant(v.task), junk), last_task: fc.oneof(fc.constant(v.task), junk) }, { requiredKeys: [] }), junk),
        source: fc.oneof(fc.constant('orchestrator'), junk),
        protocol: fc.oneof(fc.constant(2), junk),
      },
      { requiredKeys: ['type'] },
    );
    const message = fc.oneof({ weight: 5, arbitrary: event.map((e) => JSON.stringify(e)) }, { weight: 1, arbitrary: fc.string({ maxLength: 60 }) });
    const registrant = fc.record({
      id: hostileId,
      withHash: fc.boolean(),
      withHeartbeat: fc.boolean(),
      lastSeen: fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.string({ maxLength: 10 }),
      ),
      status: fc.oneof(fc.constantFrom('IDLE', 'RUNNING'), fc.string({ maxLength: 6 })),
    });

    await fc.assert(
      fc.asyncProperty(fc.array(registrant, { maxLength: 4 }), fc.array(message, { minLength: 1, maxLength: 8 }), async (regs, messages) => {
        // A hostile worker writes its own keys as v1 says; the test itself never writes the victim's.
        for (const r of regs) {
          await ctx.redis.sadd(WORKER_IDS_KEY, r.id);
          if (r.withHash && !victimKeys.has(workerKey(r.id)))
            await ctx.redis.hset(workerKey(r.id), { worker_id: r.id, status: r.status, last_seen: r.lastSeen, hardware_json: '{}' }).catch(() => undefined);
          if (r.withHeartbeat && !victimKeys.has(workerHeartbeatKey(r.id))) await ctx.redis.setex(workerHeartbeatKey(r.id), 60, r.lastSeen).catch(() => undefined);
        }
        try {
          for (const m of messages) await ctx.redis.publish(WORKERS_EVENTS_CHANNEL, m);
          const cleanup = await ctx.s.http().post('/admin/cleanup');
          expect(cleanup.status).toBe(200);
          for (const r of regs) expect([200, 404]).toContain((await ctx.s.http().get(`/workers/${encodeURIComponent(r.id)}`)).status);
          expect(await v.snapshot()).toEqual(before);
        } finally {
          // Each run starts from the victim alone, so that a counterexample stands on its own.
          for (const r of regs) {
            await ctx.redis.srem(WORKER_IDS_KEY, r.id);
            for (const k of [workerKey(r.id), workerHeartbeatKey(r.id)]) if (!victimKeys.has(k)) await ctx.redis.del(k);
          }
        }
      }),
      // A victim once harmed stays harmed, so shrinking would only find noise: report the first failure.
      { numRuns: 60, endOnFailure: true },
    );

    // The subscriber and the scheduler still work: a new worker is heard and gets the next task.
    const probe = await startWorker(ctx, 'probe');
    const next = firstId(await ctx.s.submit(taskYaml({ name: 'probe', extraSpec: 'retry: {maxRetries: 0}' })));
    expect((await probe.waitForDispatch(1)).task_id).toBe(next);
    // Past the grace period of any cue the events could have left: the victim is still untouched.
    await probe.ack(next);
    await probe.setStatus('IDLE');
    await ctx.s.waitForStatus(next, 'FAILED');
    expect(await v.snapshot()).toEqual(before);
  });
});
