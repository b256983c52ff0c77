import { SpecError } from '../../src/tasks/spec/task-draft';
import { loadWithYaml } from '../../src/tasks/spec/yaml-slow-path';
import { YamlThread } from '../../src/tasks/yaml-thread';
import { TestStack, taskYaml } from '../support/test-app';

/** What loading gives: the documents, or the refusal's path and message. */
async function outcome(load: () => unknown[] | Promise<unknown[]>) {
  try {
    return { documents: await load() };
  } catch (err) {
    return err instanceof SpecError ? { path: err.path, message: err.message } : { error: String(err) };
  }
}

/** `body` after enough comment lines to take it past the off-thread threshold. */
const big = (body: string) => `${'# padding to make the text big\n'.repeat(400)}${body}`;

describe('YamlThread: the slow YAML path on a worker thread', () => {
  const thread = new YamlThread();
  afterAll(() => thread.onModuleDestroy());

  it.each([
    ['a refusal for nesting', `a: ${'['.repeat(150)}${']'.repeat(150)}\n`],
    ['a duplicate key', 'kind: A\nkind: B\n'],
    ['a syntax error', 'spec: {a: 1\n'],
    ['an alias bomb', `a: &a [1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n`],
    ['documents', `${taskYaml({ name: 'one' })}---\n${taskYaml({ name: 'two' })}`],
    ['a self-referencing alias', 'spec: &s {again: *s}\n'],
  ])('gives exactly what loadWithYaml gives, off the thread: %s', async (_what, body) => {
    const text = big(body);
    expect(text.length).toBeGreaterThanOrEqual(thread.minBytes);
    const expected = await outcome(() => loadWithYaml(text));
    expect(await outcome(() => thread.load(text, {}))).toStrictEqual(expected);
  });

  it('refuses a text that needs more memory than the thread may use, and loads the next one', async () => {
    const small = new YamlThread();
    try {
      small.maxHeapMb = 128;
      // 1 MB of `- `: about 300 MB of CST.
      expect(await outcome(() => small.load('- '.repeat(500_000), {}))).toEqual({ path: '', message: 'Task document is too complex to load: it needs more than 128 MB of memory' });
      // The thread was replaced: a text that fits loads.
      const text = big(taskYaml({ name: 'next' }));
      expect(await outcome(() => small.load(text, {}))).toStrictEqual(await outcome(() => loadWithYaml(text)));
    } finally {
      await small.onModuleDestroy();
    }
  });

  it('refuses flow collections nested thousands deep from the lexer, without building them', async () => {
    // 1 MB of `[` used to take 900 MB and 5 s; refused where the nesting goes beyond 100 levels (its 99th bracket).
    expect(await outcome(() => thread.load(`a:\n  b: ${'['.repeat(1_000_000)}`, {}))).toEqual({
      path: '',
      message: 'Task document is nested too deeply (more than 100 levels) (line 2, column 104)',
    });
  });

  it('refuses a text that takes too long, replaces the thread, and loads the next one', async () => {
    const slow = new YamlThread();
    try {
      slow.timeoutMs = 1;
      expect(await outcome(() => slow.load('- '.repeat(100_000), {}))).toEqual({ path: '', message: 'Task document is too complex to load: it took longer than 0.001 s' });
      slow.timeoutMs = 10_000;
      const text = big(taskYaml({ name: 'after' }));
      expect(await outcome(() => slow.load(text, {}))).toStrictEqual(await outcome(() => loadWithYaml(text)));
    } finally {
      await slow.onModuleDestroy();
    }
  });
});

describe('POST /api/v1/tasks with a big text on the slow path', () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await new TestStack().start();
  });
  afterAll(() => s.stop());

  it('answers other requests while it loads, then refuses it with 400', async () => {
    // 400 KB of `- `: about a second of work on the yaml path, which used to hold the event loop throughout.
    const order: string[] = [];
    const submission = s.submit('- '.repeat(200_000)).then((res) => {
      order.push('submission');
      return res;
    });
    for (let i = 0; i < 3; i++) {
      expect((await s.http().get('/healthz')).status).toBe(200);
      order.push('healthz');
    }
    const res = await submission;
    expect(res.status).toBe(400);
    expect(res.body.message ?? JSON.stringify(res.body)).toMatch(/nested too deeply/);
    expect(order).toEqual(['healthz', 'healthz', 'healthz', 'submission']);
  });
});
