import { TASKS_EVENTS_CHANNEL, WORKERS_EVENTS_CHANNEL } from '../../src/contracts/protocol';
import { FakeV1Worker } from '../support/fake-worker';
import { firstId, taskYaml, TestStack } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * The later MLOC worker's event shapes (docs/protocol.md, "Two worker generations"): STATUS with
 * `payload.task_id`, TASK_STARTED on tasks.events, every key present with nulls, no `result`.
 */
describe('the later MLOC worker', () => {
  const ACK_TIMEOUT_SEC = 1;
  let s: TestStack;
  let w: FakeV1Worker;
  beforeAll(async () => {
    s = await new TestStack({ DISPATCH_ACK_TIMEOUT_SEC: String(ACK_TIMEOUT_SEC) }).start();
    // Runs each task for 2.5 times the acknowledgement timeout.
    w = await new FakeV1Worker(s.redis.url, { id: 'later-1', generation: 'later', runMs: ACK_TIMEOUT_SEC * 2500 }).start();
    await waitFor(async () => (await s.http().get('/workers/later-1')).body.status === 'IDLE', { what: 'later-1 idle' });
  });
  afterAll(async () => {
    await w.close();
    await s.stop();
  });

  it('runs a task longer than the acknowledgement timeout to DONE on its first attempt, RUNNING on the way', async () => {
    const id = firstId(await s.submit(taskYaml({ name: 'long' })).expect(200));
    const running = await s.waitForStatus(id, ['RUNNING', 'DONE', 'FAILED']);
    expect(running.status).toBe('RUNNING');
    expect(running.started_at).toEqual(expect.any(String));
    const done = await s.waitForStatus(id, ['DONE', 'FAILED'], 15_000);
    expect(done).toMatchObject({ status: 'DONE', assigned_worker: 'later-1', retries: 0, error: null });
    expect(done.attempts).toHaveLength(1);
    expect(w.received.map((m) => m.task_id)).toEqual([id]);
    // No result in the report: none is invented, and no "null" string is stored.
    expect(done.result).not.toBe('null');
  });
});

describe('acknowledgements and nulls from either worker generation', () => {
  let s: TestStack;
  let a: FakeV1Worker;
  let b: FakeV1Worker;
  let redis: ReturnType<TestStack['redis']['client']>;
  beforeAll(async () => {
    s = await new TestStack().start();
    // Both hear their dispatch and say nothing: the test speaks for them.
    a = await s.worker({ id: 'gen-a', behaviour: 'ignore' });
    b = await s.worker({ id: 'gen-b', behaviour: 'ignore' });
    redis = s.redis.client();
  });
  afterAll(async () => {
    redis.disconnect();
    await s.stop();
  });

  /** Two tasks, one dispatched to each worker; returns [task of gen-a, task of gen-b]. */
  async function dispatchedPair(): Promise<[string, string]> {
    const ids = [firstId(await s.submit(taskYaml({ name: 'p' })).expect(200)), firstId(await s.submit(taskYaml({ name: 'q' })).expect(200))];
    const recs = await Promise.all(ids.map((id) => s.waitForStatus(id, 'DISPATCHED')));
    const byWorker = new Map(recs.map((r) => [r.assigned_worker as string, r.task_id as string]));
    expect([...byWorker.keys()].sort()).toEqual(['gen-a', 'gen-b']);
    return [byWorker.get('gen-a')!, byWorker.get('gen-b')!];
  }

  const publish = (channel: string, ev: Record<string, unknown>) => redis.publish(channel, JSON.stringify(ev));

  it('STATUS RUNNING with payload.task_id acknowledges, as extra.task_id does', async () => {
    const [ta, tb] = await dispatchedPair();
    await publish(WORKERS_EVENTS_CHANNEL, { type: 'STATUS', worker_id: 'gen-a', status: 'RUNNING', tags: null, metrics: {}, payload: { task_id: ta } });
    await publish(WORKERS_EVENTS_CHANNEL, { type: 'STATUS', worker_id: 'gen-b', status: 'RUNNING', ts: new Date().toISOString(), extra: { task_id: tb } });
    for (const id of [ta, tb]) {
      const t = await s.waitForStatus(id, 'RUNNING');
      expect(t.started_at).toEqual(expect.any(String));
    }
    await a.succeed(ta);
    await b.succeed(tb);
    await Promise.all([ta, tb].map((id) => s.waitForStatus(id, 'DONE')));
  });

  it('TASK_STARTED acknowledges for the holder only; from another worker it changes nothing', async () => {
    const [ta, tb] = await dispatchedPair();
    // gen-b claims gen-a's task: nothing may change. Then the holder of tb acknowledges tb: the
    // subscriber applies events in order, so once tb is RUNNING the false claim has been applied.
    await publish(TASKS_EVENTS_CHANNEL, { type: 'TASK_STARTED', worker_id: 'gen-b', task_id: ta, status: null, result: null, error: null, payload: { taskType: 'echo' } });
    await publish(TASKS_EVENTS_CHANNEL, { type: 'task_started', worker_id: 'gen-b', task_id: tb, status: null, result: null, error: null, payload: { taskType: 'echo' } });
    await s.waitForStatus(tb, 'RUNNING');
    const untouched = await s.task(ta);
    expect(untouched).toMatchObject({ status: 'DISPATCHED', assigned_worker: 'gen-a', started_at: null });
    await publish(TASKS_EVENTS_CHANNEL, { type: 'TASK_STARTED', worker_id: 'gen-a', task_id: ta, payload: { taskType: 'echo', dispatched_at: null, started_at: null } });
    expect((await s.waitForStatus(ta, 'RUNNING')).started_at).toEqual(expect.any(String));
    await a.succeed(ta);
    await b.succeed(tb);
    await Promise.all([ta, tb].map((id) => s.waitForStatus(id, 'DONE')));
  });

  it('reads explicit nulls as absent: "error": null is no error text, "result": null no result', async () => {
    const [ta, tb] = await dispatchedPair();
    await a.ack(ta);
    await b.ack(tb);
    await Promise.all([ta, tb].map((id) => s.waitForStatus(id, 'RUNNING')));
    const nulls = { status: null, tags: null, metrics: null, payload: null, ts: null, attempt: null, protocol: null };
    await publish(TASKS_EVENTS_CHANNEL, { type: 'TASK_FAILED', worker_id: 'gen-a', task_id: ta, result: null, error: null, ...nulls });
    await publish(TASKS_EVENTS_CHANNEL, { type: 'TASK_SUCCEEDED', worker_id: 'gen-b', task_id: tb, result: null, error: null, ...nulls });
    const done = await s.waitForStatus(tb, 'DONE');
    expect(done.result).toEqual({});
    // The failure is retried elsewhere; its attempt says that no error was given, not "null".
    const failed = await waitFor(async () => {
      const t = await s.task(ta);
      return t.attempts?.length ? t : null;
    });
    expect(failed.attempts[0].error).toBe('task failed (no error given)');
    expect(JSON.stringify(failed)).not.toContain('"null"');
    // The retry runs to its end, so both workers are free for whatever test comes next.
    const again = await s.waitForStatus(ta, 'DISPATCHED');
    const holder = again.assigned_worker === 'gen-a' ? a : b;
    await holder.ack(ta);
    await holder.succeed(ta);
    await s.waitForStatus(ta, 'DONE');
  });
});
