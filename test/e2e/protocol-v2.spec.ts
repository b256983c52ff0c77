import { Redis } from 'ioredis';
import { CPU_HW } from '../support/fake-worker';
import { firstId, TestStack, taskYaml } from '../support/test-app';
import { StreamConsumer } from '../../src/events/stream-consumer';
import { LeadershipService } from '../../src/leadership/leadership.service';

describe('durable protocol (v2) next to v1 workers', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack({ DISPATCH_ACK_TIMEOUT_SEC: '2' }).start();
  });
  afterEach(() => s.stop());

  it('runs a task on a v2 worker through its inbox and the event stream, with the attempt carried end to end', async () => {
    const w = await s.worker({ id: 'v2', hardware: CPU_HW(), protocol: 2, result: () => ({ items: ['ok'] }) });
    const id = firstId(await s.submit(taskYaml()));
    const t = await s.waitForStatus(id, 'DONE');
    expect(t.result).toEqual({ items: ['ok'] });
    expect(w.received[0].attempt).toBe(1);
    expect(t.attempts).toEqual([expect.objectContaining({ attempt: 1, worker: 'v2', outcome: 'succeeded' })]);
  });

  it('v1 and v2 workers serve one cluster side by side', async () => {
    const v1 = await s.worker({ id: 'a-v1', hardware: CPU_HW() });
    const v2 = await s.worker({ id: 'b-v2', hardware: CPU_HW(), protocol: 2 });
    const res = await s.submit([0, 1, 2, 3, 4, 5].map((i) => taskYaml({ name: `mix-${i}` })).join('---\n'));
    await Promise.all(res.body.tasks.map((t: { task_id: string }) => s.waitForStatus(t.task_id, 'DONE')));
    expect(v1.received.length + v2.received.length).toBe(6);
    expect(v1.received.length).toBeGreaterThan(0);
    expect(v2.received.length).toBeGreaterThan(0);
  });

  it('a v2 dispatch stands while the worker is not listening, and it picks it up later', async () => {
    const w = await s.worker({ id: 'v2', hardware: CPU_HW(), protocol: 2, subscribe: false });
    const id = firstId(await s.submit(taskYaml()));
    expect((await s.task(id)).status).toBe('DISPATCHED');
    await w.listen();
    const t = await s.waitForStatus(id, 'DONE');
    expect(t.attempts).toHaveLength(1);
  });

  it('a report made while no orchestrator runs is applied from the stream after restart, not re-run', async () => {
    const w = await s.worker({ id: 'v2', hardware: CPU_HW(), protocol: 2, behaviour: 'hold' });
    const id = firstId(await s.submit(taskYaml()));
    await w.waitForDispatch(1);
    await s.waitForStatus(id, 'RUNNING');
    await s.closeApp(s.app);
    await w.succeed(id, { kept: true });
    s.app = await s.newApp();
    const t = await s.waitForStatus(id, 'DONE');
    expect(t.result).toEqual({ kept: true });
    expect(t.attempts).toEqual([expect.objectContaining({ outcome: 'succeeded', worker: 'v2' })]);
    expect(w.received).toHaveLength(1);
  });

  it('a late report of an earlier attempt is recognised by its attempt number and ignored', async () => {
    const w = await s.worker({ id: 'v2', hardware: CPU_HW(), protocol: 2, behaviour: 'hold' });
    const id = firstId(await s.submit(taskYaml({ extraSpec: 'retry: {maxRetries: 2}' })));
    await w.waitForDispatch(1);
    await w.fail(id, 'first attempt failed', 1);
    const second = await w.waitForDispatch(2);
    expect(second.attempt).toBe(2);
    // A duplicate of attempt 1's failure arrives late: it must not count against attempt 2.
    await w.fail(id, 'duplicate of attempt 1', 1);
    await w.succeed(id, { attempt: 2 }, 2);
    const t = await s.waitForStatus(id, 'DONE');
    expect(t.attempts.map((a: { attempt: number; outcome: string }) => [a.attempt, a.outcome])).toEqual([
      [1, 'failed'],
      [2, 'succeeded'],
    ]);
    const redis: Redis = s.redis.client();
    expect(await redis.xpending('mloc:events', 'orchestrators')).toEqual([0, null, null, null]);
    redis.disconnect();
  });

  it('consumers left in the group by dead replicas are removed once empty and idle; ours stays', async () => {
    await s.worker({ id: 'v2', hardware: CPU_HW(), protocol: 2 });
    await s.waitForStatus(firstId(await s.submit(taskYaml())), 'DONE');
    const redis: Redis = s.redis.client();
    await redis.xgroup('CREATECONSUMER', 'mloc:events', 'orchestrators', 'dead-replica');
    const consumer = s.app.get(StreamConsumer);
    expect(await consumer.forgetIdleConsumers(0)).toEqual(['dead-replica']);
    const left = ((await redis.xinfo('CONSUMERS', 'mloc:events', 'orchestrators')) as unknown[][]).map((c) => c[1]);
    expect(left).toEqual([s.app.get(LeadershipService).instanceId]);
    redis.disconnect();
  });
});
