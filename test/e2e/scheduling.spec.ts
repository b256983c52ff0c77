import { Keys } from '../../src/redis/keys';
import { CPU_HW, GPU_HW } from '../support/fake-worker';
import { example, taskIds as ids, TestStack, taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';

describe('resource matching and strategies', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  it('best-fit puts a CPU task on the CPU machine, not the GPU one, and records why', async () => {
    await s.worker({ id: 'gpu', hardware: GPU_HW(['NVIDIA A100-SXM4-80GB'], 32, 128), behaviour: 'hold' });
    await s.worker({ id: 'cpu', hardware: CPU_HW(32, 128), behaviour: 'hold' });
    await s.worker({ id: 'small', hardware: CPU_HW(4, 8), behaviour: 'hold' });
    const res = await s.submit(taskYaml({ cpu: 8, memory: '32Gi' }));
    expect(res.body.tasks[0].assigned_worker).toBe('cpu');
    const t = await s.task(ids(res)[0]);
    expect(t.strategy).toBe('best-fit');
    expect(t.reason).toMatch(/ratio/);
  });

  it('best-fit picks the tightest GPU machine; GPU type is a case-insensitive substring', async () => {
    await s.worker({ id: 'a100x8', hardware: GPU_HW(Array(8).fill('NVIDIA A100-SXM4-80GB')), behaviour: 'hold' });
    await s.worker({ id: 'a100x2', hardware: GPU_HW(['NVIDIA A100-SXM4-80GB', 'NVIDIA A100-SXM4-80GB']), behaviour: 'hold' });
    await s.worker({ id: 'l4x2', hardware: GPU_HW(['NVIDIA L4', 'NVIDIA L4']), behaviour: 'hold' });
    const res = await s.submit(taskYaml({ cpu: 4, memory: '16Gi', gpu: '{type: A100, count: 2}' }));
    expect(res.body.tasks[0].assigned_worker).toBe('a100x2');
  });

  it.each([
    ['16GB fits a 16 GiB worker', '16GB', 'm16'],
    ['16Gi fits a 16 GiB worker', '16Gi', 'm16'],
    ['17Gi needs the 32 GiB worker', '17Gi', 'm32'],
    ['plain bytes', String(20 * 2 ** 30), 'm32'],
  ])('memory units: %s', async (_title, memory, expected) => {
    await s.worker({ id: 'm16', hardware: CPU_HW(4, 16), behaviour: 'hold' });
    await s.worker({ id: 'm32', hardware: CPU_HW(4, 32), behaviour: 'hold' });
    const res = await s.submit(taskYaml({ cpu: 2, memory }));
    expect(res.body.tasks[0].assigned_worker).toBe(expected);
  });

  it('enforce_cpu never lands on a GPU worker; tags are required', async () => {
    await s.worker({ id: 'gpu', hardware: GPU_HW(['NVIDIA L4'], 64, 256), behaviour: 'hold', tags: ['eu'] });
    const cpuOnly = await s.submit(taskYaml({ name: 'cpu-only', extraSpec: 'enforce_cpu: true' }));
    expect(cpuOnly.body.tasks[0].assigned_worker).toBeNull();
    const tagged = await s.submit(taskYaml({ name: 'tagged' }).replace('    replicas: 1', '    replicas: 1\n    tags: [us]'));
    expect(tagged.body.tasks[0].assigned_worker).toBeNull();
    await s.worker({ id: 'cpu', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    expect((await s.waitForStatus(ids(cpuOnly)[0], 'RUNNING')).assigned_worker).toBe('cpu');
    await s.worker({ id: 'us', hardware: CPU_HW(8, 32), behaviour: 'hold', tags: ['us'] });
    expect((await s.waitForStatus(ids(tagged)[0], 'RUNNING')).assigned_worker).toBe('us');
  });

  it.each([
    // Two CPU workers weigh 1.2 against a demand of one task.
    ['first-fit when capacity is scarce (ratio <= LOW_AVAIL_RATIO): the earliest-registered worker', '1.2', 'first-fit', 'big'],
    ['best-fit above LOW_AVAIL_RATIO, same workers: the tightest one', '0.6', 'best-fit', 'small'],
  ])('%s', async (_title, lowAvailRatio, strategy, expected) => {
    await s.closeApp(s.app);
    s.app = await s.newApp({ LOW_AVAIL_RATIO: lowAvailRatio });
    // Registered first, and a loose fit: only first-fit picks it.
    await s.worker({ id: 'big', hardware: CPU_HW(32, 128), behaviour: 'hold' });
    await s.worker({ id: 'small', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    const res = await s.submit(taskYaml());
    const t = await s.waitForStatus(ids(res)[0], 'RUNNING');
    expect([t.strategy, t.assigned_worker]).toEqual([strategy, expected]);
    expect(t.reason).toMatch(/^ratio 1\.20 /);
  });

  it('a task no worker can run waits as PENDING with an unschedulable reason, and runs when one registers', async () => {
    await s.worker({ id: 'cpu', hardware: CPU_HW(8, 32) });
    const res = await s.submit(taskYaml({ gpu: '{type: h100, count: 1}' }));
    const id = ids(res)[0];
    const waiting = await waitFor(async () => {
      const t = await s.task(id);
      return t.unschedulable ? t : null;
    });
    expect(waiting.status).toBe('PENDING');
    expect(waiting.unschedulable).toMatch(/cpu/);
    await s.worker({ id: 'h100', hardware: GPU_HW(['NVIDIA H100 80GB HBM3']) });
    const done = await s.waitForStatus(id, 'DONE');
    expect(done.assigned_worker).toBe('h100');
    expect(done.unschedulable).toBeNull();
  });

  it('an idle worker gets a task it fits from behind many it does not fit, in the same pass', async () => {
    await s.worker({ id: 'small', hardware: CPU_HW(4, 16), behaviour: 'hold' });
    const big = Array.from({ length: 40 }, (_, i) => taskYaml({ name: `big-${i}`, cpu: 32 }));
    const res = await s.submit([...big, taskYaml({ name: 'fits' })].join('---\n'));
    expect(res.status).toBe(200);
    // The answer shows the state after the submission's scheduling pass.
    const byName = Object.fromEntries(res.body.tasks.map((t: { name: string; status: string }) => [t.name, t.status]));
    expect(byName['fits']).toBe('DISPATCHED');
    expect(byName['big-0']).toBe('PENDING');
  });

  it('queues by priority, then age, while the only worker is busy', async () => {
    const w = await s.worker({ id: 'w', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    const first = ids(await s.submit(taskYaml({ name: 'first' })))[0];
    await w.waitForDispatch(1);
    const low = ids(await s.submit(taskYaml({ name: 'low' })))[0];
    const high = ids(await s.submit(taskYaml({ name: 'high', extraSpec: 'priority: 5' })))[0];
    await w.succeed(first);
    expect((await w.waitForDispatch(2)).task_id).toBe(high);
    await w.succeed(high);
    expect((await w.waitForDispatch(3)).task_id).toBe(low);
  });
});

describe('pipelines, graphs and dependencies', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack().start();
    await s.worker({ id: 'big', hardware: GPU_HW(['NVIDIA A100-SXM4-80GB', 'NVIDIA A100-SXM4-80GB'], 64, 256) });
  });
  afterAll(() => s.stop());

  it('runs the stages of a pipeline strictly in order, named <base>:<stage>', async () => {
    const res = await s.submit(example('pipeline-stages.yaml'));
    expect(res.body.tasks.map((t: { name: string }) => t.name)).toEqual(['draft-refine-format:draft', 'draft-refine-format:refine', 'draft-refine-format:format']);
    const [a, b, c] = ids(res);
    expect(res.body.tasks[1].waiting_on).toEqual([a]);
    const done = await Promise.all([a, b, c].map((id) => s.waitForStatus(id, 'DONE')));
    expect(done[0].finished_at <= done[1].dispatched_at).toBe(true);
    expect(done[1].finished_at <= done[2].dispatched_at).toBe(true);
    expect(done[1].task.spec.inference.system_prompt).toBe('Improve the draft into a clear answer.');
    expect(done[1].task.spec.inference.max_tokens).toBe(128);
    expect(done[1].task.spec.stages).toBeUndefined();
  });

  it('runs a graph: a node waits for all of its dependencies', async () => {
    const res = await s.submit(example('dag-graph.yaml'));
    const byName = Object.fromEntries(res.body.tasks.map((t: { name: string; task_id: string }) => [t.name.split(':')[1], t.task_id]));
    const ev = await s.task(byName.evaluate);
    expect(ev.depends_on.sort()).toEqual([byName['train-lora'], byName['train-full']].sort());
    const done = await s.waitForStatus(byName.evaluate, 'DONE');
    for (const dep of ['train-lora', 'train-full']) {
      const t = await s.task(byName[dep]);
      expect(t.finished_at <= done.dispatched_at).toBe(true);
    }
  });

  it('dependsOn waits on a task from an earlier submission', async () => {
    const first = ids(await s.submit(taskYaml({ name: 'tiny' }).replace('    replicas: 1', '    replicas: 1\n    tags: [nobody-has-it]')));
    expect(first).toHaveLength(1);
    // `tiny` needs the tag nobody has: it waits, and so does its dependent.
    const second = await s.submit(taskYaml({ name: 'after', extraSpec: `dependsOn: [${first[0]}]` }));
    expect(second.body.tasks[0].waiting_on).toEqual([first[0]]);
    expect(second.body.tasks[0].status).toBe('PENDING');
    await s.http().post(`/api/v1/tasks/${first[0]}/cancel`);
    const after = await s.waitForStatus(ids(second)[0], 'CANCELLED');
    expect(after.error).toContain(first[0]);
  });
});

describe('retries and failure propagation', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  it('retries a failed task on a different worker', async () => {
    // Registered first, `bad` wins the tie and gets the first attempt.
    const bad = await s.worker({ id: 'bad', hardware: CPU_HW(8, 32), behaviour: 'fail', error: 'CUDA out of memory' });
    await s.worker({ id: 'good', hardware: CPU_HW(8, 32) });
    const id = ids(await s.submit(taskYaml()))[0];
    const t = await s.waitForStatus(id, 'DONE');
    expect(t.assigned_worker).toBe('good');
    expect(t.retries).toBe(1);
    expect(t.attempts.map((a: { worker: string; outcome: string }) => [a.worker, a.outcome])).toEqual([
      ['bad', 'failed'],
      ['good', 'succeeded'],
    ]);
    expect(t.attempts[0].error).toBe('CUDA out of memory');
    expect(bad.received).toHaveLength(1);
  });

  it('fails for good after maxRetries, and everything downstream ends naming the dependency', async () => {
    await s.worker({ id: 'w1', hardware: CPU_HW(8, 32), behaviour: 'fail', error: 'e1' });
    await s.worker({ id: 'w2', hardware: CPU_HW(8, 32), behaviour: 'fail', error: 'e2' });
    const doc = taskYaml({ name: 'p', extraSpec: 'retry: {maxRetries: 2}\nstages: [{name: one}, {name: two}, {name: three}]' });
    const [one, two, three] = ids(await s.submit(doc));
    const t = await s.waitForStatus(one, 'FAILED');
    expect(t.retries).toBe(2);
    expect(t.attempts).toHaveLength(3);
    expect(new Set(t.attempts.map((a: { worker: string }) => a.worker))).toEqual(new Set(['w1', 'w2']));
    for (const id of [two, three]) {
      const d = await s.waitForStatus(id, 'FAILED');
      expect(d.error).toContain(one);
      expect(d.attempts).toHaveLength(0);
    }
    const failed = await s.http().get('/api/v1/tasks?status=FAILED');
    expect(failed.body.map((x: { task_id: string }) => x.task_id).sort()).toEqual([one, two, three].sort());
  });

  it.each([
    ['backoffSec 1: the retry waits a second', 'retry: {maxRetries: 1, backoffSec: 1}', {}],
    ['the delay is capped by RETRY_BACKOFF_CAP_SEC', 'retry: {maxRetries: 1, backoffSec: 3600}', { RETRY_BACKOFF_CAP_SEC: '1' }],
  ])('%s', async (_title, retry, env) => {
    await s.closeApp(s.app);
    s.app = await s.newApp(env as Record<string, string>);
    const w = await s.worker({ id: 'w1', hardware: CPU_HW(8, 32), behaviour: 'hold', heartbeatIntervalMs: 500 });
    const id = ids(await s.submit(taskYaml({ extraSpec: retry })))[0];
    await w.waitForDispatch(1);
    const redis = s.redis.client();
    try {
      await w.fail(id, 'transient');
      // Held back in the delayed set, due one second after the failed attempt ended, not queued.
      const dueMs = Number(await waitFor(() => redis.zscore(Keys.delayed, id), { what: 'the retry in the delayed set' }));
      const failed = await s.task(id);
      expect(failed.status).toBe('PENDING');
      expect(failed.attempts).toHaveLength(1);
      expect(dueMs - Date.parse(failed.attempts[0].ended_at)).toBe(1000);
      expect(await redis.zscore(Keys.queue, id)).toBeNull();
      // Then dispatched again, never before it was due (both times are the orchestrator's).
      expect((await w.waitForDispatch(2)).attempt).toBe(2);
      const again = await s.task(id);
      expect(Date.parse(again.dispatched_at)).toBeGreaterThanOrEqual(dueMs);
      expect(await redis.zscore(Keys.delayed, id)).toBeNull();
    } finally {
      redis.disconnect();
    }
  });

  it('MAX_RETRIES is the default limit', async () => {
    await s.closeApp(s.app);
    s.app = await s.newApp({ MAX_RETRIES: '0' });
    await s.worker({ id: 'w1', hardware: CPU_HW(8, 32), behaviour: 'fail' });
    const res = await s.submit(taskYaml());
    expect(res.body.tasks[0].max_retries).toBe(0);
    const t = await s.waitForStatus(ids(res)[0], 'FAILED');
    expect(t.attempts).toHaveLength(1);
  });
});

describe('the submission answer', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  // The answer is built from the submit script's result and the pass's claims, not read back:
  // it must say exactly what the stored tasks say.
  const summary = (t: Record<string, any>) => ({
    task_id: t.task_id,
    name: t.name,
    status: t.status,
    assigned_worker: t.assigned_worker,
    topic: t.topic,
    waiting_on: t.waiting_on,
    retries: t.retries,
    max_retries: t.max_retries,
  });

  it('shows each task as the first pass left it: dispatched with its worker, waiting with its dependencies, ended with its dependency', async () => {
    // 'ignore': the workers never acknowledge, so the tasks stay DISPATCHED while we compare.
    await s.worker({ id: 'w1', hardware: CPU_HW(8, 32), behaviour: 'ignore' });
    const cancelled = ids(await s.submit(taskYaml({ name: 'doomed', cpu: 64 })))[0];
    expect((await s.http().post(`/api/v1/tasks/${cancelled}/cancel`).set(s.authHeader())).status).toBe(200);
    const res = await s.submit(
      [example('pipeline-stages.yaml'), taskYaml({ name: 'orphan', extraSpec: `dependsOn: [${cancelled}]` }), taskYaml({ name: 'too-big', cpu: 64 })].join('\n---\n'),
    );
    expect(res.status).toBe(200);
    const tasks = res.body.tasks as Record<string, any>[];
    expect(tasks.map((t) => [t.name, t.status, t.assigned_worker])).toEqual([
      ['draft-refine-format:draft', 'DISPATCHED', 'w1'],
      ['draft-refine-format:refine', 'PENDING', null],
      ['draft-refine-format:format', 'PENDING', null],
      ['orphan', 'CANCELLED', null],
      ['too-big', 'PENDING', null],
    ]);
    expect(tasks[1].waiting_on).toEqual([tasks[0].task_id]);
    for (const t of tasks) expect(summary(t)).toEqual(summary(await s.task(t.task_id)));
  });

  it('shows a fanned-out parent RUNNING on MULTI', async () => {
    for (let i = 0; i < 2; i++) await s.worker({ id: `g${i}`, hardware: GPU_HW(['NVIDIA L4']), behaviour: 'ignore' });
    const res = await s.submit(taskYaml({ name: 'sharded', taskType: 'inference', gpu: '{type: any, count: 1}', extraSpec: 'parallel: {enabled: true, max_shards: 2}' }));
    expect(res.body.tasks).toHaveLength(1);
    expect(res.body.tasks[0]).toMatchObject({ status: 'RUNNING', assigned_worker: 'MULTI' });
    const parent = await s.task(res.body.tasks[0].task_id);
    expect(summary(res.body.tasks[0])).toEqual(summary(parent));
    expect(parent.children).toHaveLength(2);
  });
});

describe('data-parallel shards', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  const shardedDoc = (extra: string) =>
    taskYaml({ name: 'sharded', taskType: 'inference', gpu: '{type: any, count: 1}', extraSpec: `parallel: {enabled: true, max_shards: 4}\n${extra}` });

  it('fans out over idle GPU workers, carves the split, and aggregates results in shard order', async () => {
    for (let i = 0; i < 4; i++) {
      await s.worker({
        id: `g${i}`,
        hardware: GPU_HW(['NVIDIA L4']),
        result: (m) => ({ items: [(m.task.spec as { data: { split: string } }).data.split], usage: { prompt_tokens: 10, completion_tokens: 1 }, model: 'm' }),
      });
    }
    const res = await s.submit(shardedDoc('data: {type: dataset, url: openai/gsm8k, split: "train[:10%]"}'));
    const parent = await s.waitForStatus(ids(res)[0], 'DONE');
    expect(parent.assigned_worker).toBe('MULTI');
    expect(parent.strategy).toBe('data-parallel');
    expect(parent.children).toHaveLength(4);
    expect(parent.result.merged.items).toEqual(['train[0%:2.5%]', 'train[2.5%:5%]', 'train[5%:7.5%]', 'train[7.5%:10%]']);
    expect(parent.result.merged.usage).toEqual({ prompt_tokens: 40, completion_tokens: 4 });
    expect(parent.result.shards).toHaveLength(4);
    const child = await s.task(parent.children[1]);
    expect(child).toMatchObject({ parent_id: parent.task_id, shard_index: 1, shard_total: 4, status: 'DONE' });
    expect(child.task.spec.shard).toEqual({ index: 1, total: 4, parent_task_id: parent.task_id });
  });

  it('carves inline prompts into contiguous chunks; dependents wait for the aggregate', async () => {
    for (let i = 0; i < 3; i++) {
      await s.worker({ id: `g${i}`, hardware: GPU_HW(['NVIDIA L4']), result: (m) => ({ items: (m.task.spec as { data: { prompts: string[] } }).data.prompts }) });
    }
    const prompts = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const doc = shardedDoc(`data: {prompts: ${JSON.stringify(prompts)}}\nstages: [{name: gen}, {name: post, spec: {parallel: {enabled: false}}}]`);
    const [gen, post] = ids(await s.submit(doc));
    const parent = await s.waitForStatus(gen, 'DONE');
    expect(parent.children).toHaveLength(3);
    expect(parent.result.merged.items).toEqual(prompts);
    const after = await s.waitForStatus(post, 'DONE');
    expect(after.dispatched_at >= parent.finished_at).toBe(true);
  });

  it('a shard that fails for good fails the parent and cancels its siblings', async () => {
    await s.worker({ id: 'g0', hardware: GPU_HW(['NVIDIA L4']), behaviour: 'hold' });
    const bad = await s.worker({ id: 'g1', hardware: GPU_HW(['NVIDIA L4']), behaviour: 'hold' });
    const res = await s.submit(shardedDoc('retry: {maxRetries: 0}\ndata: {prompts: [x, y]}'));
    const parentId = ids(res)[0];
    const msg = await bad.waitForDispatch(1);
    await bad.fail(msg.task_id, 'shard exploded');
    const parent = await s.waitForStatus(parentId, 'FAILED');
    expect(parent.error).toMatch(/shard exploded/);
    const statuses = await Promise.all(parent.children.map(async (c: string) => (await s.task(c)).status));
    expect(statuses.sort()).toEqual(['CANCELLED', 'FAILED']);
  });
});
