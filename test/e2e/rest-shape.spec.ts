import fc from 'fast-check';
import { rawDocumentOf, splitYamlDocuments } from '../../src/tasks/spec/raw-documents';
import { CPU_HW, GPU_HW } from '../support/fake-worker';
import { taskIds as ids, TestStack, taskYaml } from '../support/test-app';

/** The record fields of the dd27001 orchestrator, each with its meaning, kept next to ours. */
const SEED_FIELDS = [
  'task_id',
  'raw_yaml',
  'parsed',
  'status',
  'assigned_worker',
  'topic',
  'submitted_at',
  'error',
  'retries',
  'max_retries',
  'parent_task_id',
  'shard_index',
  'shard_total',
];

describe("the seed's REST shape (dd27001 record fields) and list summaries", () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  const list = (query = '') => s.http().get(`/api/v1/tasks${query}`).set(s.authHeader()).expect(200);

  it('GET a task has every dd27001 field with its meaning; raw_yaml is the document as submitted', async () => {
    const yaml = `# a comment kept as sent\n${taskYaml({ name: 'seed' })}`;
    const id = ids(await s.submit(yaml).expect(200))[0];
    const t = await s.task(id);
    for (const f of SEED_FIELDS) expect(t).toHaveProperty(f);
    expect(t).toMatchObject({
      task_id: id,
      raw_yaml: yaml,
      status: 'PENDING',
      assigned_worker: null,
      topic: 'tasks',
      error: null,
      retries: 0,
      max_retries: 3,
      parent_task_id: null,
      shard_index: null,
      shard_total: null,
    });
    expect(t.parsed).toEqual(t.task);
    expect(t.parsed.metadata.name).toBe('seed');
    expect(Date.parse(t.submitted_at)).not.toBeNaN();
  });

  it('multi-document: each task has its own document; a pipeline stage has the pipeline document', async () => {
    const one = taskYaml({ name: 'one' });
    const pipeline = `${taskYaml({ name: 'pipe' })}  stages: [{name: a}, {name: b}]\n`;
    const two = taskYaml({ name: 'two' });
    const text = `${one}---\n${pipeline}--- # third\n${two}...\n`;
    const res = await s.submit(text).expect(200);
    const [t1, a, b, t2] = await Promise.all(ids(res).map((id) => s.task(id)));
    expect(t1.raw_yaml).toBe(one);
    expect(a.raw_yaml).toBe(pipeline);
    expect(b.raw_yaml).toBe(pipeline);
    // The text after a document marker belongs to the document it opens.
    expect(t2.raw_yaml).toBe(`# third\n${two}`);
    expect(b.parsed.metadata.name).toBe('pipe:b');
    // The full list resolves the shared text too.
    const full = await list('?include=task');
    expect(new Map(full.body.map((r: { task_id: string; raw_yaml: string }) => [r.task_id, r.raw_yaml]))).toEqual(
      new Map([
        [t1.task_id, one],
        [a.task_id, pipeline],
        [b.task_id, pipeline],
        [t2.task_id, `# third\n${two}`],
      ]),
    );
  });

  it('a document with a secret keeps no raw_yaml (its value is never shown)', async () => {
    const id = ids(await s.submit(taskYaml({ extraSpec: 'model: {hf_token: hf_SECRETVALUE}' })).expect(200))[0];
    const t = await s.task(id);
    expect(t.raw_yaml).toBeNull();
    expect(JSON.stringify(t)).not.toContain('hf_SECRETVALUE');
  });

  it('a client that picks the shards of a parent by parent_task_id in the list finds them', async () => {
    for (let i = 0; i < 3; i++) await s.worker({ id: `g${i}`, hardware: GPU_HW(['NVIDIA L4']), behaviour: 'hold' });
    const res = await s
      .submit(taskYaml({ name: 'sharded', taskType: 'inference', gpu: '{type: any, count: 1}', extraSpec: 'parallel: {enabled: true, max_shards: 3}\ndata: {prompts: [a, b, c]}' }))
      .expect(200);
    const parentId = ids(res)[0];
    const parent = await s.waitForStatus(parentId, 'RUNNING');
    expect(parent.shard_total).toBe(3);
    for (const query of ['', '?include=task', '?fields=task_id,parent_task_id,shard_index,shard_total']) {
      const shards = (await list(query)).body.filter((r: { parent_task_id: string | null }) => r.parent_task_id === parentId);
      expect(shards.map((r: { shard_index: number }) => r.shard_index).sort()).toEqual([0, 1, 2]);
      for (const r of shards) {
        expect(r.shard_total).toBe(3);
        if (query.startsWith('?fields')) expect(Object.keys(r).sort()).toEqual(['parent_task_id', 'shard_index', 'shard_total', 'task_id']);
        else expect(r.parent_id).toBe(parentId);
      }
    }
  });

  it('the list is a summary by default (no document), the full records with include=task, the fields asked for with fields=', async () => {
    await s.worker({ id: 'w', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    const id = ids(await s.submit(taskYaml({ name: 'listed' })).expect(200))[0];
    const full = await s.waitForStatus(id, 'RUNNING');
    const summary = (await list()).body;
    expect(summary).toHaveLength(1);
    for (const f of ['task', 'parsed', 'raw_yaml', 'result']) expect(summary[0]).not.toHaveProperty(f);
    const { task, parsed, raw_yaml, result, ...rest } = full;
    void [task, parsed, raw_yaml, result];
    expect(summary[0]).toEqual(rest);
    // The previous shape, with the documents: ?include=task.
    expect((await list('?include=task')).body).toEqual([full]);
    expect((await list('?fields=status,parent_task_id')).body).toEqual([{ task_id: id, status: 'RUNNING', parent_task_id: null }]);
    expect((await list('?fields=raw_yaml')).body).toEqual([{ task_id: id, raw_yaml: full.raw_yaml }]);
    // Filters still apply with a summary.
    expect((await list('?status=PENDING')).body).toEqual([]);
    expect((await list('?name=list&status=running&fields=name')).body).toEqual([{ task_id: id, name: 'listed' }]);
  });

  it('refuses a bad include or fields with 400 naming the parameter', async () => {
    for (const [query, field] of [
      ['?include=all', 'include'],
      ['?fields=task_id,nope', 'fields'],
      ['?fields=a&fields=b', 'fields'],
      ['?include=task&include=task', 'include'],
    ]) {
      const res = await s.http().get(`/api/v1/tasks${query}`).set(s.authHeader()).expect(400);
      expect(res.body).toMatchObject({ code: 'invalid_request', field });
    }
  });
});

describe('POST /api/v1/tasks/{id}/retry', () => {
  let s: TestStack;
  beforeEach(async () => {
    s = await new TestStack().start();
  });
  afterEach(() => s.stop());

  const retry = (id: string) => s.http().post(`/api/v1/tasks/${id}/retry`).set(s.authHeader());

  it('re-submits a FAILED task as a new task linked both ways, which runs', async () => {
    const w = await s.worker({ id: 'w', hardware: CPU_HW(8, 32), behaviour: 'fail' });
    const yaml = taskYaml({ name: 'flaky', extraSpec: 'retry: {maxRetries: 0}' });
    const oldId = ids(await s.submit(yaml).expect(200))[0];
    await s.waitForStatus(oldId, 'FAILED');
    w.setBehaviour('succeed');
    const res = await retry(oldId).expect(200);
    const newId = res.body.task_id;
    expect(newId).not.toBe(oldId);
    expect(res.body).toMatchObject({ retry_of: oldId, retried_by: null, name: 'flaky', retries: 0, attempts: [], raw_yaml: yaml, max_retries: 0 });
    expect(res.body.task).toEqual((await s.task(oldId)).task);
    expect((await s.task(oldId)).retried_by).toBe(newId);
    await s.waitForStatus(newId, 'DONE');
    // Once: a second retry of the old task names the first.
    const again = await retry(oldId).expect(409);
    expect(again.body.message).toContain(newId);
  });

  it('re-submits a CANCELLED task; 409 for DONE and unfinished tasks; 404 for unknown or malformed ids', async () => {
    const w = await s.worker({ id: 'w', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    const running = ids(await s.submit(taskYaml({ name: 'running' })).expect(200))[0];
    expect((await retry(running).expect(409)).body.code).toBe('conflict');
    const queued = ids(await s.submit(taskYaml({ name: 'queued' })).expect(200))[0];
    expect((await retry(queued).expect(409)).body.code).toBe('conflict');
    await s.http().post(`/api/v1/tasks/${queued}/cancel`).set(s.authHeader()).expect(200);
    const res = await retry(queued).expect(200);
    expect(res.body).toMatchObject({ retry_of: queued, status: 'PENDING' });
    expect((await s.task(queued)).retried_by).toBe(res.body.task_id);

    await w.succeed(running);
    await s.waitForStatus(running, 'DONE');
    expect((await retry(running).expect(409)).body.message).toMatch(/DONE/);
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-task', '..%2F..']) expect((await retry(id).expect(404)).body.code).toBe('not_found');
  });
});

describe('raw_yaml: splitting a submission into its documents (generated)', () => {
  // A document: lines of `key: value`, block scalars whose indented lines may look like separators, comments.
  const line = fc.oneof(
    fc
      .tuple(
        fc.stringMatching(/^[a-z]{1,8}$/),
        fc.string({ maxLength: 12 }).map((v) => JSON.stringify(v)),
      )
      .map(([k, v]) => `${k}: ${v}`),
    fc.stringMatching(/^[a-z]{1,8}$/).map((k) => `${k}: |\n  ---\n  ...\n  text`),
    fc.string({ maxLength: 12 }).map((c) => `# ${c.replace(/[\r\n]/g, ' ')}`),
  );
  const doc = fc.array(line, { minLength: 1, maxLength: 6 }).map((ls) => `${ls.join('\n')}\n`);
  const hasContent = (d: string) => d.split('\n').some((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));

  it('gives back each non-empty document as written, whatever the separators', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(doc, fc.constantFrom('---\n', '--- \n', '...\n---\n', '---\r\n')), { minLength: 1, maxLength: 6 }), (parts) => {
        const text = parts.map(([d, sep], i) => (i === 0 ? d : `${sep}${d}`)).join('');
        expect(splitYamlDocuments(text)).toEqual(parts.map(([d]) => d).filter(hasContent));
      }),
    );
  });

  it('gives every task the whole text when the split does not match the parsed documents', () => {
    expect(rawDocumentOf('a: 1\n---\nb: 2\n', ['d0', 'd1', 'd2'])('d2')).toBe('a: 1\n---\nb: 2\n');
    expect(rawDocumentOf('a: 1\n---\nb: 2\n', ['d0', 'd1/x', 'd1/y'])('d1/y')).toBe('b: 2\n');
    expect(rawDocumentOf('--- a: 1\n', ['d0'])('d0')).toBe('--- a: 1\n');
  });
});
