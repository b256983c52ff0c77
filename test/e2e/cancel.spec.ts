import { Redis } from 'ioredis';
import { Keys } from '../../src/redis/keys';
import { CPU_HW, FakeV1Worker, GPU_HW } from '../support/fake-worker';
import { firstId, TestStack, taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * POST /api/v1/tasks/{id}/cancel of a task a worker already has (DISPATCHED, RUNNING), of a sharded
 * parent, and racing the worker's own result: the record ends CANCELLED (or, when the result won,
 * DONE with a 409), a late report changes nothing, and the worker is free for the next task.
 */
describe('cancel over HTTP', () => {
  let s: TestStack;
  let redis: Redis;
  beforeEach(async () => {
    s = await new TestStack().start();
    redis = s.redis.client();
  });
  afterEach(async () => {
    redis.disconnect();
    await s.stop();
  });

  const cancel = (id: string) => s.http().post(`/api/v1/tasks/${id}/cancel`).set(s.authHeader());
  /** The workers are free again: as many new tasks go one to each of them and finish there. */
  const expectFree = async (...ws: FakeV1Worker[]) => {
    for (const w of ws) {
      await waitFor(async () => (await redis.get(Keys.workerTask(w.id))) === null, { what: `${w.id} released` });
      w.setBehaviour('succeed');
    }
    const next = await s.submit(ws.map((w) => taskYaml({ name: `after-${w.id}` })).join('---\n'));
    const done = await Promise.all(next.body.tasks.map((t: { task_id: string }) => s.waitForStatus(t.task_id, 'DONE')));
    expect(done.map((t) => t.assigned_worker).sort()).toEqual(ws.map((w) => w.id).sort());
  };

  it('a DISPATCHED task: CANCELLED at once; the late acknowledgement and report change nothing; the worker is freed', async () => {
    const w = await s.worker({ id: 'slow-ack', hardware: CPU_HW(), behaviour: 'ignore' });
    const id = firstId(await s.submit(taskYaml({ name: 'to-cancel' })));
    await w.waitForDispatch(1);
    expect((await s.task(id)).status).toBe('DISPATCHED');

    const res = await cancel(id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ task_id: id, status: 'CANCELLED' });
    const t = await s.task(id);
    expect([t.status, t.error]).toEqual(['CANCELLED', 'cancelled by user']);

    // The worker heard the dispatch before the cancel: it acknowledges and finishes it anyway.
    await w.ack(id);
    await w.succeed(id, { too: 'late' });
    await expectFree(w);
    const after = await s.task(id);
    expect([after.status, after.result, after.error]).toEqual(['CANCELLED', null, 'cancelled by user']);
    expect((await cancel(id)).status).toBe(409);
  });

  it('a RUNNING task: CANCELLED at once; its result, arriving later, is not recorded; the worker is freed', async () => {
    const w = await s.worker({ id: 'runner', hardware: CPU_HW(), behaviour: 'hold' });
    const id = firstId(await s.submit(taskYaml({ name: 'running' })));
    await s.waitForStatus(id, 'RUNNING');

    const res = await cancel(id);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('CANCELLED');
    expect(await redis.zscore(Keys.inflight, id)).toBeNull();

    await w.succeed(id, { too: 'late' });
    await expectFree(w);
    const t = await s.task(id);
    expect([t.status, t.result]).toEqual(['CANCELLED', null]);
    expect(t.attempts.some((a: { outcome: string }) => a.outcome === 'succeeded')).toBe(false);
  });

  it("a sharded parent: the parent and every shard end CANCELLED; the shards' reports change nothing; the workers are freed", async () => {
    const gpus = [
      await s.worker({ id: 'g0', hardware: GPU_HW(['NVIDIA L4']), behaviour: 'hold' }),
      await s.worker({ id: 'g1', hardware: GPU_HW(['NVIDIA L4']), behaviour: 'hold' }),
    ];
    const res = await s.submit(
      taskYaml({ name: 'sharded', taskType: 'inference', gpu: '{type: any, count: 1}', extraSpec: 'parallel: {enabled: true, max_shards: 2}\ndata: {prompts: [a, b, c, d]}' }),
    );
    const parentId = firstId(res);
    await Promise.all(gpus.map((g) => g.waitForDispatch(1)));
    const parent = await s.task(parentId);
    expect([parent.status, parent.assigned_worker]).toEqual(['RUNNING', 'MULTI']);
    expect(parent.children).toHaveLength(2);

    const cancelled = await cancel(parentId);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('CANCELLED');
    for (const c of parent.children as string[]) {
      const shard = await s.task(c);
      expect([shard.status, shard.error]).toEqual(['CANCELLED', `parent ${parentId} ended CANCELLED`]);
    }

    // Each worker finishes its shard anyway: no shard is counted, no aggregate is made.
    for (const g of gpus) await g.succeed(g.received[0].task_id, { items: ['late'] });
    await expectFree(...gpus);
    const after = await s.task(parentId);
    expect([after.status, after.result]).toEqual(['CANCELLED', null]);
    for (const c of parent.children as string[]) expect((await s.task(c)).status).toBe('CANCELLED');
    expect(await redis.sismember(Keys.parents, parentId)).toBe(0);
  });

  it('cancelling one shard cancels its parent and the other shards', async () => {
    const gpus = [
      await s.worker({ id: 'g0', hardware: GPU_HW(['NVIDIA L4']), behaviour: 'hold' }),
      await s.worker({ id: 'g1', hardware: GPU_HW(['NVIDIA L4']), behaviour: 'hold' }),
    ];
    const parentId = firstId(
      await s.submit(
        taskYaml({ name: 'sharded', taskType: 'inference', gpu: '{type: any, count: 1}', extraSpec: 'parallel: {enabled: true, max_shards: 2}\ndata: {prompts: [a, b]}' }),
      ),
    );
    await Promise.all(gpus.map((g) => g.waitForDispatch(1)));
    const { children } = await s.task(parentId);
    const res = await cancel(children[1]);
    expect(res.status).toBe(200);
    expect((await s.task(parentId)).status).toBe('CANCELLED');
    expect((await s.task(children[0])).status).toBe('CANCELLED');
  });

  it('cancel racing the result: exactly one wins, the answer says which, and the worker is freed either way', async () => {
    const w = await s.worker({ id: 'racer', hardware: CPU_HW(), behaviour: 'hold' });
    const seen = new Set<string>();
    for (let round = 0; round < 6; round++) {
      w.setBehaviour('hold');
      const id = firstId(await s.submit(taskYaml({ name: `race-${round}` })));
      await s.waitForStatus(id, 'RUNNING');
      // Sent together: the HTTP cancel and the worker's report reach Redis in either order.
      const [res] = await Promise.all([cancel(id), w.succeed(id, { round })]);
      if (res.status === 200) {
        // The cancel won: the report that came after is ignored.
        expect(res.body.status).toBe('CANCELLED');
        await waitFor(async () => (await redis.get(Keys.workerTask(w.id))) === null, { what: 'the worker released by its ignored report' });
        const t = await s.task(id);
        expect([t.status, t.result]).toEqual(['CANCELLED', null]);
        seen.add('cancel');
      } else {
        // The result won: the cancel is refused and the task keeps it.
        expect(res.status).toBe(409);
        expect(res.body.message).toMatch(/DONE/);
        const t = await s.waitForStatus(id, 'DONE');
        expect(t.result).toEqual({ round });
        seen.add('result');
      }
    }
    expect(seen.size).toBeGreaterThan(0);
    await expectFree(w);
  });
});
