/**
 * Hostile HTTP input: what a client can send that once made the orchestrator stall Redis, store a
 * different number than was written, forge log lines, answer 500 or answer without the error body.
 * Every answer to bad input is a 4xx with the one error body, never a 500.
 */
import fc from 'fast-check';
import type { Response } from 'supertest';
import { stringify } from 'yaml';
import { TestStack, taskYaml } from '../support/test-app';

const TOKEN = 'hostile-tok';
const MAX_TASKS = 50;

/** The one documented error body, with the request id of the x-request-id header. */
function expectErrorBody(res: Response, status: number, field: string | null = null) {
  expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { statusCode: status } });
  expect(Object.keys(res.body).sort()).toEqual(['code', 'error', 'field', 'message', 'requestId', 'statusCode']);
  expect(typeof res.body.code).toBe('string');
  expect(typeof res.body.message).toBe('string');
  expect(res.body.field).toBe(field);
  expect(res.headers['x-request-id']).toBeTruthy();
  expect(res.body.requestId).toBe(res.headers['x-request-id']);
}

/** A 2xx, or a 4xx with the error body: what every request must get. */
function expectAnswered(res: Response) {
  if (res.status >= 200 && res.status < 300) return;
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(Object.keys(res.body).sort()).toEqual(['code', 'error', 'field', 'message', 'requestId', 'statusCode']);
  expect(res.body.statusCode).toBe(res.status);
  expect(res.body.requestId).toBe(res.headers['x-request-id']);
}

const stages = (n: number) => `stages: [${Array.from({ length: n }, () => '{}').join(', ')}]`;
const nodes = (n: number) => `graph: {nodes: [${Array.from({ length: n }, (_, i) => `{name: n${i}}`).join(', ')}]}`;

