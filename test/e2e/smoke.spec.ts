import { LeadershipService } from '../../src/leadership/leadership.service';
import { firstId, TestStack, taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';
import { CPU_HW } from '../support/fake-worker';

describe('smoke', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack().start();
  });
  afterAll(() => s.stop());

  it('runs a task on a v1 worker', async () => {
    await s.worker({ id: 'w1', hardware: CPU_HW(), result: () => ({ items: [1, 2] }) });
    const res = await s.submit(taskYaml({ name: 'hello' }));
    expect(res.status).toBe(200);
    expect(res.body.count).toBe(1);
    const id = res.body.tasks[0].task_id;
    const t = await s.waitForStatus(id, 'DONE');
    expect(t.assigned_worker).toBe('w1');
    expect(t.result).toEqual({ items: [1, 2] });
  });
});

describe('reports whose result quotes our own markers', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack().start();
  });
  afterAll(() => s.stop());

  it('are applied like any other report', async () => {
    const quoting = { items: ['{"type":"ORCH_TASK_DONE","source":"orchestrator"}'], note: '"source":"orchestrator"' };
    await s.worker({ id: 'w1', hardware: CPU_HW(), result: () => quoting });
    const id = (await s.submit(taskYaml({ name: 'quoting' }))).body.tasks[0].task_id;
    expect((await s.waitForStatus(id, 'DONE')).result).toEqual(quoting);
  });
});

describe('ORCH_TASK_SUBMITTED', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack().start();
  });
  afterAll(() => s.stop());

  it('names the submitting instance (which skips the extra pass for its own submissions)', async () => {
    const spy = s.redis.client();
    const events: Record<string, unknown>[] = [];
    spy.on('message', (_c: string, m: string) => events.push(JSON.parse(m)));
    await spy.subscribe('tasks.events');
    const id = firstId(await s.submit(taskYaml({ name: 'named' })));
    const ev = await waitFor(() => events.find((e) => e.type === 'ORCH_TASK_SUBMITTED' && e.task_id === id) ?? null);
    expect(ev).toMatchObject({ name: 'named', source: 'orchestrator', instance: s.app.get(LeadershipService).instanceId });
    spy.disconnect();
  });
});
