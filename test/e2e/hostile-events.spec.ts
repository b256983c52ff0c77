import fc from 'fast-check';
import { Redis } from 'ioredis';
import { EVENTS_STREAM_GROUP, EVENTS_STREAM_KEY, TASKS_EVENTS_CHANNEL } from '../../src/contracts/protocol';
import { readTaskEvent } from '../../src/events/event-parsing';
import { MAX_APPLY_TRIES } from '../../src/events/stream-consumer';
import { FakeV1Worker } from '../support/fake-worker';
import { firstId, taskIds, taskYaml, TestStack } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * What a worker sends cannot stop event processing or strand a task (docs/guarantees.md): a report
 * is applied (a result too large or too deep becomes a marker), or its attempt ends with the reason,
 * or it is set aside in the dead-letter stream; the events behind it are applied.
 */
const deepJson = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;
/** A task only the workers with `tag` can run. */
const taggedYaml = (tag: string) => taskYaml({ name: `on-${tag}`, tags: [tag] });

describe('worker events that cannot be applied as sent', () => {
  let s: TestStack;
  let redis: Redis;
  let v1: FakeV1Worker;
  let v2: FakeV1Worker;
  beforeAll(async () => {
    s = await new TestStack({ ORCHESTRATOR_TOKEN: 'dlq-token' }).start();
    redis = s.redis.client();
    v1 = await s.worker({ id: 'hold-v1', behaviour: 'hold', tags: ['hold-v1'] });
    v2 = await s.worker({ id: 'hold-v2', behaviour: 'hold', protocol: 2, tags: ['hold-v2'] });
  });
  afterAll(async () => {
    redis.disconnect();
    await s.stop();
  });

  const deadLetters = async () =>
    (await s.http().get('/admin/dead-letters').set(s.authHeader()).expect(200)).body as {
      total: number;
      entries: { source: string; reason: string; entry_id?: string; event: string }[];
    };
  const metric = async (source: string) => {
    const text = (await s.http().get('/metrics').set(s.authHeader()).expect(200)).text;
    const m = new RegExp(`^mloc_events_dead_lettered_total\\{source="${source.replace('.', '\\.')}"\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const pending = async () => Number(((await redis.xpending(EVENTS_STREAM_KEY, EVENTS_STREAM_GROUP)) as [number])[0]);
  const streamEvent = (ev: Record<string, unknown> | string) => redis.xadd(EVENTS_STREAM_KEY, '*', 'event', typeof ev === 'string' ? ev : JSON.stringify(ev));
  const publish = (ev: Record<string, unknown> | string) => redis.publish(TASKS_EVENTS_CHANNEL, typeof ev === 'string' ? ev : JSON.stringify(ev));

  /** A task running on `w` (and the dispatch's attempt). */
  async function runningOn(w: FakeV1Worker): Promise<{ id: string; attempt?: number }> {
    const n = w.received.length + 1;
    const id = firstId(await s.submit(taggedYaml(w.id)).expect(200));
    const msg = await w.waitForDispatch(n);
    expect(msg.task_id).toBe(id);
    await s.waitForStatus(id, 'RUNNING');
    return { id, attempt: msg.attempt };
  }

  it('v2: an entry naming another kind of key is set aside at once, and the entries behind it are applied', async () => {
    // A pipeline's first stage has a `<id>:dependents` set: the id that once gave WRONGTYPE.
    // (It asks for more cores than any worker has, so it waits and occupies nobody.)
    const pipeline = taskIds(await s.submit(taskYaml({ name: 'p', cpu: 64, extraSpec: 'stages:\n  - name: a\n  - name: b' })).expect(200));
    expect(await redis.exists(`mloc:task:${pipeline[0]}:dependents`)).toBe(1);
    const before = await deadLetters();
    const { id, attempt } = await runningOn(v2);
    const bad = await streamEvent({ type: 'TASK_SUCCEEDED', worker_id: 'hold-v2', task_id: `${pipeline[0]}:dependents`, result: {} });
    await streamEvent({ type: 'TASK_SUCCEEDED', worker_id: 'hold-v2', task_id: id, attempt, result: { behind: true }, protocol: 2 });
    const done = await s.waitForStatus(id, 'DONE');
    expect(done.result).toEqual({ behind: true });
    await waitFor(async () => (await pending()) === 0, { what: 'no pending stream entries' });
    const after = await deadLetters();
    expect(after.total).toBe(before.total + 1);
    expect(after.entries[0]).toMatchObject({ source: 'stream', entry_id: bad, reason: expect.stringContaining('names no task of ours') });
    expect(await metric('stream')).toBeGreaterThanOrEqual(1);
    await s.http().post(`/api/v1/tasks/${pipeline[0]}/cancel`).set(s.authHeader()).expect(200);
  });

  it('v2: a result nested 5,000 deep is stored as a marker and the task is DONE', async () => {
    const { id, attempt } = await runningOn(v2);
    await streamEvent(`{"type":"TASK_SUCCEEDED","worker_id":"hold-v2","task_id":"${id}","attempt":${attempt},"protocol":2,"result":${deepJson(5000)}}`);
    const done = await s.waitForStatus(id, 'DONE');
    expect(done.result).toMatchObject({ truncated: true, note: expect.stringContaining('nested deeper') });
    await waitFor(async () => (await pending()) === 0, { what: 'no pending stream entries' });
  });

  it(`v2: an entry that fails to apply ${MAX_APPLY_TRIES} times is set aside with the error, and the entries behind it are applied`, async () => {
    // A task id of the right form whose record is another kind of key: every try fails the same way.
    const ghost = '00000000-0000-4000-8000-000000000001';
    await redis.set(`mloc:task:${ghost}`, 'not a hash');
    const before = await deadLetters();
    const { id, attempt } = await runningOn(v2);
    const bad = await streamEvent({ type: 'TASK_SUCCEEDED', worker_id: 'hold-v2', task_id: ghost, result: {} });
    await streamEvent({ type: 'TASK_SUCCEEDED', worker_id: 'hold-v2', task_id: id, attempt, result: { after: 'ghost' }, protocol: 2 });
    expect((await s.waitForStatus(id, 'DONE')).result).toEqual({ after: 'ghost' });
    const after = await deadLetters();
    expect(after.total).toBe(before.total + 1);
    expect(after.entries[0]).toMatchObject({ source: 'stream', entry_id: bad, reason: expect.stringMatching(/TASK_SUCCEEDED could not be applied: .*WRONGTYPE/) });
    await waitFor(async () => (await pending()) === 0, { what: 'no pending stream entries' });
    await redis.del(`mloc:task:${ghost}`);
  });

  it('v1: a result nested 5,000 deep is stored as a marker, and the worker gets work again', async () => {
    const { id } = await runningOn(v1);
    await publish(`{"type":"TASK_SUCCEEDED","worker_id":"hold-v1","task_id":"${id}","result":${deepJson(5000)}}`);
    await v1.setStatus('IDLE', { last_task: id });
    const done = await s.waitForStatus(id, 'DONE');
    expect(done.result).toMatchObject({ truncated: true });
    const next = await runningOn(v1);
    await v1.succeed(next.id, { again: true });
    expect((await s.waitForStatus(next.id, 'DONE')).result).toEqual({ again: true });
  });

  it('v1: a TASK_SUCCEEDED of 20 MB ends the attempt with a marker instead of being dropped', async () => {
    const { id } = await runningOn(v1);
    await publish(JSON.stringify({ type: 'TASK_SUCCEEDED', worker_id: 'hold-v1', task_id: id, result: { text: 'x'.repeat(20 * 1024 * 1024) } }));
    await v1.setStatus('IDLE', { last_task: id });
    const done = await s.waitForStatus(id, 'DONE', 20_000);
    expect(done.result).toMatchObject({ truncated: true, original_bytes: expect.any(Number) });
    expect(done.result.original_bytes).toBeGreaterThan(20 * 1024 * 1024);
    const next = await runningOn(v1);
    await v1.succeed(next.id);
    await s.waitForStatus(next.id, 'DONE');
  });

  it('v1: a report that cannot be applied is set aside with its reason', async () => {
    const before = await metric('tasks.events');
    await publish({ type: 'TASK_FAILED', worker_id: 'hold-v1', task_id: 'abc:dependents', error: 'x' });
    await publish('{"type":"TASK_SUCCEEDED", "worker_id": "hold-v1", "task_id": ');
    await waitFor(async () => (await metric('tasks.events')) === before + 2, { what: 'two events set aside' });
    const { entries } = await deadLetters();
    expect(entries.slice(0, 2).map((e) => [e.source, e.reason])).toEqual([
      ['tasks.events', 'not valid JSON'],
      ['tasks.events', expect.stringContaining('names no task of ours')],
    ]);
  });

  it('the dead letters are an admin read: bearer token required, count validated', async () => {
    // At least one entry, whatever ran before.
    const before = await metric('tasks.events');
    await publish({ type: 'TASK_FAILED', worker_id: 'hold-v1', task_id: 'read:me', error: 'x' });
    await waitFor(async () => (await metric('tasks.events')) === before + 1, { what: 'an event set aside' });
    expect((await s.http().get('/admin/dead-letters')).status).toBe(401);
    const bad = await s.http().get('/admin/dead-letters?count=0').set(s.authHeader());
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('count');
    expect((await s.http().get('/admin/dead-letters?count=1').set(s.authHeader()).expect(200)).body.entries).toHaveLength(1);
  });

  it('random and hostile reports on both paths are each applied or set aside; processing never stalls (property)', async () => {
    // Workers of its own: what the generated reports do to their tasks must not leave the other
    // tests' workers busy, whatever order the tests run in.
    const p1 = await s.worker({ id: 'prop-v1', behaviour: 'hold', tags: ['prop-v1'] });
    const p2 = await s.worker({ id: 'prop-v2', behaviour: 'hold', protocol: 2, tags: ['prop-v2'] });
    const { id: v1Task } = await runningOn(p1);
    const { id: v2Task } = await runningOn(p2);
    const report = fc.record(
      {
        type: fc.constantFrom('TASK_SUCCEEDED', 'TASK_FAILED', 'TASK_STARTED', 'task_succeeded', 'NOPE'),
        worker_id: fc.oneof(fc.constantFrom('prop-v1', 'prop-v2', 'someone'), fc.string(), fc.integer()),
        task_id: fc.oneof(fc.constantFrom(v1Task, v2Task, `${v1Task}:dependents`, 'mloc:queue'), fc.uuid(), fc.string()),
        result: fc.oneof(
          fc.jsonValue(),
          fc.integer({ min: 100, max: 3000 }).map((n) => ({ raw: n })),
        ),
        error: fc.oneof(fc.string(), fc.jsonValue()),
        attempt: fc.oneof(fc.integer(), fc.constant(null)),
      },
      { requiredKeys: ['type'] },
    );
    // Some reports carry a deeply nested result (as raw text: JSON.stringify could not build it).
    const text = report.map((r) => {
      const raw = r.result as { raw?: number } | undefined;
      return raw && typeof raw.raw === 'number' ? JSON.stringify({ ...r, result: 0 }).replace('"result":0', `"result":${deepJson(raw.raw)}`) : JSON.stringify(r);
    });
    const texts = fc.sample(fc.oneof({ weight: 8, arbitrary: text }, { weight: 1, arbitrary: fc.string() }, { weight: 1, arbitrary: fc.json() }), { numRuns: 150, seed: 20261206 });
    const rejected = (t: string) => {
      const r = readTaskEvent(t);
      return r !== null && 'rejected' in r;
    };
    const before = { stream: await metric('stream'), channel: await metric('tasks.events') };
    for (const t of texts) {
      await streamEvent(t);
      await publish(t);
    }
    // The stream sets aside every entry that is no report of a task of ours, and nothing else.
    const expectStream = texts.filter((t) => readTaskEvent(t) === null || rejected(t)).length;
    // The channel ignores other traffic (as every subscriber does) and sets aside the rejected ones,
    // that it reads (those that look like reports).
    const expectChannel = texts.filter((t) => /task_(succeeded|failed)|"task_started"/i.test(t) && rejected(t)).length;
    await waitFor(async () => (await pending()) === 0 && (await metric('stream')) === before.stream + expectStream, {
      timeoutMs: 20_000,
      what: 'every stream entry applied or set aside',
    });
    await waitFor(async () => (await metric('tasks.events')) === before.channel + expectChannel, { what: 'channel reports set aside' });
    // Processing goes on: fresh workers of both kinds run a task each to DONE through both paths.
    for (const protocol of [1, 2] as const) {
      const w = await s.worker({ id: `sentinel-v${protocol}`, protocol, tags: ['sentinel'], result: () => ({ protocol }) });
      const id = firstId(await s.submit(taggedYaml('sentinel')).expect(200));
      expect(await s.waitForStatus(id, 'DONE')).toMatchObject({ assigned_worker: w.id, result: { protocol } });
      await w.unregister();
    }
    expect((await s.http().get('/healthz')).status).toBe(200);
  });
});
