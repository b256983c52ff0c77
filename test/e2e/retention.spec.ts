import fc from 'fast-check';
import { Redis } from 'ioredis';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../../src/redis/keys';
import { CPU_HW } from '../support/fake-worker';
import { firstId, TestStack, taskYaml } from '../support/test-app';
import { keySpace } from '../redis/retention-key-space';
import { waitFor } from '../support/wait-for';

/**
 * Bounded task history over HTTP (docs/guarantees.md, "Retention"): finished tasks go after their
 * retention with everything they own, DELETE /api/v1/tasks/{id} and POST /admin/prune remove them
 * on demand, and secrets in task documents are masked in every answer while the worker gets them.
 */

const withSpec = (name: string, extraSpec: string) => taskYaml({ name, extraSpec });

describe('retention over HTTP: short TASK_RETENTION_SEC', () => {
  let s: TestStack;
  let redis: Redis;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mloc-retention-'));
    s = await new TestStack({ TASK_RETENTION_SEC: '1', TASK_RETENTION_MAX_SEC: '3600', RESULTS_DIR: dir }).start();
    redis = s.redis.client();
    await s.worker({ id: 'ret-w1', hardware: CPU_HW() });
  });
  afterAll(async () => {
    redis.disconnect();
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a finished task disappears after its retention with every key, index entry and result file: the key space is as before', async () => {
    await redis.incr(Keys.seq); // the counter outlives every task
    const before = await keySpace(redis);
    const id = firstId(await s.submit(taskYaml({ name: 'short-lived', owner: 'ret-owner' })));
    await s.waitForStatus(id, 'DONE');
    const up = await s.http().post(`/api/v1/results/${id}/files`).set(s.authHeader()).attach('file', Buffer.from('a result file'), 'out.txt');
    expect(up.status).toBe(200);
    expect(existsSync(join(dir, id))).toBe(true);
    await waitFor(async () => (await s.http().get(`/api/v1/tasks/${id}`).set(s.authHeader())).status === 404, { what: 'the task removed', timeoutMs: 15_000 });
    await waitFor(() => !existsSync(join(dir, id)), { what: 'its result folder removed' });
    const after = await keySpace(redis);
    expect([...after].filter(([k, members]) => k.includes(id) || members.includes(id))).toEqual([]);
    expect(after).toEqual(before);
  });

  it('spec.retention.seconds lengthens it within TASK_RETENTION_MAX_SEC; beyond it, or not a positive integer: 400 with the field', async () => {
    const short = firstId(await s.submit(taskYaml({ name: 'default-retention' })));
    const long = firstId(await s.submit(withSpec('kept-an-hour', 'retention: {seconds: 3600}')));
    await s.waitForStatus(short, 'DONE');
    const done = await s.waitForStatus(long, 'DONE');
    await waitFor(async () => (await s.http().get(`/api/v1/tasks/${short}`).set(s.authHeader())).status === 404, { what: 'the default one removed', timeoutMs: 15_000 });
    expect((await s.task(long)).status).toBe('DONE');
    expect(Number(await redis.zscore(Keys.finished, long))).toBeGreaterThanOrEqual(Date.parse(done.finished_at) + 3600_000);
    for (const [i, bad] of ['3601', '0', '-5', '1.5', '"60"', 'null', '{}'].entries()) {
      const res = await s.submit(withSpec(`bad-${i}`, `retention: {seconds: ${bad}}`));
      expect([bad, res.status, res.body.field]).toEqual([bad, 400, 'spec.retention.seconds']);
    }
    const notMapping = await s.submit(withSpec('bad-retention', 'retention: 60'));
    expect([notMapping.status, notMapping.body.field]).toEqual([400, 'spec.retention']);
  });
});

