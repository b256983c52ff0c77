/** The built-in executors, called directly; `inference` against a loopback OpenAI-compatible stub. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlmStub, STUB_MODEL } from '../support/llm-stub';
import { CommandExecutor } from '../../src/agent/executors/command';
import { EchoExecutor } from '../../src/agent/executors/echo';
import { ExecutionContext, ExecutorSettings } from '../../src/agent/executors/executor';
import { defaultRegistry } from '../../src/agent/executors';
import { InferenceExecutor } from '../../src/agent/executors/inference';
import { silentLogger } from '../../src/agent/logger';
import { waitFor } from '../support/wait-for';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mloc-exec-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const noSettings: ExecutorSettings = { openaiBaseUrl: null, openaiApiKey: null };

function context(spec: Record<string, unknown>, opts: { signal?: AbortSignal; settings?: ExecutorSettings } = {}): ExecutionContext {
  return {
    taskId: 'task-1',
    attempt: 1,
    task: { apiVersion: 'mloc/v1', kind: 'Test', metadata: { name: 'x' }, spec },
    spec,
    outputDir: dir,
    signal: opts.signal ?? new AbortController().signal,
    log: silentLogger,
    settings: opts.settings ?? noSettings,
  };
}

describe('registry', () => {
  it('maps task types case-insensitively; chat is an alias of inference', () => {
    const r = defaultRegistry();
    expect(r.types()).toEqual(['chat', 'command', 'echo', 'inference']);
    expect(r.get('Inference')).toBe(r.get('chat'));
    expect(r.get('sft')).toBeUndefined();
  });
});

describe('echo', () => {
  it('returns its inputs; a shard not carved by the orchestrator takes only its chunk', async () => {
    const items = [1, 2, 3, 4, 5];
    expect(await new EchoExecutor().run(context({ data: { items } }))).toEqual({ items });
    const uncarved = await new EchoExecutor().run(context({ data: { prompts: items }, shard: { index: 2, total: 3 } }));
    expect(uncarved).toEqual({ items: [5], shard: { index: 2, total: 3 } });
    const carved = await new EchoExecutor().run(context({ data: { items: [5], split: 'train[50%:100%]' }, shard: { index: 2, total: 3, carved: true } }));
    expect(carved).toEqual({ items: [5], shard: { index: 2, total: 3 }, split: 'train[50%:100%]' });
  });
});

describe('command', () => {
  const node = (script: string) => [process.execPath, '-e', script];

  it('runs argv without a shell, in the output directory, with spec.env; streams output to files', async () => {
    const out = await new CommandExecutor().run(
      context({
        command: [...node('console.log(process.cwd(), process.env.GREETING, process.env.MLOC_TASK_ID, process.argv[1]); console.error("warn")'), '$HOME;*'],
        env: { GREETING: 'hi' },
      }),
    );
    expect(out).toMatchObject({ exit_code: 0, stdout: 'stdout.log', stderr: 'stderr.log' });
    expect(readFileSync(join(dir, 'stdout.log'), 'utf8')).toBe(`${dir} hi task-1 $HOME;*\n`);
    expect(readFileSync(join(dir, 'stderr.log'), 'utf8')).toBe('warn\n');
    expect(out.stdout_tail).toBe(`${dir} hi task-1 $HOME;*`);
  });

  it('fails on a non-zero exit with the tail of stderr', async () => {
    await expect(new CommandExecutor().run(context({ command: node('console.error("disk full"); process.exit(3)') }))).rejects.toThrow('command exited with code 3: disk full');
  });

  it.each([
    ['a string', 'echo hi', /not a string: commands never run through a shell/],
    ['an empty list', [], /non-empty list/],
    ['a missing program', ['/no/such/program'], /cannot start \/no\/such\/program: .*ENOENT/],
  ])('refuses %s', async (_what, command, error) => {
    await expect(new CommandExecutor().run(context({ command }))).rejects.toThrow(error);
  });

  it('kills the command and what it started when the task is aborted', async () => {
    const abort = new AbortController();
    const pidFile = join(dir, 'grandchild.pid');
    // Starts a grandchild, ignores SIGTERM itself: only SIGKILL of the whole group stops both.
    const script = [
      `const child = require("child_process").spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });`,
      `require("fs").writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));`,
      'process.on("SIGTERM", () => {});',
      'setTimeout(() => {}, 60000);',
    ].join('\n');
    const settled = new CommandExecutor(200).run(context({ command: node(script) }, { signal: abort.signal })).catch((e: Error) => e);
    const grandchild = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8'), { what: 'grandchild started' }));
    abort.abort(new Error('stop now'));
    expect(((await settled) as Error).message).toBe('stop now');
    await waitFor(() => !isAlive(grandchild), { what: 'grandchild killed', timeoutMs: 3000 });
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('inference', () => {
  let stub: LlmStub | undefined;
  afterEach(async () => {
    await stub?.stop();
    stub = undefined;
  });

  const prompts = ['one', 'two words', 'three little words', 'four', 'five', 'six'];

  it('answers every input in order, bounded by spec.inference.concurrency, and sums usage', async () => {
    stub = await new LlmStub({ latencyMs: 40 }).start();
    const out = await new InferenceExecutor().run(
      context({
        data: { prompts },
        model: { endpoint: stub.url, source: { identifier: 'org/model-7b' } },
        inference: { concurrency: 2, max_tokens: 16, temperature: 0.1, system_prompt: 'Be brief.' },
      }),
    );
    expect(out.items!.map((i: any) => i.input)).toEqual(prompts);
    expect((out.items![1] as any).output).toBe('stub answer to "two words" (2 words)');
    expect(out.model).toBe('org/model-7b');
    expect(stub.maxInFlight).toBe(2);
    const sent = stub.requests[0].body;
    expect(sent).toMatchObject({ model: 'org/model-7b', max_tokens: 16, temperature: 0.1 });
    expect(sent).not.toHaveProperty('concurrency');
    expect(sent.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: expect.any(String) },
    ]);
    const itemTotal = out.items!.reduce((n: number, i: any) => n + i.usage.total_tokens, 0);
    expect(out.usage!.total_tokens).toBe(itemTotal);
  });

  it('retries a transient 503 and succeeds', async () => {
    stub = await new LlmStub({ failFirst: 1 }).start();
    const out = await new InferenceExecutor().run(
      context({ data: { items: ['hello'] }, inference: { retry_backoff_sec: 0.01 } }, { settings: { openaiBaseUrl: stub.url, openaiApiKey: null } }),
    );
    expect(stub.requests).toHaveLength(2);
    expect(out.items).toHaveLength(1);
    expect(out.model).toBe(STUB_MODEL);
  });

  it('gives up after max_retries transient failures, naming the input and the status', async () => {
    stub = await new LlmStub({ failFirst: 10 }).start();
    const run = new InferenceExecutor().run(context({ data: { items: ['x'] }, model: { endpoint: stub.url }, inference: { max_retries: 2, retry_backoff_sec: 0.01 } }));
    await expect(run).rejects.toThrow(/^input 1 of 1: HTTP 503 .*overloaded.*\(after 3 attempts\)$/);
    expect(stub.requests).toHaveLength(3);
  });

  it('does not retry a client error', async () => {
    stub = await new LlmStub({ failFirst: 5, failStatus: 400 }).start();
    const run = new InferenceExecutor().run(context({ data: { items: ['x'] }, model: { endpoint: stub.url } }));
    await expect(run).rejects.toThrow(/^input 1 of 1: HTTP 400 .*failing with 400 as told"}}$/);
    expect(stub.requests).toHaveLength(1);
  });

  it('retries network errors too', async () => {
    stub = await new LlmStub().start();
    // A port that was just closed: connections are refused.
    await stub.stop();
    const run = new InferenceExecutor().run(context({ data: { items: ['x'] }, model: { endpoint: stub.url }, inference: { max_retries: 1, retry_backoff_sec: 0.01 } }));
    await expect(run).rejects.toThrow(/^input 1 of 1: request to http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions failed: ECONNREFUSED \(after 2 attempts\)$/);
  });

  it('sends OPENAI_API_KEY only to the OPENAI_BASE_URL origin, never to an endpoint a task names', async () => {
    stub = await new LlmStub().start();
    const other = await new LlmStub().start();
    const settings = { openaiBaseUrl: stub.url, openaiApiKey: 'sk-secret' };
    await new InferenceExecutor().run(context({ data: { items: ['a'] } }, { settings }));
    await new InferenceExecutor().run(context({ data: { items: ['b'] }, model: { endpoint: other.url } }, { settings }));
    expect(stub.requests[0].authorization).toBe('Bearer sk-secret');
    expect(other.requests[0].authorization).toBeNull();
    await other.stop();
  });

  it('fails clearly on a dataset it cannot read, and without an endpoint', async () => {
    const dataset = context({ data: { type: 'dataset', url: 'openai/gsm8k', split: 'train[0%:0.5%]' }, model: { endpoint: 'http://127.0.0.1:9/v1' } });
    await expect(new InferenceExecutor().run(dataset)).rejects.toThrow('cannot read dataset openai/gsm8k split train[0%:0.5%]');
    await expect(new InferenceExecutor().run(context({ data: { items: ['x'] } }))).rejects.toThrow(/no inference endpoint: set spec.model.endpoint .* or OPENAI_BASE_URL/);
  });
});
