import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { TASKS_EVENTS_CHANNEL } from '../../src/contracts/protocol';
import { fileNameProblem } from '../../src/results/result-input';
import { ResultsService } from '../../src/results/results.service';
import { FakeV1Worker, GPU_HW } from '../support/fake-worker';
import { multipartBody } from '../support/multipart';
import { firstId, taskYaml, TestStack } from '../support/test-app';

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/** A task only the worker with `tag` can run. */
/** A task only the workers with `tag` can run. */
const taggedYaml = (tag: string) => taskYaml({ name: `on-${tag}`, tags: [tag] });

describe('results and files over HTTP (docs/results.md)', () => {
  const TOKEN = 'results-token';
  const MAX_FILE = 1024 * 1024;
  let dir: string;
  let s: TestStack;
  let w: FakeV1Worker;
  let redis: Redis;
  const auth = () => ({ Authorization: `Bearer ${TOKEN}` });
  const postResult = (body: unknown) =>
    s
      .http()
      .post('/api/v1/results')
      .set(auth())
      .send(body as object);
  const getResult = (id: string) => s.http().get(`/api/v1/results/${id}`).set(auth());
  const upload = (id: string, name: string, content: Buffer) => {
    const { boundary, body } = multipartBody(name, content);
    return s.http().post(`/api/v1/results/${id}/files`).set(auth()).set('Content-Type', `multipart/form-data; boundary=${boundary}`).send(body);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mloc-results-'));
    s = await new TestStack({ ORCHESTRATOR_TOKEN: TOKEN, RESULTS_DIR: dir, MAX_RESULT_FILE_BYTES: String(MAX_FILE), MAX_TASK_BYTES: String(4 * 1024 * 1024) }).start();
    w = await s.worker({ id: 'res-w', behaviour: 'hold', tags: ['res-w'] });
    redis = s.redis.client();
  });
  afterAll(async () => {
    redis.disconnect();
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A task held RUNNING by the worker. */
  async function running(): Promise<string> {
    const n = w.received.length + 1;
    const id = firstId(await s.submit(taggedYaml('res-w')).expect(200));
    expect((await w.waitForDispatch(n)).task_id).toBe(id);
    await s.waitForStatus(id, 'RUNNING');
    return id;
  }

  /** A task nobody can run (it waits PENDING). */
  async function pending(): Promise<string> {
    return firstId(await s.submit(taskYaml({ name: 'waits', cpu: 64 })).expect(200));
  }

  it('every route requires the bearer token', async () => {
    const id = await pending();
    const { boundary, body } = multipartBody('a.txt', Buffer.from('x'));
    const calls = [
      s.http().post('/api/v1/results').send({ task_id: id, result: 1 }),
      s.http().get(`/api/v1/results/${id}`),
      s.http().post(`/api/v1/results/${id}/files`).set('Content-Type', `multipart/form-data; boundary=${boundary}`).send(body),
      s.http().get(`/api/v1/results/${id}/files`),
      s.http().get(`/api/v1/results/${id}/files/a.txt`),
    ];
    for (const res of await Promise.all(calls)) {
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code: 'unauthorized' });
    }
    expect(filesUnder(join(dir, id))).toEqual([]);
  });

  it('the OpenAPI document describes every results route, with auth and the error body', async () => {
    const doc = (await s.http().get('/docs-json').expect(200)).body;
    const ops: [string, string][] = [
      ['/api/v1/results', 'post'],
      ['/api/v1/results/{id}', 'get'],
      ['/api/v1/results/{id}/files', 'post'],
      ['/api/v1/results/{id}/files', 'get'],
      ['/api/v1/results/{id}/files/{name}', 'get'],
    ];
    for (const [path, method] of ops) {
      const op = doc.paths[path]?.[method];
      expect(op).toBeDefined();
      expect(op.security).toEqual([{ bearer: [] }]);
      expect(op.responses['401']).toBeDefined();
      expect(op.responses['404']).toBeDefined();
    }
    expect(Object.keys(doc.paths['/api/v1/results/{id}/files'].post.requestBody.content)).toEqual(['multipart/form-data']);
  });

  it('a result posted while the task runs is what a TASK_SUCCEEDED with result null keeps', async () => {
    const id = await running();
    const posted = await postResult({ task_id: id, result: { answers: ['4', '7'] }, worker_id: 'res-w', metadata: { model: 'm1' } }).expect(200);
    expect(posted.body).toMatchObject({ ok: true, task_id: id, status: 'RUNNING', stored: 'record' });
    await w.succeed(id, null);
    const done = await s.waitForStatus(id, 'DONE');
    expect(done.result).toEqual({ answers: ['4', '7'] });
    const res = await getResult(id).expect(200);
    expect(res.body).toEqual({ task_id: id, status: 'DONE', result: { answers: ['4', '7'] }, worker_id: 'res-w', metadata: { model: 'm1' }, updated_at: expect.any(String) });
  });

  it('a TASK_SUCCEEDED without the key `result` keeps the posted result too', async () => {
    const id = await running();
    await postResult({ task_id: id, result: 'over http' }).expect(200);
    await redis.publish(TASKS_EVENTS_CHANNEL, JSON.stringify({ type: 'TASK_SUCCEEDED', worker_id: 'res-w', task_id: id }));
    const done = await s.waitForStatus(id, 'DONE');
    expect(done.result).toBe('over http');
    expect((await getResult(id).expect(200)).body).toMatchObject({ result: 'over http', worker_id: 'res-w', metadata: null });
  });

  it('a TASK_SUCCEEDED with its own result stores that one; a post after DONE replaces what GET returns', async () => {
    const id = await running();
    await postResult({ task_id: id, result: 'early' }).expect(200);
    await w.succeed(id, { from: 'event' });
    expect((await s.waitForStatus(id, 'DONE')).result).toEqual({ from: 'event' });
    const first = (await getResult(id).expect(200)).body;
    expect(first.result).toEqual({ from: 'event' });
    const later = await postResult({ task_id: id, result: { from: 'late post' }, worker_id: 'client-1' }).expect(200);
    expect(later.body.status).toBe('DONE');
    const res = (await getResult(id).expect(200)).body;
    expect(res).toMatchObject({ status: 'DONE', result: { from: 'late post' }, worker_id: 'client-1' });
    expect(res.updated_at >= first.updated_at).toBe(true);
    expect((await s.task(id)).result).toEqual({ from: 'late post' });
  });

  it('GET of a task without a result answers result null; unknown and malformed ids are 404', async () => {
    const id = await pending();
    // Other tests of this file may have written files already: nothing may be added by these requests.
    const before = filesUnder(dir)
      .filter((f) => !f.startsWith('.partial/'))
      .sort();
    expect((await getResult(id).expect(200)).body).toEqual({ task_id: id, status: 'PENDING', result: null, worker_id: null, metadata: null, updated_at: null });
    for (const bad of [randomUUID(), 'not-a-task', id.toUpperCase(), `${id}x`]) {
      expect((await getResult(encodeURIComponent(bad)).expect(404)).body).toMatchObject({ code: 'not_found', field: null });
      expect((await postResult({ task_id: bad, result: 1 }).expect(404)).body).toMatchObject({ code: 'not_found' });
      expect(
        (
          await s
            .http()
            .get(`/api/v1/results/${encodeURIComponent(bad)}/files`)
            .set(auth())
            .expect(404)
        ).body.code,
      ).toBe('not_found');
      expect((await upload(encodeURIComponent(bad), 'a.txt', Buffer.from('x')).expect(404)).body.code).toBe('not_found');
    }
    // Nothing was written for them, and no record appeared.
    expect(
      filesUnder(dir)
        .filter((f) => !f.startsWith('.partial/'))
        .sort(),
    ).toEqual(before);
    expect(await redis.exists(`mloc:task:not-a-task`)).toBe(0);
  });

  it('a post for a task removed meanwhile is 404 and recreates no record; a sharded parent is 409', async () => {
    const gone = await pending();
    await redis.del(`mloc:task:${gone}`);
    expect((await postResult({ task_id: gone, result: { late: true } }).expect(404)).body.code).toBe('not_found');
    expect(await redis.exists(`mloc:task:${gone}`)).toBe(0);
    // A parent (as dispatch-shards leaves it: the shards' ids in `children`).
    const parent = await pending();
    await redis.hset(`mloc:task:${parent}`, 'children', JSON.stringify([randomUUID(), randomUUID()]));
    const res = await postResult({ task_id: parent, result: 1 });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'conflict', field: 'task_id' });
    expect(await redis.hget(`mloc:task:${parent}`, 'result')).toBeNull();
  });

  it('a body that is not {task_id, result} is a 400 naming the field, for generated bodies too', async () => {
    const id = await pending();
    const cases: [unknown, string | null][] = [
      [{ result: 1 }, 'task_id'],
      [{ task_id: 5, result: 1 }, 'task_id'],
      [{ task_id: id }, 'result'],
      [{ task_id: id, result: 1, worker_id: 'has space' }, 'worker_id'],
      [{ task_id: id, result: 1, worker_id: 7 }, 'worker_id'],
      [{ task_id: id, result: 1, metadata: [1] }, 'metadata'],
      [{ task_id: id, result: 1, metadata: 'x' }, 'metadata'],
      [{ task_id: id, result: 1, metadata: { big: 'x'.repeat(70 * 1024) } }, 'metadata'],
      [[id, 1], null],
    ];
    for (const [body, field] of cases) {
      const res = await postResult(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ code: 'invalid_request', field });
    }
    const nonObject = await s.http().post('/api/v1/results').set(auth()).set('Content-Type', 'text/plain').send('task_id=1');
    expect(nonObject.status).toBe(400);
    // Generated bodies: 200 (stored), 400 (bad shape), or 404 (no such task); never anything else.
    await fc.assert(
      fc.asyncProperty(
        fc.record(
          {
            task_id: fc.oneof(fc.constant(id), fc.string(), fc.integer(), fc.constant(null)),
            result: fc.jsonValue(),
            worker_id: fc.oneof(fc.string(), fc.constant('w-1'), fc.integer()),
            metadata: fc.oneof(fc.object(), fc.jsonValue()),
          },
          { requiredKeys: [] },
        ),
        async (body) => {
          const res = await postResult(body);
          expect([200, 400, 404]).toContain(res.status);
          if (res.status === 400) expect(typeof res.body.field === 'string' || res.body.field === null).toBe(true);
          if (res.status === 200) expect(res.body.task_id).toBe(id);
        },
      ),
      { numRuns: 60 },
    );
    expect((await getResult(id).expect(200)).body.status).toBe('PENDING');
  });

  it('a posted result beyond 1 MiB is kept whole as the file result.json, the record referencing it', async () => {
    const id = await pending();
    const big = { text: 'y'.repeat(1536 * 1024) };
    const posted = await postResult({ task_id: id, result: big }).expect(200);
    expect(posted.body).toMatchObject({ stored: 'file', bytes: JSON.stringify(big).length });
    const view = (await getResult(id).expect(200)).body;
    expect(view.result).toMatchObject({ truncated: true, file: 'result.json', original_bytes: JSON.stringify(big).length });
    const file = await s
      .http()
      .get(`/api/v1/results/${id}/files/result.json`)
      .set(auth())
      .buffer(true)
      .parse((res, cb) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => cb(null, Buffer.concat(parts)));
      });
    expect(file.status).toBe(200);
    expect(JSON.parse((file.body as Buffer).toString())).toEqual(big);
  });

  it('stores, lists and downloads files; a second upload of a name replaces it', async () => {
    const id = await pending();
    const a = await upload(id, 'responses.jsonl', Buffer.from('{"a":1}\n')).expect(200);
    expect(a.body).toEqual({ name: 'responses.jsonl', bytes: 8, modified_at: expect.any(String) });
    await upload(id, 'model ü.bin', Buffer.alloc(1000, 7)).expect(200);
    await upload(id, 'responses.jsonl', Buffer.from('{"a":2}\n{"b":3}\n')).expect(200);
    const list = (await s.http().get(`/api/v1/results/${id}/files`).set(auth()).expect(200)).body;
    expect(list).toEqual([
      { name: 'model ü.bin', bytes: 1000, modified_at: expect.any(String) },
      { name: 'responses.jsonl', bytes: 16, modified_at: expect.any(String) },
    ]);
    const dl = await s.http().get(`/api/v1/results/${id}/files/responses.jsonl`).set(auth()).expect(200);
    expect(dl.headers['content-type']).toBe('application/octet-stream');
    expect(dl.headers['content-length']).toBe('16');
    expect(dl.headers['content-disposition']).toBe('attachment; filename=responses.jsonl');
    expect(Buffer.from(dl.body as Buffer).toString()).toBe('{"a":2}\n{"b":3}\n');
    const utf = await s
      .http()
      .get(`/api/v1/results/${id}/files/${encodeURIComponent('model ü.bin')}`)
      .set(auth())
      .expect(200);
    expect(utf.headers['content-disposition']).toContain("filename*=UTF-8''model%20%C3%BC.bin");
    expect((await s.http().get(`/api/v1/results/${id}/files/nope.txt`).set(auth()).expect(404)).body.code).toBe('not_found');
    expect(filesUnder(join(dir, id)).sort()).toEqual(['model ü.bin', 'responses.jsonl']);
    // A folder of that name (a worker sharing RESULTS_DIR made it): 409, nothing kept.
    mkdirSync(join(dir, id, 'out'));
    writeFileSync(join(dir, id, 'out', 'part-0'), 'worker');
    expect((await upload(id, 'out', Buffer.from('x')).expect(409)).body).toMatchObject({ code: 'conflict', field: 'file' });
    expect(filesUnder(join(dir, id)).sort()).toEqual(['model ü.bin', 'out/part-0', 'responses.jsonl']);
    expect(filesUnder(join(dir, '.partial'))).toEqual([]);
  });

  it('refuses an upload without the field `file` (400) and one beyond MAX_RESULT_FILE_BYTES (413), leaving nothing behind', async () => {
    const id = await pending();
    const other = multipartBody('a.txt', Buffer.from('x'), 'attachment');
    const noFile = await s.http().post(`/api/v1/results/${id}/files`).set(auth()).set('Content-Type', `multipart/form-data; boundary=${other.boundary}`).send(other.body);
    expect(noFile.status).toBe(400);
    const notMultipart = await s.http().post(`/api/v1/results/${id}/files`).set(auth()).send({ file: 'x' });
    expect(notMultipart.status).toBe(400);
    const tooBig = await upload(id, 'huge.bin', Buffer.alloc(MAX_FILE + 1, 1));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({ code: 'payload_too_large', field: 'file', message: expect.stringContaining('MAX_RESULT_FILE_BYTES') });
    expect(filesUnder(join(dir, id))).toEqual([]);
    expect(filesUnder(join(dir, '.partial'))).toEqual([]);
    // Exactly the limit is fine.
    await upload(id, 'edge.bin', Buffer.alloc(MAX_FILE, 1)).expect(200);
    expect(filesUnder(join(dir, id))).toEqual(['edge.bin']);
  });

  it('names that could leave the task folder are refused, on upload and download (generated names)', async () => {
    const id = await pending();
    const victim = await pending();
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    await upload(victim, 'x.txt', Buffer.from('victim')).expect(200);
    const before = filesUnder(dir).sort();
    const escaping = fc.oneof(
      fc.constantFrom(
        '..',
        '.',
        '../secret.txt',
        `../${victim}/x.txt`,
        '..\\secret.txt',
        '/etc/passwd',
        'a/b',
        'a\\b',
        'nul\u0000.txt',
        'line\nbreak',
        'tab\t',
        '\u007f',
        '',
        'é'.repeat(128),
      ),
      fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom('/', '\\', '..', '\u0000', '\u001b', '\r'), fc.string({ maxLength: 10 })).map(([a, b, c]) => `${a}${b}${c}`),
      fc.string({ minLength: 256, maxLength: 300 }),
    );
    await fc.assert(
      fc.asyncProperty(escaping, async (name) => {
        expect(fileNameProblem(name)).not.toBeNull();
        const up = await upload(id, name, Buffer.from('evil'));
        expect(up.status).toBe(400);
        if (name !== '' && name !== '.' && name !== '..') {
          // '', '.' and '..' do not reach the route as a file name (other path, or no segment).
          const down = await s
            .http()
            .get(`/api/v1/results/${id}/files/${encodeURIComponent(name)}`)
            .set(auth());
          expect(down.status).toBe(400);
          expect(down.body.code).toBe('invalid_request');
        }
      }),
      { numRuns: 80 },
    );
    expect(filesUnder(dir).sort()).toEqual(before);
    // Generated acceptable names land exactly in the task's folder.
    const good = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((n) => fileNameProblem(n) === null);
    await fc.assert(
      fc.asyncProperty(good, async (name) => {
        const res = await upload(id, name, Buffer.from(name));
        expect(res.status).toBe(200);
        expect(res.body.name).toBe(name);
        expect(existsSync(join(dir, id, name))).toBe(true);
      }),
      { numRuns: 30 },
    );
    expect(
      filesUnder(dir)
        .filter((f) => !f.startsWith(`${id}/`))
        .sort(),
    ).toEqual(before);
  });

  it('ResultsService.remove(taskId) removes every file of the task and nothing else; again is harmless', async () => {
    const id = await pending();
    const keep = await pending();
    await upload(id, 'a.bin', Buffer.from('a')).expect(200);
    await postResult({ task_id: id, result: { text: 'z'.repeat(1100 * 1024) } }).expect(200);
    await upload(keep, 'b.bin', Buffer.from('b')).expect(200);
    expect(filesUnder(join(dir, id)).sort()).toEqual(['a.bin', 'result.json']);
    const results = s.app.get(ResultsService);
    await results.remove(id);
    expect(existsSync(join(dir, id))).toBe(false);
    expect((await s.http().get(`/api/v1/results/${id}/files`).set(auth()).expect(200)).body).toEqual([]);
    await results.remove(id);
    expect(filesUnder(join(dir, keep))).toEqual(['b.bin']);
    await expect(results.remove('../escape')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('results of a sharded task', () => {
  let dir: string;
  let s: TestStack;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mloc-results-shards-'));
    s = await new TestStack({ RESULTS_DIR: dir }).start();
  });
  afterAll(async () => {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shards' results posted over HTTP and reported without result are aggregated; GET of the parent shows the aggregation", async () => {
    const workers = [
      await s.worker({ id: 'g0', behaviour: 'hold', hardware: GPU_HW(['NVIDIA L4']) }),
      await s.worker({ id: 'g1', behaviour: 'hold', hardware: GPU_HW(['NVIDIA L4']) }),
    ];
    const doc = taskYaml({ name: 'sharded', taskType: 'inference', gpu: '{type: any, count: 1}', extraSpec: 'parallel: {enabled: true, max_shards: 2}\ndata: {prompts: [a, b]}' });
    const parentId = firstId(await s.submit(doc).expect(200));
    const shards = await Promise.all(workers.map((w) => w.waitForDispatch(1)));
    const parent = await s.task(parentId);
    expect(parent.children).toHaveLength(2);
    // The parent's result is the aggregation: nothing is posted over it.
    expect((await s.http().post('/api/v1/results').send({ task_id: parentId, result: 'x' }).expect(409)).body.code).toBe('conflict');
    for (const [i, msg] of shards.entries()) {
      await s.waitForStatus(msg.task_id, 'RUNNING');
      await s
        .http()
        .post('/api/v1/results')
        .send({ task_id: msg.task_id, result: { items: [`shard-${i}`] }, worker_id: workers[i].id })
        .expect(200);
      await workers[i].succeed(msg.task_id, null);
    }
    await s.waitForStatus(parentId, 'DONE');
    const view = (await s.http().get(`/api/v1/results/${parentId}`).expect(200)).body;
    expect(view).toMatchObject({ task_id: parentId, status: 'DONE', worker_id: null, metadata: null });
    expect(view.result.shards).toHaveLength(2);
    expect([...view.result.merged.items].sort()).toEqual(['shard-0', 'shard-1']);
  });
});
