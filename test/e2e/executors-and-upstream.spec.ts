import { DispatchMessage, noExecutorError } from '../../src/contracts/protocol';
import { CPU_HW, FakeV1Worker } from '../support/fake-worker';
import { taskIds as ids, TestStack, taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * A v1 worker (PROTOCOL section 1 and 2) that advertises `env.executors` at registration as our
 * worker does (WORKER_EXECUTORS; null: advertises nothing, as the v1 fleet), records every dispatch
 * addressed to it, and answers each: success, or our worker's "no executor" failure for a type it lacks.
 */
function recordingWorker(url: string, id: string, behaviour: { executors: string[] | null; runs?: (type: string) => boolean }): FakeV1Worker {
  const runs = behaviour.runs ?? ((t: string) => behaviour.executors?.includes(t) ?? true);
  return new FakeV1Worker(url, {
    id,
    hardware: CPU_HW(),
    env: behaviour.executors ? { worker: 'test', executors: behaviour.executors } : { python: '3.11' },
    // What src/agent/task-runner.ts reports for a type it has no executor for.
    behaviour: (msg) => (runs(msg.task_type) ? { result: { ok: true } } : { error: noExecutorError(msg.task_type) }),
  });
}

describe('placement knows executors (issue 12)', () => {
  let s: TestStack;
  const workers: FakeV1Worker[] = [];
  const worker = async (id: string, opts: Parameters<typeof recordingWorker>[2]) => {
    const w = await recordingWorker(s.redis.url, id, opts).start();
    workers.push(w);
    await waitFor(async () => (await s.http().get(`/workers/${id}`).set(s.authHeader())).status === 200, { what: `worker ${id} registered` });
    return w;
  };
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.close();
    await s.stop();
  });

  it('a rag task never goes to a worker without a rag executor; with only such workers it waits, naming rag', async () => {
    const echo = await worker('w-echo', { executors: ['echo', 'inference', 'command'] });
    const rag = await s.submit(taskYaml({ name: 'rag-1', taskType: 'rag' }));
    expect(rag.status).toBe(200);
    const [ragId] = ids(rag);
    const waiting = await waitFor(
      async () => {
        const t = await s.task(ragId);
        return t.unschedulable ? t : null;
      },
      { what: 'the rag task to be unschedulable' },
    );
    expect(waiting).toMatchObject({ status: 'PENDING', retries: 0, unschedulable: 'no registered worker runs task type "rag" (workers advertise: echo, inference, command)' });
    // The echo worker still runs what it advertises.
    const e = await s.submit(taskYaml({ name: 'echo-1', taskType: 'echo' }));
    expect((await s.waitForStatus(ids(e)[0], 'DONE')).assigned_worker).toBe('w-echo');

    // A worker that advertises nothing is a candidate for every type (the v1 fleet). This one has no
    // rag executor after all: its failure costs no retry, and it is not offered rag again.
    const v1 = await worker('w-v1', { executors: null, runs: (t) => t !== 'rag' });
    const refused = await waitFor(
      async () => {
        const t = await s.task(ragId);
        return t.unschedulable?.includes('w-v1') ? t : null;
      },
      { what: 'the rag task to be unschedulable again, naming w-v1' },
    );
    expect(refused.status).toBe('PENDING');
    expect(refused.retries).toBe(0);
    expect(refused.unschedulable).toBe('no registered worker runs task type "rag" (workers advertise: echo, inference, command; reported having none: w-v1)');
    expect(refused.attempts.length).toBeGreaterThanOrEqual(1);
    expect(refused.attempts.every((a: { outcome: string; worker: string }) => a.outcome === 'refused' && a.worker === 'w-v1')).toBe(true);
    expect(v1.received.filter((m) => m.task_type === 'rag').length).toBe(refused.attempts.length);

    // A worker that advertises rag takes it, and every rag task after it.
    const ragWorker = await worker('w-rag', { executors: ['rag'] });
    expect((await s.waitForStatus(ragId, 'DONE')).assigned_worker).toBe('w-rag');
    const more = await s.submit([1, 2, 3, 4].map((i) => taskYaml({ name: `rag-${i + 1}`, taskType: 'rag' })).join('---\n'));
    for (const id of ids(more)) expect((await s.waitForStatus(id, 'DONE')).assigned_worker).toBe('w-rag');
    expect(ragWorker.received.length).toBe(5);

    // Every dispatch the echo worker ever received was a type it advertises.
    expect(echo.received.map((m) => m.task_type)).toEqual(['echo']);
    expect(v1.received.every((m) => m.task_type === 'rag')).toBe(true);
  });
});

describe('stages read upstream results (issue 12)', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  const pipeline = (next: string) => `apiVersion: mloc/v1
kind: Pipeline
metadata: {name: pipe}
spec:
  taskType: echo
  resources: {replicas: 1, hardware: {cpu: 1, memory: 1Gi}}
  stages:
    - name: prev
    - name: next
      spec: ${next}
`;
  const results = (msg: DispatchMessage) => ((msg.task.metadata as { name: string }).name === 'pipe:prev' ? { x: 42, label: 'abc', list: [1, 2] } : { ok: true });

  it('a stage reading ${prev.result.x}: the worker receives the resolved document and _upstreamResults', async () => {
    const w = await s.worker({ id: 'w1', behaviour: 'succeed', result: results });
    const res = await s.submit(pipeline('{value: "${prev.result.x}", text: "n=${prev.result.x}", id: "${prev.task_id}", list: "${prev.result.list}", shell: "echo ${HOME}"}'));
    expect(res.status).toBe(200);
    const [prevId, nextId] = ids(res);
    await s.waitForStatus(nextId, 'DONE');
    const sent = w.received.find((m) => m.task_id === nextId)!;
    expect(sent.task.spec).toMatchObject({
      value: 42,
      text: 'n=42',
      id: prevId,
      list: [1, 2],
      shell: 'echo ${HOME}',
      _upstreamResults: { prev: { x: 42, label: 'abc', list: [1, 2] } },
    });
    // The first stage has no references: it is sent as stored, without _upstreamResults.
    expect(w.received.find((m) => m.task_id === prevId)!.task.spec).not.toHaveProperty('_upstreamResults');
    // The record keeps the document as submitted (a retry resolves it again).
    expect((await s.task(nextId)).task.spec.value).toBe('${prev.result.x}');
  });

  it('a missing path fails the stage with a clear error and no retry; it is never dispatched', async () => {
    const w = await s.worker({ id: 'w1', behaviour: 'succeed', result: results });
    const res = await s.submit(`${pipeline('{value: "${prev.result.nope}"}')}    - name: after\n`);
    const [prevId, nextId, afterId] = ids(res);
    const failed = await s.waitForStatus(nextId, 'FAILED');
    expect(failed).toMatchObject({ error: `\${prev.result.nope}: prev's result has no "nope"`, retries: 0, attempt: 0 });
    expect(failed.attempts).toEqual([]);
    expect((await s.task(afterId)).status).toBe('FAILED');
    expect(w.received.map((m) => m.task_id)).toEqual([prevId]);
  });

  it('a reference naming no upstream stage is refused with the field path, nothing created', async () => {
    const res = await s.submit(pipeline('{value: "${unknown.result.x}"}'));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      field: 'spec.stages[1].spec.value',
      message: 'spec.stages[1].spec.value: ${unknown.result.x} names no stage upstream of this task (upstream stages: prev)',
    });
    expect((await s.http().get('/api/v1/tasks').set(s.authHeader())).body.tasks ?? []).toEqual([]);
  });
});
