import { LivenessService } from '../../src/events/liveness.service';
import { SchedulerService } from '../../src/scheduler/scheduler.service';
import { WorkerIndex } from '../../src/scheduler/worker-index';
import { CPU_HW } from '../support/fake-worker';
import { TestStack, firstId, taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/** The value of one sample line of the Prometheus text format, e.g. `mloc_queue_depth 3`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('GET /metrics', () => {
  // A stack of its own for each test: the counts below start from zero, in any order.
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack({ ORCHESTRATOR_TOKEN: 'metrics-secret' }).start();
  });
  afterEach(() => s.stop());
  const metric = async (name: string) => sample((await s.http().get('/metrics').set(s.authHeader())).text, name) ?? NaN;

  it('needs the bearer token like the API: 401 without one, 403 with a wrong one', async () => {
    expect((await s.http().get('/metrics')).status).toBe(401);
    const wrong = await s.http().get('/metrics').set('Authorization', 'Bearer not-the-secret');
    expect(wrong.status).toBe(403);
    expect(wrong.text).not.toMatch(/mloc_/);
    expect((await s.http().get('/metrics').set(s.authHeader())).status).toBe(200);
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
    // The once-a-second maintenance tick reads the queue too: it is held while we count, so the
    // count is exact whatever the clock does.
    const tick = jest.spyOn(s.app.get(LivenessService), 'tick').mockImplementation(async () => undefined);
    try {
      // One pass sees the queue empty; from then on an IDLE worker alone is no reason to read it.
      await s.app.get(SchedulerService).runPass();
      const before = await metric('mloc_scheduler_queue_reads_total');
      for (let i = 0; i < 10; i++) await w.setStatus('IDLE');
      // Events are handled in arrival order: once a later registration is in the scheduler's index,
      // every IDLE above was handled (and any pass one asked for has started).
      await s.worker({ id: 'probe', hardware: CPU_HW() });
      await waitFor(
        () =>
          s.app
            .get(WorkerIndex)
            .snapshot(Date.now())
            .some((v) => v.id === 'probe' && v.status === 'IDLE'),
        { what: 'probe in the index' },
      );
      expect((await metric('mloc_scheduler_queue_reads_total')) - before).toBe(0);
    } finally {
      tick.mockRestore();
    }
    // And a task that arrives is still placed at once.
    const id = firstId(await s.submit(taskYaml({ name: 'after-idle' })));
    expect((await s.waitForStatus(id, 'DONE')).status).toBe('DONE');
  });

  it('a one-task submission is dispatched by its own submit script while nothing else is queued, else by a pass', async () => {
    await s.worker({ id: 'idle-a', hardware: CPU_HW() });
    await s.worker({ id: 'idle-b', hardware: CPU_HW() });
    const direct0 = await metric('mloc_scheduler_submit_dispatches_total');
    const first = (await s.submit(taskYaml({ name: 'direct-1' }))).body.tasks[0];
    expect(first.status).toBe('DISPATCHED');
    expect(['idle-a', 'idle-b']).toContain(first.assigned_worker);
    expect((await s.task(first.task_id)).assigned_worker).toBe(first.assigned_worker);
    expect(await metric('mloc_scheduler_submit_dispatches_total')).toBe(direct0 + 1);
    // The first worker finishes ('succeed'); wait until it is idle again in the scheduler's eyes.
    await s.waitForStatus(first.task_id, 'DONE');

    // A task no worker here can run (a GPU) waits in the queue; the next submission then goes the
    // usual way (it might be owed the worker), and a pass dispatches it, in the same answer.
    const waits = firstId(await s.submit(taskYaml({ name: 'needs-gpu', gpu: '{type: any, count: 1}' })));
    const second = (await s.submit(taskYaml({ name: 'direct-2' }))).body.tasks[0];
    expect(second.status).toBe('DISPATCHED');
    expect(['idle-a', 'idle-b']).toContain(second.assigned_worker);
    expect((await s.task(second.task_id)).assigned_worker).toBe(second.assigned_worker);
    expect(await metric('mloc_scheduler_submit_dispatches_total')).toBe(direct0 + 1);
    expect((await s.task(waits)).status).toBe('PENDING');
  });
});