describe('DELETE, prune and secrets over HTTP (default retention)', () => {
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
  const del = (id: string, query = '') => s.http().delete(`/api/v1/tasks/${id}${query}`).set(s.authHeader());
  const prune = (body: unknown) =>
    s
      .http()
      .post('/admin/prune')
      .set(s.authHeader())
      .send(body as object);

  it('DELETE: 404 unknown or malformed; 409 unfinished and depended on; ?cascade=true removes the finished pipeline', async () => {
    expect((await del('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await del('not-a-task-id')).status).toBe(404);
    const w = await s.worker({ id: 'del-w', hardware: CPU_HW(), behaviour: 'hold' });
    const sub = await s.submit(
      [
        'apiVersion: mloc/v1',
        'kind: Pipeline',
        'metadata: {name: pipe}',
        'spec:',
        '  taskType: echo',
        '  resources: {replicas: 1, hardware: {cpu: "1", memory: "1Gi"}}',
        '  stages:',
        '    - name: a',
        '    - name: b',
        '',
      ].join('\n'),
    );
    expect(sub.status).toBe(200);
    const [a, b] = sub.body.tasks.map((t: { task_id: string }) => t.task_id);
    await w.waitForDispatch(1);
    const unfinished = await del(a);
    expect([unfinished.status, unfinished.body.code]).toEqual([409, 'conflict']);
    await w.succeed(a, {});
    await w.waitForDispatch(2);
    // b runs: a may not go, even with cascade.
    expect((await del(a, '?cascade=true')).status).toBe(409);
    await w.succeed(b, {});
    await s.waitForStatus(b, 'DONE');
    const dependedOn = await del(a);
    expect(dependedOn.status).toBe(409);
    expect(dependedOn.body.message).toContain('cascade=true');
    expect((await del(a, '?cascade=maybe')).status).toBe(400);
    const ok = await del(a, '?cascade=true');
    expect(ok.status).toBe(200);
    expect([...ok.body.removed].sort()).toEqual([a, b].sort());
    for (const id of [a, b]) expect((await s.http().get(`/api/v1/tasks/${id}`).set(s.authHeader())).status).toBe(404);
    expect((await del(a)).status).toBe(404);
  });

  it('POST /admin/prune: 400 naming the bad field; removes the finished tasks that match, not the others', async () => {
    for (const [body, field] of [
      [{}, 'before'],
      [{ before: 'yesterday' }, 'before'],
      [{ before: '2026-01-01' }, 'before'],
      [{ before: '2026-01-01T00:00:00Z', status: 'RUNNING' }, 'status'],
      [{ before: '2026-01-01T00:00:00Z', limit: 0 }, 'limit'],
      [{ before: '2026-01-01T00:00:00Z', cursor: 'x' }, 'cursor'],
      [{ before: '2026-01-01T00:00:00Z', extra: 1 }, 'extra'],
    ] as const) {
      const res = await prune(body);
      expect([res.status, res.body.field]).toEqual([400, field]);
    }
    // Generated bodies: a 400 naming a field, or (the rare valid one) 200; never a 500.
    const field = fc.constantFrom('before', 'status', 'owner', 'limit', 'cursor', 'x', '__proto__');
    const value = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom('DONE', 'done', 'RUNNING', '-1', '12'),
      fc.array(fc.string(), { maxLength: 2 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.dictionary(field, value, { maxKeys: 4 }), fc.jsonValue({ maxDepth: 2 })), async (body) => {
        const res = await s.http().post('/admin/prune').set(s.authHeader()).set('Content-Type', 'application/json').send(JSON.stringify(body));
        expect([200, 400]).toContain(res.status);
        if (res.status === 400) expect(res.body.code).toBe('invalid_request');
        else expect(res.body).toMatchObject({ ok: true, removed: 0 });
      }),
      { numRuns: 60 },
    );
    const w = await s.worker({ id: 'prune-w', hardware: CPU_HW(), behaviour: 'hold' });
    const held = firstId(await s.submit(taskYaml({ name: 'held', owner: 'pruner' })));
    await w.waitForDispatch(1);
    const cancelled = firstId(await s.submit(taskYaml({ name: 'cancelled', owner: 'pruner' })));
    expect((await s.http().post(`/api/v1/tasks/${cancelled}/cancel`).set(s.authHeader())).status).toBe(200);
    const other = firstId(await s.submit(taskYaml({ name: 'other-owner', owner: 'someone' })));
    expect((await s.http().post(`/api/v1/tasks/${other}/cancel`).set(s.authHeader())).status).toBe(200);
    const future = new Date(Date.now() + 60_000).toISOString();
    // Nothing ended before a time in the past.
    expect((await prune({ before: '2020-01-01T00:00:00Z' })).body).toEqual({ ok: true, removed: 0, records: 0, cursor: null });
    const res = await prune({ before: future, owner: 'pruner', status: 'cancelled' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, removed: 1, records: 1, cursor: null });
    expect((await s.http().get(`/api/v1/tasks/${cancelled}`).set(s.authHeader())).status).toBe(404);
    expect((await s.task(held)).status).toBe('RUNNING');
    expect((await s.task(other)).status).toBe('CANCELLED');
    expect(await redis.zscore(Keys.finished, other)).not.toBeNull();
    await w.succeed(held, {});
    await s.waitForStatus(held, 'DONE');
    expect((await prune({ before: future })).body).toMatchObject({ ok: true, removed: 2 });
    expect(await redis.zcard(Keys.finished)).toBe(0);
  });

  it('secrets at any depth of a document are masked in the submit answer, the record and the list; the worker gets them', async () => {
    const w = await s.worker({ id: 'secret-w', hardware: CPU_HW() });
    const SECRET_KEYS = [
      'api_key',
      'apiKey',
      'API_KEY',
      'hf_token',
      'access_token',
      'accessToken',
      'token',
      'Token',
      'password',
      'db_password',
      'client_secret',
      'secret',
      'OPENAI_API_KEY',
      'x-api-key',
    ];
    const secretKey = fc.constantFrom(...SECRET_KEYS);
    // The oracle: the document with the value of every key from SECRET_KEYS replaced, at any depth.
    const masked = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(masked)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEYS.includes(k) ? '***' : masked(x)]))
          : v;
    const plainKey = fc.constantFrom('model', 'max_tokens', 'tokenizer', 'prompt', 'url', 'options', 'key', 'token_count', 'name');
    // A value that is a secret: marked so that it can be looked for in every answer.
    const marked = fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom(...'abcdefXYZ0123456789') }).map((x) => `s3cr3t-${x}`);
    const tree: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.string({ maxLength: 6, unit: fc.constantFrom(...'abc xyz') }),
        fc.integer(),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(plainKey, tie('node'), { maxKeys: 3 }),
        fc.dictionary(secretKey, fc.oneof(marked, fc.dictionary(plainKey, marked, { minKeys: 1, maxKeys: 2 })), { minKeys: 1, maxKeys: 2 }),
      ),
    })).node;
    let received = 0;
    await fc.assert(
      fc.asyncProperty(fc.dictionary(plainKey, tree, { maxKeys: 3 }), secretKey, marked, async (data, topKey, topSecret) => {
        const doc = { ...data, nested: { deeper: [{ [topKey]: topSecret }] } };
        const secrets = [...JSON.stringify(doc).matchAll(/s3cr3t-[a-zA-Z0-9]*/g)].map((m) => m[0]);
        const sub = await s.submit(withSpec('with-secrets', `data: ${JSON.stringify(doc)}`));
        expect(sub.status).toBe(200);
        const id = firstId(sub);
        const msg = await w.waitForDispatch(++received);
        // The worker gets the document as submitted.
        expect((msg.task.spec as Record<string, unknown>).data).toEqual(doc);
        const one = await s.http().get(`/api/v1/tasks/${id}`).set(s.authHeader());
        // The list's summary, and its full records (include=task) where this version has them.
        const lists = [await s.http().get('/api/v1/tasks?limit=5').set(s.authHeader()), await s.http().get('/api/v1/tasks?limit=5&include=task').set(s.authHeader())].filter(
          (l) => l.status === 200,
        );
        expect(lists.length).toBeGreaterThan(0);
        for (const body of [sub.text, one.text, ...lists.map((l) => l.text)]) for (const secret of secrets) expect(body).not.toContain(secret);
        // Everything but the secrets is shown as stored.
        expect(one.body.task.spec.data).toEqual(masked(doc));
        for (const l of lists) {
          const record = l.body.find((t: { task_id: string }) => t.task_id === id);
          if (record.task) expect(record.task.spec.data).toEqual(masked(doc));
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
