import { CPU_HW, GPU_HW } from '../support/fake-worker';
import { example, exampleFiles, TestStack, taskYaml } from '../support/test-app';

describe('HTTP API without a token', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack({ MAX_TASK_BYTES: '4096' }).start();
  });
  afterAll(() => s.stop());

  it('GET /healthz answers ok', async () => {
    const res = await s.http().get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true });
  });

  it.each(exampleFiles())('accepts the example %s', async (file) => {
    const res = await s.submit(example(file));
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(true);
    expect(res.body.count).toBe(res.body.tasks.length);
    for (const t of res.body.tasks) {
      expect(Object.keys(t).sort()).toEqual(['assigned_worker', 'max_retries', 'name', 'retries', 'status', 'task_id', 'topic', 'unschedulable', 'waiting_on'].sort());
      expect(t.topic).toBe('tasks');
    }
  });

  it.each([
    ['alias-bomb.yaml', /alias/i],
    ['cycle.yaml', /cycle/i],
    ['gpu-without-count.yaml', /Missing required field: spec\.resources\.hardware\.gpu\.count/],
    ['missing-memory.yaml', /Missing required field: spec\.resources\.hardware\.memory/],
  ])('refuses the bad example %s with 400 and leaves nothing behind', async (file, message) => {
    const before = (await s.http().get('/api/v1/tasks')).body.length;
    const res = await s.submit(example(`bad/${file}`));
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(message);
    expect(res.body.statusCode).toBe(400);
    expect((await s.http().get('/api/v1/tasks')).body.length).toBe(before);
  });

  it('every bad example is covered above', () => {
    expect(exampleFiles('bad')).toEqual(['alias-bomb.yaml', 'cycle.yaml', 'gpu-without-count.yaml', 'missing-memory.yaml']);
  });

  it('names the field path of a bad value', async () => {
    const res = await s.submit(taskYaml({ memory: 'lots' }));
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('spec.resources.hardware.memory');
    expect(res.body.message).toContain('spec.resources.hardware.memory');
  });

  it('accepts application/x-yaml and JSON {"yaml": ...}', async () => {
    const a = await s
      .http()
      .post('/api/v1/tasks')
      .set('Content-Type', 'application/x-yaml')
      .send(taskYaml({ name: 'xy' }));
    expect(a.status).toBe(200);
    const b = await s
      .http()
      .post('/api/v1/tasks')
      .send({ yaml: taskYaml({ name: 'js' }) });
    expect(b.status).toBe(200);
    expect(b.body.tasks[0].name).toBe('js');
  });

  it('refuses a JSON body without yaml (400), malformed JSON (400), another media type (415)', async () => {
    expect((await s.http().post('/api/v1/tasks').send({ doc: 1 })).status).toBe(400);
    const bad = await s.http().post('/api/v1/tasks').set('Content-Type', 'application/json').send('{"yaml":');
    expect(bad.status).toBe(400);
    const other = await s.http().post('/api/v1/tasks').set('Content-Type', 'application/xml').send('<a/>');
    expect(other.status).toBe(415);
  });

  it('answers 413 beyond MAX_TASK_BYTES', async () => {
    const big = taskYaml({ name: 'big' }) + `  annotations: "${'x'.repeat(5000)}"\n`;
    const res = await s.submit(big);
    expect(res.status).toBe(413);
    expect(res.body.message).toMatch(/MAX_TASK_BYTES/);
  });

  it('refuses an unknown dependsOn id with 400 and creates nothing', async () => {
    const before = (await s.http().get('/api/v1/tasks')).body.length;
    const res = await s.submit(taskYaml({ name: 'dep', extraSpec: 'dependsOn: [no-such-task]' }));
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/no-such-task/);
    expect((await s.http().get('/api/v1/tasks')).body.length).toBe(before);
  });

  it('GET /api/v1/tasks/{id} returns a record and 404 for an unknown id', async () => {
    const id = (await s.submit(taskYaml({ name: 'rec', owner: 'zoe' }))).body.tasks[0].task_id;
    const t = await s.task(id);
    expect(t).toMatchObject({
      task_id: id,
      name: 'rec',
      owner: 'zoe',
      status: 'PENDING',
      topic: 'tasks',
      retries: 0,
      max_retries: 3,
      error: null,
      parent_id: null,
      waiting_on: [],
    });
    expect(t.task.metadata.name).toBe('rec');
    expect(typeof t.submitted_at).toBe('string');
    const missing = await s.http().get('/api/v1/tasks/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/nope/);
  });

  it('lists newest first, filters by status, owner and name, and pages with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await s.submit(taskYaml({ name: `page-${i}`, owner: 'pager' }))).body.tasks[0].task_id);
    const all = await s.http().get('/api/v1/tasks?owner=pager');
    expect(all.body.map((t: { task_id: string }) => t.task_id)).toEqual([...ids].reverse());
    const p1 = await s.http().get('/api/v1/tasks?owner=pager&limit=2');
    expect(p1.body.map((t: { name: string }) => t.name)).toEqual(['page-4', 'page-3']);
    const cursor = p1.headers['x-next-cursor'];
    expect(cursor).toBeDefined();
    const p2 = await s.http().get(`/api/v1/tasks?owner=pager&limit=2&cursor=${cursor}`);
    expect(p2.body.map((t: { name: string }) => t.name)).toEqual(['page-2', 'page-1']);
    const byName = await s.http().get('/api/v1/tasks?name=age-3');
    expect(byName.body.map((t: { name: string }) => t.name)).toEqual(['page-3']);
    const pending = await s.http().get('/api/v1/tasks?status=pending&owner=pager');
    expect(pending.body).toHaveLength(5);
    expect((await s.http().get('/api/v1/tasks?status=DONE&owner=pager')).body).toHaveLength(0);
    expect((await s.http().get('/api/v1/tasks?status=BOGUS')).status).toBe(400);
    expect((await s.http().get('/api/v1/tasks?limit=0')).status).toBe(400);
    expect((await s.http().get('/api/v1/tasks?cursor=abc')).status).toBe(400);
  });

  it('cancels an unfinished task with its downstream, and answers 409 for a finished one, 404 for unknown', async () => {
    const sub = await s.submit(example('pipeline-stages.yaml'));
    const [a, b, c] = sub.body.tasks.map((t: { task_id: string }) => t.task_id);
    const res = await s.http().post(`/api/v1/tasks/${a}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('CANCELLED');
    for (const id of [b, c]) {
      const t = await s.task(id);
      expect(t.status).toBe('CANCELLED');
      expect(t.error).toMatch(new RegExp(a));
    }
    const again = await s.http().post(`/api/v1/tasks/${a}/cancel`);
    expect(again.status).toBe(409);
    expect((await s.http().post('/api/v1/tasks/nope/cancel')).status).toBe(404);
  });

  it('serves the OpenAPI document with every route, a bearer scheme and a YAML example', async () => {
    const res = await s.http().get('/docs-json');
    expect(res.status).toBe(200);
    const paths = Object.keys(res.body.paths);
    expect(paths).toEqual(expect.arrayContaining(['/healthz', '/workers', '/workers/{id}', '/admin/cleanup', '/api/v1/tasks', '/api/v1/tasks/{id}', '/api/v1/tasks/{id}/cancel']));
    expect(res.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const body = res.body.paths['/api/v1/tasks'].post.requestBody.content['text/yaml'];
    expect(body.schema.example).toContain('apiVersion: mloc/v1');
    // Content-Type is read from the request, not listed as a parameter; the optional ones are dryRun and Idempotency-Key.
    const params = (res.body.paths['/api/v1/tasks'].post.parameters ?? []) as { name: string; required: boolean }[];
    expect(params.map((p) => [p.name, p.required]).sort()).toEqual([
      ['Idempotency-Key', false],
      ['dryRun', false],
    ]);
    const json = res.body.paths['/api/v1/tasks'].post.requestBody.content['application/json'];
    expect(json.schema.properties.yaml.type).toBe('string');
    // The example in the document is a working submission.
    const submitted = await s.submit(body.schema.example);
    expect(submitted.status).toBe(200);
    const ui = await s.http().get('/docs/');
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger');
  });

  it('echoes an x-request-id', async () => {
    const res = await s.http().get('/healthz').set('x-request-id', 'abc-123');
    expect(res.headers['x-request-id']).toBe('abc-123');
  });
});

describe('workers and cleanup over HTTP', () => {
  // A stack of its own: the workers registered here would run the tasks the tests above leave queued.
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack().start();
  });
  afterAll(() => s.stop());

  it('GET /workers lists workers with their registry fields and /workers/{id} answers 404 for an unknown id', async () => {
    await s.worker({ id: 'api-b', hardware: CPU_HW(4, 8), tags: ['eu'] });
    await s.worker({ id: 'api-a', hardware: GPU_HW(['NVIDIA L4']) });
    const res = await s.http().get('/workers');
    expect(res.status).toBe(200);
    // (Other tests of this stack may have registered workers of their own before this one ran.)
    const mine = res.body.filter((w: { worker_id: string }) => w.worker_id === 'api-a' || w.worker_id === 'api-b');
    // Sorted by id, each with what the worker registered.
    expect(mine.map((w: { worker_id: string }) => w.worker_id)).toEqual(['api-a', 'api-b']);
    expect(mine[1]).toMatchObject({ worker_id: 'api-b', status: 'IDLE', stale: false, tags: ['eu'], hardware: CPU_HW(4, 8), current_task: null });
    expect(mine[0].hardware.gpu.gpus[0].name).toBe('NVIDIA L4');
    expect(typeof mine[0].last_seen).toBe('string');
    const one = await s.http().get('/workers/api-b');
    expect(one.status).toBe(200);
    expect(one.body).toEqual(mine[1]);
    const missing = await s.http().get('/workers/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toMatch(/nope/);
  });

  it('POST /admin/cleanup answers ok with a count, and leaves a live worker alone', async () => {
    await s.worker({ id: 'api-live', hardware: CPU_HW() });
    const res = await s.http().post('/admin/cleanup');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, removed: 0 });
    const still = await s.http().get('/workers/api-live');
    expect(still.status).toBe(200);
    expect(still.body).toMatchObject({ status: 'IDLE', stale: false });
  });
});

describe('HTTP API with ORCHESTRATOR_TOKEN', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack({ ORCHESTRATOR_TOKEN: 's3cret' }).start();
  });
  afterAll(() => s.stop());

  it('/healthz needs no token', async () => {
    expect((await s.http().get('/healthz')).status).toBe(200);
  });

  it.each([
    ['GET', '/workers'],
    ['GET', '/workers/x'],
    ['POST', '/admin/cleanup'],
    ['GET', '/api/v1/tasks'],
    ['GET', '/api/v1/tasks/x'],
    ['POST', '/api/v1/tasks'],
    ['POST', '/api/v1/tasks/x/cancel'],
  ])('%s %s: 401 without or with a malformed header, 403 with a wrong token', async (method, path) => {
    const call = () => (method === 'GET' ? s.http().get(path) : s.http().post(path));
    expect((await call()).status).toBe(401);
    expect((await call().set('Authorization', 'Basic abc')).status).toBe(401);
    expect((await call().set('Authorization', 'Bearer')).status).toBe(401);
    const wrong = await call().set('Authorization', 'Bearer nope');
    expect(wrong.status).toBe(403);
    expect(wrong.body.message).toMatch(/token/i);
  });

  it('accepts the right token', async () => {
    expect((await s.http().get('/workers').set('Authorization', 'Bearer s3cret')).status).toBe(200);
    const res = await s.submit(taskYaml({ name: 'authed' }));
    expect(res.status).toBe(200);
  });
});