describe('hostile HTTP input', () => {
  let s: TestStack;
  const get = (path: string) => s.http().get(path).set(s.authHeader());
  const post = (path: string) => s.http().post(path).set(s.authHeader());
  const taskCount = async () => (await get('/api/v1/tasks?limit=10000').expect(200)).body.length as number;

  beforeAll(async () => {
    s = await new TestStack({ ORCHESTRATOR_TOKEN: TOKEN, MAX_TASKS_PER_SUBMISSION: String(MAX_TASKS), MAX_TASK_BYTES: '400000' }).start();
  });
  afterAll(() => s.stop());

  describe('tasks per submission are counted: documents × stages × graph nodes', () => {
    it('refuses 60,000 empty stages with 413 and the count, creating nothing', async () => {
      const before = await taskCount();
      const res = await s.submit(taskYaml({ name: 'many', extraSpec: stages(60_000) }));
      expectErrorBody(res, 413);
      expect(res.body.code).toBe('too_many_tasks');
      expect(res.body.message).toContain('60000');
      expect(res.body.message).toContain(String(MAX_TASKS));
      expect(await taskCount()).toBe(before);
    });

    it.each([
      ['two documents of 26 stages', [taskYaml({ name: 'a', extraSpec: stages(26) }), taskYaml({ name: 'b', extraSpec: stages(26) })].join('---\n'), 52],
      ['a graph of 51 nodes', taskYaml({ name: 'g', extraSpec: nodes(51) }), 51],
      ['51 documents', Array.from({ length: 51 }, (_, i) => taskYaml({ name: `d${i}` })).join('---\n'), 51],
    ])('refuses %s (413)', async (_what, yaml, count) => {
      const before = await taskCount();
      const res = await s.submit(yaml);
      expectErrorBody(res, 413);
      expect(res.body.message).toContain(`${count} tasks`);
      expect(await taskCount()).toBe(before);
    });

    it('accepts exactly the limit', async () => {
      const res = await s.submit([taskYaml({ name: 'x', extraSpec: stages(25) }), taskYaml({ name: 'y', extraSpec: stages(25) })].join('---\n'));
      expect(res.status).toBe(200);
      expect(res.body.count).toBe(MAX_TASKS);
    });
  });

  describe('numbers: non-finite and unsafe ones are refused with the field path', () => {
    const big = '9007199254740993'; // 2^53 + 1: a double holds it as ...992
    it.each([
      ['a 400-digit cpu string', taskYaml({ cpu: '9'.repeat(400) }), 'spec.resources.hardware.cpu'],
      ['cpu .inf', taskYaml().replace(/cpu: "1"/, 'cpu: .inf'), 'spec.resources.hardware.cpu'],
      ['cpu 1e400', taskYaml().replace(/cpu: "1"/, 'cpu: 1e400'), 'spec.resources.hardware.cpu'],
      ['replicas beyond 2^53', taskYaml().replace('replicas: 1', `replicas: ${big}`), 'spec.resources.replicas'],
      ['gpu.count beyond 2^53', taskYaml({ gpu: `{type: any, count: ${big}}` }), 'spec.resources.hardware.gpu.count'],
      ['retry.maxRetries beyond 2^53', taskYaml({ extraSpec: `retry: {maxRetries: ${big}}` }), 'spec.retry.maxRetries'],
      ['parallel.max_shards beyond 2^53', taskYaml({ taskType: 'inference', extraSpec: `parallel: {enabled: true, max_shards: ${big}}` }), 'spec.parallel.max_shards'],
      ['.nan in free-form data', taskYaml({ extraSpec: 'data: {temperature: .nan}' }), 'spec.data.temperature'],
      ['-.inf in a stage spec', taskYaml({ extraSpec: 'stages: [{name: a, spec: {data: {x: -.inf}}}]' }), 'spec.stages[0].spec.data.x'],
    ])('%s: 400', async (_what, yaml, field) => {
      const before = await taskCount();
      const res = await s.submit(yaml);
      expectErrorBody(res, 400, field);
      expect(res.body.message).toContain(field);
      expect(await taskCount()).toBe(before);
    });
  });

  describe('text: names and owners have a length limit and a character rule', () => {
    const named = (name: string) => taskYaml({ name: JSON.stringify(name) });
    it.each([
      ['a line feed in the name', named('x\n2026-01-01T00:00:00.000Z ERROR [Auth] forged'), 'metadata.name'],
      ['NUL in the name', named('a\u0000b'), 'metadata.name'],
      ['a bidi override in the name', named('invoice\u202Efdp.exe'), 'metadata.name'],
      ['a 300-character name', named('n'.repeat(300)), 'metadata.name'],
      ['a 100 KB owner', taskYaml({ owner: 'o'.repeat(100_000) }), 'metadata.owner'],
      ['a line feed in the owner', taskYaml({ owner: JSON.stringify('eve\nadmin') }), 'metadata.owner'],
      ['a line feed in a stage name', taskYaml({ extraSpec: `stages: [{name: ${JSON.stringify('a\nb')}}]` }), 'spec.stages[0].name'],
      ['a bidi isolate in a graph node name', taskYaml({ extraSpec: `graph: {nodes: [{name: ${JSON.stringify('a\u2066b')}}]}` }), 'spec.graph.nodes[0].name'],
    ])('%s: 400', async (_what, yaml, field) => {
      const before = await taskCount();
      const res = await s.submit(yaml);
      expectErrorBody(res, 400, field);
      expect(await taskCount()).toBe(before);
    });

    it('accepts spaces and non-Latin scripts', async () => {
      const res = await s.submit(taskYaml({ name: JSON.stringify('modèle 日本語 v2'), owner: 'zoë' }));
      expect(res.status).toBe(200);
      expect(res.body.tasks[0].name).toBe('modèle 日本語 v2');
    });
  });

  describe('query and path', () => {
    it.each([
      ['/api/v1/tasks?status=DONE&status=FAILED', 'status'],
      ['/api/v1/tasks?owner=a&owner=b', 'owner'],
      ['/api/v1/tasks?limit=1&limit=2', 'limit'],
      ['/api/v1/tasks?cursor=1&cursor=2', 'cursor'],
      ['/api/v1/tasks?status=DONEISH', 'status'],
      ['/api/v1/tasks?limit=0x10', 'limit'],
      ['/api/v1/tasks?limit=1e3', 'limit'],
      ['/api/v1/tasks?limit=10001', 'limit'],
      ['/api/v1/tasks?cursor=1e400', 'cursor'],
      ['/api/v1/tasks?cursor=-1', 'cursor'],
      [`/api/v1/tasks?name=${'n'.repeat(5000)}`, 'name'],
    ])('GET %#: 400 naming the parameter', async (path, field) => {
      expectErrorBody(await get(path), 400, field);
    });

    it('keeps the documented filters: any-case status, empty values, unknown parameters ignored', async () => {
      // At least one task to list, whatever ran before.
      expect((await s.submit(taskYaml({ name: 'listed' }))).status).toBe(200);
      expect((await get('/api/v1/tasks?status=pending&limit=5')).status).toBe(200);
      expect((await get('/api/v1/tasks?status=&limit=&cursor=')).status).toBe(200);
      expect((await get('/api/v1/tasks?unknown=1&limit=1')).body).toHaveLength(1);
    });

    it('a path id that is not a task id is a 404, even one naming another key of the task', async () => {
      const first = (await s.submit(taskYaml({ name: 'upstream', gpu: '{type: none-such, count: 1}' })).expect(200)).body.tasks[0].task_id;
      await s.submit(taskYaml({ name: 'downstream', extraSpec: `dependsOn: [${first}]` })).expect(200);
      expectErrorBody(await get(`/api/v1/tasks/${first}:dependents`), 404);
      expectErrorBody(await post(`/api/v1/tasks/${first}:dependents/cancel`), 404);
      expectErrorBody(await get(`/api/v1/tasks/${'x'.repeat(5000)}`), 404);
      expect((await get(`/api/v1/tasks/${first}`)).body.status).toBe('PENDING');
    });

    it('a dependsOn id that is not a task id is a 400 and creates nothing', async () => {
      const first = (await s.submit(taskYaml({ name: 'up2', gpu: '{type: none-such, count: 1}' })).expect(200)).body.tasks[0].task_id;
      await s.submit(taskYaml({ name: 'down2', extraSpec: `dependsOn: [${first}]` })).expect(200);
      const before = await taskCount();
      const res = await s.submit(taskYaml({ name: 'sneaky', extraSpec: `dependsOn: ["${first}:dependents"]` }));
      expectErrorBody(res, 400, 'spec.dependsOn');
      expect(await taskCount()).toBe(before);
    });
  });

  describe('every error answer has the one body and an x-request-id', () => {
    it.each([
      ['malformed JSON', () => post('/api/v1/tasks').set('Content-Type', 'application/json').send('{"yaml":'), 400],
      ['a JSON null', () => post('/api/v1/tasks').set('Content-Type', 'application/json').send('null'), 400],
      ['a JSON string', () => post('/api/v1/tasks').set('Content-Type', 'application/json').send('"yaml"'), 400],
      ['an unknown Content-Encoding', () => post('/api/v1/tasks').set('Content-Type', 'text/yaml').set('Content-Encoding', 'bogus').send(taskYaml()), 415],
      ['a gzip body that is not gzip', () => post('/api/v1/tasks').set('Content-Type', 'text/yaml').set('Content-Encoding', 'gzip').send('not gzip at all'), 400],
      ['an unknown charset', () => post('/api/v1/tasks').set('Content-Type', 'application/json; charset=klingon').send('{}'), 415],
      [
        'a body over MAX_TASK_BYTES',
        () =>
          post('/api/v1/tasks')
            .set('Content-Type', 'application/json')
            .send({ yaml: 'x'.repeat(500_000) }),
        413,
      ],
      ['an unsupported media type', () => post('/api/v1/tasks').set('Content-Type', 'application/xml').send('<a/>'), 415],
      ["Nest's own 404", () => get('/no/such/route?x=1'), 404],
      ['a 404 for an unknown method', () => s.http().delete('/api/v1/tasks').set(s.authHeader()), 404],
      ['401 without a token', () => s.http().get('/api/v1/tasks'), 401],
      ['401 with a malformed header', () => s.http().get('/workers').set('Authorization', 'Basic abc'), 401],
      ['403 with a wrong token', () => s.http().get('/api/v1/tasks').set('Authorization', 'Bearer nope'), 403],
    ])('%s', async (_what, send, status) => {
      const res = await send();
      expectErrorBody(res, status);
    });

    it('echoes a well-formed x-request-id it was given', async () => {
      const res = await post('/api/v1/tasks').set('Content-Type', 'application/json').set('x-request-id', 'req-42').send('{');
      expect(res.headers['x-request-id']).toBe('req-42');
      expect(res.body.requestId).toBe('req-42');
    });
  });

  describe('generated hostile input (fast-check): always a 2xx or a 4xx with the error body', () => {
    const hostileText = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.constantFrom('', ' ', '\n', '\u0000', '\u202e', '%', '%00', '%ZZ', '[]', '{}', 'null', 'DONE', 'done', '0', '-1', '1e3', '0x10', '9'.repeat(400), 'a'.repeat(5000)),
    );
    const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
      hostileText,
      fc.integer(),
      fc.double(),
      fc.constantFrom(Number.POSITIVE_INFINITY, Number.NaN, 2 ** 53 + 2, -(2 ** 60), 1e308, 0.5, null, true),
      fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
    );
    /** A valid document with one field set to a hostile value (new fields included). */
    const hostileDocument = fc
      .tuple(
        fc.constantFrom(
          ['metadata', 'name'],
          ['metadata', 'owner'],
          ['spec', 'taskType'],
          ['spec', 'priority'],
          ['spec', 'resources', 'replicas'],
          ['spec', 'resources', 'hardware', 'cpu'],
          ['spec', 'resources', 'hardware', 'memory'],
          ['spec', 'resources', 'hardware', 'gpu'],
          ['spec', 'resources', 'tags'],
          ['spec', 'retry', 'maxRetries'],
          ['spec', 'retry', 'backoffSec'],
          ['spec', 'parallel', 'max_shards'],
          ['spec', 'dependsOn'],
          ['spec', 'stages'],
          ['spec', 'graph'],
          ['spec', 'data', 'anything'],
        ),
        hostileValue,
      )
      .map(([path, value]) => {
        const doc: Record<string, any> = {
          apiVersion: 'mloc/v1',
          kind: 'InferenceTask',
          metadata: { name: 'prop' },
          spec: { taskType: 'echo', resources: { replicas: 1, hardware: { cpu: '1', memory: '1Gi', gpu: { type: 'none-such', count: 1 } } } },
        };
        let at = doc;
        for (const key of path.slice(0, -1)) at = at[key] = typeof at[key] === 'object' && at[key] !== null ? at[key] : {};
        at[path[path.length - 1]] = value;
        return stringify(doc);
      });

    it('POST /api/v1/tasks with generated documents and texts', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: hostileDocument }, { weight: 1, arbitrary: hostileText }), async (yaml) => {
          expectAnswered(await s.submit(yaml));
        }),
        { numRuns: 60 },
      );
    });

    it('GET /api/v1/tasks with generated query strings: repeated, arrays, huge values', async () => {
      const key = fc.oneof(fc.constantFrom('status', 'owner', 'name', 'limit', 'cursor', 'status[]', 'limit[0]', 'owner[a]', 'access_token'), fc.string({ maxLength: 8 }));
      const raw = fc.constantFrom('%', '%E0%A4%A', '%00', '&&', '==', '+', '%2B');
      const pair = fc.tuple(key, fc.oneof(hostileText.map(encodeURIComponent), raw)).map(([k, v]) => `${encodeURIComponent(k)}=${v}`);
      await fc.assert(
        fc.asyncProperty(fc.array(pair, { maxLength: 6 }), async (pairs) => {
          const res = await get(`/api/v1/tasks?${pairs.join('&')}`);
          expectAnswered(res);
          if (res.status === 200) expect(Array.isArray(res.body)).toBe(true);
        }),
        { numRuns: 150 },
      );
    });

    it('GET and cancel with generated path ids', async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.string({ minLength: 1, maxLength: 60 }), fc.uuid()), async (id) => {
          const path = `/api/v1/tasks/${encodeURIComponent(id)}`;
          expectAnswered(await get(path));
          expectAnswered(await post(`${path}/cancel`));
        }),
        { numRuns: 60 },
      );
    });
  });
});
