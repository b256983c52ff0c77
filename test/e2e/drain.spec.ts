import { Keys } from '../../src/redis/keys';
import { CPU_HW } from '../support/fake-worker';
import { firstId, TestStack, taskYaml } from '../support/test-app';

/** Issue 13: an operated fleet. A drained worker gets no new task; undrain gives it work again. */
describe('drain, undrain and the elastic alias', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  const post = (path: string, body?: object) => {
    const req = s.http().post(path).set(s.authHeader());
    return body === undefined ? req : req.send(body);
  };

  it('a drained worker gets no task while another idle one does; undrain gets it work again', async () => {
    // Same hardware: without the drain, `a` (registered first) is the one every placement picks.
    const a = await s.worker({ id: 'a', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    await s.worker({ id: 'b', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    const drained = await post('/workers/a/drain').expect(200);
    expect(drained.body).toMatchObject({ worker_id: 'a', draining: true, status: 'IDLE' });
    // Idempotent.
    await post('/workers/a/drain').expect(200);
    const list = await s.http().get('/workers').set(s.authHeader()).expect(200);
    expect(list.body.map((w: { worker_id: string; draining: boolean; status: string }) => [w.worker_id, w.draining, w.status])).toEqual([
      ['a', true, 'IDLE'],
      ['b', false, 'IDLE'],
    ]);

    const first = await s.submit(taskYaml({ name: 'first' })).expect(200);
    expect(first.body.tasks[0]).toMatchObject({ status: 'DISPATCHED', assigned_worker: 'b' });
    // b is busy, a is drained: the next task waits.
    const second = await s.submit(taskYaml({ name: 'second' })).expect(200);
    expect(second.body.tasks[0]).toMatchObject({ status: 'PENDING', assigned_worker: null });
    expect(a.received).toEqual([]);

    const undrained = await post('/workers/a/undrain').expect(200);
    expect(undrained.body).toMatchObject({ worker_id: 'a', draining: false });
    const t = await s.waitForStatus(firstId(second), 'RUNNING');
    expect(t.assigned_worker).toBe('a');
    expect(a.received.map((m) => m.task_id)).toEqual([firstId(second)]);
  });

  it("a drain made behind this replica's back (another replica) is still honoured by the claim", async () => {
    const a = await s.worker({ id: 'a', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    // As another replica's POST /workers/a/drain does: the flag in Redis, this replica's index not told.
    const r = s.redis.client();
    await r.sadd(Keys.draining, 'a');
    await r.quit();
    const res = await s.submit(taskYaml()).expect(200);
    expect(res.body.tasks[0]).toMatchObject({ status: 'PENDING', assigned_worker: null });
    expect(a.received).toEqual([]);
    // The refused claim made the index read the worker again: it now shows drained.
    const w = await s.http().get('/workers/a').set(s.authHeader()).expect(200);
    expect(w.body.draining).toBe(true);
  });

  it('a drain survives an orchestrator restart (a new instance on the same Redis)', async () => {
    const a = await s.worker({ id: 'a', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    await post('/workers/a/drain').expect(200);
    await s.closeApp(s.app);
    s.app = await s.newApp();
    const w = await s.http().get('/workers/a').set(s.authHeader()).expect(200);
    expect(w.body).toMatchObject({ draining: true, status: 'IDLE' });
    const res = await s.submit(taskYaml()).expect(200);
    expect(res.body.tasks[0]).toMatchObject({ status: 'PENDING' });
    expect(a.received).toEqual([]);
    await post('/workers/a/undrain').expect(200);
    await s.waitForStatus(firstId(res), 'RUNNING');
    expect(a.received.map((m) => m.task_id)).toEqual([firstId(res)]);
  });

  it('POST /workers/{id}/elastic {enabled} is the alias: false drains, true undrains; a bad body is 400, an unknown worker 404', async () => {
    await s.worker({ id: 'a', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    expect((await post('/workers/a/elastic', { enabled: false }).expect(200)).body.draining).toBe(true);
    expect((await s.http().get('/workers/a').set(s.authHeader())).body.draining).toBe(true);
    expect((await post('/workers/a/elastic', { enabled: true }).expect(200)).body.draining).toBe(false);
    expect((await s.http().get('/workers/a').set(s.authHeader())).body.draining).toBe(false);
    for (const bad of [{}, { enabled: 'false' }, { enabled: 0 }, { enabled: null }]) {
      const res = await post('/workers/a/elastic', bad).expect(400);
      expect(res.body).toMatchObject({ code: 'invalid_request', field: 'enabled' });
    }
    expect((await s.http().get('/workers/a').set(s.authHeader())).body.draining).toBe(false);
    for (const path of ['/workers/nope/drain', '/workers/nope/undrain', '/workers/..%2Fx/drain']) {
      const res = await post(path).expect(404);
      expect(res.body.code).toBe('not_found');
    }
    expect((await post('/workers/nope/elastic', { enabled: false }).expect(404)).body.code).toBe('not_found');
    const r = s.redis.client();
    expect(await r.smembers(Keys.draining)).toEqual([]);
    await r.quit();
  });
});
