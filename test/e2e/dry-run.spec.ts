import { Redis } from 'ioredis';
import { Keys } from '../../src/redis/keys';
import { CPU_HW, GPU_HW } from '../support/fake-worker';
import { taskIds as ids, TestStack, taskYaml } from '../support/test-app';

/** Every key and its value's digest: what a dry run must leave as it was. */
async function keySpace(r: Redis): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) out.set(k, ((await r.dumpBuffer(k)) ?? Buffer.alloc(0)).toString('hex'));
  } while (cursor !== '0');
  return out;
}

describe('unschedulable in the submit answer, and ?dryRun=true', () => {
  let s: TestStack;
  let r: Redis;
  beforeEach(async () => {
    s = await new TestStack().start();
    r = s.redis.client();
  });
  afterEach(async () => {
    await r.quit();
    await s.stop();
  });

  const h100 = (name: string, extra = '') => taskYaml({ name, gpu: '{type: h100, count: 1}', extraSpec: extra || undefined });

  it('the submit answer says unschedulable on each task no registered worker could run, waiting ones included', async () => {
    await s.worker({ id: 'cpu', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    const pipeline = `${taskYaml({ name: 'p' })}  stages: [{name: prep}, {name: train, spec: {resources: {hardware: {gpu: {type: h100, count: 1}}}}}, {name: post}]\n`;
    const res = await s.submit([h100('alone'), taskYaml({ name: 'fits' }), pipeline].join('---\n')).expect(200);
    const byName = new Map(res.body.tasks.map((t: { name: string }) => [t.name, t]));
    expect(byName.get('alone')).toMatchObject({ status: 'PENDING', unschedulable: expect.stringMatching(/^no registered worker fits: cpu: needs 1 GPU\(s\) matching "h100"/) });
    expect(byName.get('fits')).toMatchObject({ status: 'DISPATCHED', unschedulable: null });
    // Waits on prep, and could never run anyway: said now, not when prep is done.
    expect(byName.get('p:train')).toMatchObject({ status: 'PENDING', unschedulable: expect.stringContaining('needs 1 GPU(s) matching "h100"') });
    expect((byName.get('p:train') as { waiting_on: string[] }).waiting_on).toHaveLength(1);
    // Waits too, but the CPU worker fits it.
    expect(byName.get('p:post')).toMatchObject({ status: 'PENDING', unschedulable: null });
    expect(byName.get('p:prep')).toMatchObject({ unschedulable: null });
  });

  it('dryRun validates and explains placement, and writes nothing', async () => {
    await s.worker({ id: 'cpu', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    await s.worker({ id: 'gpu', hardware: GPU_HW(['NVIDIA L4']), behaviour: 'hold' });
    const busy = ids(await s.submit(taskYaml({ name: 'busy', cpu: 8, memory: '32Gi' })).expect(200))[0];
    expect((await s.task(busy)).assigned_worker).toBe('cpu');
    await s.waitForStatus(busy, 'RUNNING');
    const pipeline = `${taskYaml({ name: 'p' })}  stages: [{name: a}, {name: b}]\n`;
    const text = [taskYaml({ name: 'now' }), taskYaml({ name: 'later' }), h100('never'), pipeline].join('---\n');
    const before = await keySpace(r);
    const res = await s.http().post('/api/v1/tasks?dryRun=true').set(s.authHeader()).set('Content-Type', 'text/yaml').send(text).expect(200);
    expect(await keySpace(r)).toEqual(before);
    expect(res.body).toMatchObject({ ok: true, dry_run: true, count: 5 });
    const [now, later, never, a, b] = res.body.tasks;
    // The idle GPU worker is the only one free: the first task would take it, the second would queue.
    expect(now).toMatchObject({ name: 'now', outcome: 'dispatch', workers: ['gpu'], strategy: expect.any(String), reason: expect.stringContaining('ratio'), unschedulable: null });
    expect(later).toMatchObject({ name: 'later', outcome: 'queue', workers: [], strategy: null, unschedulable: null });
    expect(never).toMatchObject({ name: 'never', outcome: 'unschedulable', unschedulable: expect.stringContaining('h100') });
    expect(a).toMatchObject({ name: 'p:a', outcome: 'queue', waiting_on: [] });
    expect(b).toMatchObject({ name: 'p:b', outcome: 'wait', waiting_on: ['p:a'] });

    // Invalid documents and unknown dependencies are refused as a submission is, still writing nothing.
    const bad = await s
      .http()
      .post('/api/v1/tasks?dryRun=true')
      .set(s.authHeader())
      .set('Content-Type', 'text/yaml')
      .send(taskYaml({ cpu: 'lots' }))
      .expect(400);
    expect(bad.body.field).toBe('spec.resources.hardware.cpu');
    const unknownDep = taskYaml({ extraSpec: 'dependsOn: [00000000-0000-4000-8000-000000000000]' });
    expect((await s.http().post('/api/v1/tasks?dryRun=true').set(s.authHeader()).set('Content-Type', 'text/yaml').send(unknownDep).expect(400)).body.field).toBe('spec.dependsOn');
    // An Idempotency-Key is not taken by a dry run.
    await s.http().post('/api/v1/tasks?dryRun=true').set(s.authHeader()).set('Idempotency-Key', 'k').set('Content-Type', 'text/yaml').send(text).expect(200);
    expect(await keySpace(r)).toEqual(before);
    await s.http().post('/api/v1/tasks?dryRun=maybe').set(s.authHeader()).set('Content-Type', 'text/yaml').send(text).expect(400);
    // dryRun=false is a submission.
    await s.http().post('/api/v1/tasks?dryRun=false').set(s.authHeader()).set('Content-Type', 'text/yaml').send(taskYaml()).expect(200);
    expect(await r.zcard(Keys.allTasks)).toBe(2);
  });
});
