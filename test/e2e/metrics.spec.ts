import { CPU_HW } from '../support/fake-worker';
import { TestStack, firstId, taskYaml } from '../support/test-app';

/** The value of one sample line of the Prometheus text format, e.g. `mloc_queue_depth 3`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('GET /metrics', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack({ ORCHESTRATOR_TOKEN: 'metrics-secret' }).start();
  });
  afterAll(() => s.stop());

  it('needs the bearer token like the API', async () => {
    expect((await s.http().get('/metrics')).status).toBe(401);
  });

  it('counts submissions, placements and dispatches, and shows queue and fleet', async () => {
    const scrape = async () => {
      const res = await s.http().get('/metrics').set(s.authHeader());
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      return res.text;
    };
    const before = await scrape();
    expect(sample(before, 'mloc_scheduler_placement_seconds_count')).toBe(0);
    expect(sample(before, 'mloc_workers_schedulable')).toBe(0);

    // No worker: the task waits in the queue.
    const queued = firstId(await s.submit(taskYaml({ name: 'waits' })));
    const waiting = await scrape();
    expect(sample(waiting, 'mloc_tasks_submitted_total')).toBe(1);
    expect(sample(waiting, 'mloc_queue_depth')).toBe(1);

    await s.worker({ id: 'm1', hardware: CPU_HW() });
    await s.waitForStatus(queued, 'DONE');
    const after = await scrape();
    expect(sample(after, 'mloc_scheduler_placement_seconds_count')).toBe(1);
    expect(sample(after, 'mloc_scheduler_placement_seconds_sum')).toBeGreaterThan(0);
    expect(after).toMatch(/^mloc_tasks_dispatched_total\{strategy="(best-fit|first-fit)"\} 1$/m);
    expect(sample(after, 'mloc_queue_depth')).toBe(0);
    expect(sample(after, 'mloc_workers_schedulable')).toBe(1);
    // Process metrics come with it.
    expect(sample(after, 'mloc_process_resident_memory_bytes')).toBeGreaterThan(0);
  });
  it('a worker turning idle while the queue is empty costs no queue read', async () => {
    const w = await s.worker({ id: 'idler', hardware: CPU_HW() });
    const reads = async () => sample((await s.http().get('/metrics').set(s.authHeader())).text, 'mloc_scheduler_queue_reads_total') ?? NaN;
    await new Promise((r) => setTimeout(r, 300));
    const before = await reads();
    // Spaced out so that each event would make a pass of its own (kicks within one tick coalesce).
    for (let i = 0; i < 10; i++) {
      await w.setStatus('IDLE');
      await new Promise((r) => setTimeout(r, 40));
    }
    // At most the once-a-second maintenance tick's pass; without the empty-queue shortcut, ten.
    expect((await reads()) - before).toBeLessThanOrEqual(1);
    // And a task that arrives is still placed at once.
    const id = firstId(await s.submit(taskYaml({ name: 'after-idle' })));
    expect((await s.waitForStatus(id, 'DONE')).status).toBe('DONE');
  });

  it('a one-task submission is dispatched by its own submit script while nothing else is queued, else by a pass', async () => {
    // Idle CPU workers of the tests above are still registered.
    const metric = async (name: string) => sample((await s.http().get('/metrics').set(s.authHeader())).text, name) ?? NaN;
    const direct0 = await metric('mloc_scheduler_submit_dispatches_total');
    const first = (await s.submit(taskYaml({ name: 'direct-1' }))).body.tasks[0];
    expect(first.status).toBe('DISPATCHED');
    expect(first.assigned_worker).toBeTruthy();
    expect(await metric('mloc_scheduler_submit_dispatches_total')).toBe(direct0 + 1);

    // A task no worker here can run (a GPU) waits in the queue; the next submission then goes the
    // usual way (it might be owed the worker), and a pass dispatches it, in the same answer.
    const waits = firstId(await s.submit(taskYaml({ name: 'needs-gpu', gpu: '{type: any, count: 1}' })));
    const second = (await s.submit(taskYaml({ name: 'direct-2' }))).body.tasks[0];
    expect(second.status).toBe('DISPATCHED');
    expect(second.assigned_worker).toBeTruthy();
    expect(await metric('mloc_scheduler_submit_dispatches_total')).toBe(direct0 + 1);
    expect((await s.task(waits)).status).toBe('PENDING');
  });
});
