/**
 * The real orchestrator (in-process TestStack) with REAL worker processes (`node dist/agent/main.js`):
 * what a user sees when our worker runs pipelines, graphs, sharded jobs, retries, timeouts, and
 * workers that stop or die mid-task. Two workers speak the durable variant (the default), `cpu-2`
 * speaks v1 (WORKER_PROTOCOL=1): both serve one cluster. test/agent/e2e-v2.spec.ts covers what
 * only v2 can do (restarts of the orchestrator or of a worker mid-task).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENTS_STREAM_KEY, workerKey } from '../../src/contracts/protocol';
import { LlmStub } from '../support/llm-stub';
import { TestStack } from '../support/test-app';
import { waitFor } from '../support/wait-for';
import { ensureBuilt } from './support/built';
import { CPU_ONLY_JSON, GPU_L4_JSON, taskDoc } from './support/docs';
import { allIdle as allIdleIn } from './support/idle';
import { WorkerProcess } from './support/worker-process';

jest.setTimeout(60_000);

const ids = (res: { body: { tasks: { task_id: string }[] } }) => res.body.tasks.map((t) => t.task_id);
const node = (script: string) => [process.execPath, '-e', script];

describe('our worker with the real orchestrator', () => {
  // Stale after 2 s without a heartbeat (workers beat every 0.5 s), so a killed worker is noticed fast.
  const stack = new TestStack({ HEARTBEAT_TTL_SEC: '2', DISPATCH_ACK_TIMEOUT_SEC: '5' });
  const stub = new LlmStub();
  const workers = new Map<string, WorkerProcess>();
  let shared: string;
  let resultsDir: string;

  const startWorker = async (id: string, hardwareJson: string, env: Record<string, string> = {}) => {
    const w = new WorkerProcess(id, { REDIS_URL: stack.redis.url, RESULTS_DIR: resultsDir, WORKER_HARDWARE_JSON: hardwareJson, OPENAI_BASE_URL: stub.url, ...env });
    workers.set(id, w);
    await waitFor(async () => (await stack.http().get(`/workers/${id}`)).body.status === 'IDLE', { what: `worker ${id} IDLE`, timeoutMs: 15_000 });
    return w;
  };
  const allIdle = () => allIdleIn(stack, workers.size);
  /** The three workers every test may count on; a test that stops one, the afterEach starts again. */
  const FLEET: [string, string, Record<string, string>][] = [
    ['gpu', GPU_L4_JSON, {}],
    ['cpu-1', CPU_ONLY_JSON, {}],
    ['cpu-2', CPU_ONLY_JSON, { WORKER_PROTOCOL: '1' }],
  ];
  const restoreFleet = async () => {
    const missing = FLEET.filter(([id]) => !workers.has(id));
    if (missing.length === 0) return;
    // A killed worker stays registered (stale) until cleaned up; its successor starts afresh.
    await waitFor(
      async () => {
        await stack.http().post('/admin/cleanup');
        const statuses = await Promise.all(missing.map(async ([id]) => (await stack.http().get(`/workers/${id}`)).status));
        return statuses.every((st) => st === 404);
      },
      { what: 'the stopped workers gone from the registry', timeoutMs: 15_000 },
    );
    await Promise.all(missing.map(([id, hw, env]) => startWorker(id, hw, env)));
  };

  beforeAll(async () => {
    ensureBuilt();
    shared = mkdtempSync(join(tmpdir(), 'mloc-e2e-'));
    resultsDir = join(shared, 'results');
    await Promise.all([stack.start(), stub.start()]);
    await restoreFleet();
  });
  afterEach(() => restoreFleet());
  afterAll(async () => {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    await Promise.all([stack.stop(), stub.stop()]);
    rmSync(shared, { recursive: true, force: true });
  });
  it('fans a sharded inference job out over all three workers; the parent lists every answer in order', async () => {
    await allIdle();
    const prompts = ['alpha', 'beta gamma', 'delta', 'epsilon zeta eta', 'theta', 'iota', 'kappa lambda'];
    const requestsBefore = stub.requests.length;
    const res = await stack.submit(taskDoc('sharded', { taskType: 'inference', parallel: { enabled: true, max_shards: 3 }, data: { prompts }, inference: { concurrency: 2 } }));
    const parent = await stack.waitForStatus(ids(res)[0], 'DONE', 20_000);
    expect(parent.strategy).toBe('data-parallel');
    expect(parent.children).toHaveLength(3);
    expect(parent.result.merged.items.map((i: { input: string }) => i.input)).toEqual(prompts);
    expect(parent.result.merged.items[3].output).toBe('stub answer to "epsilon zeta eta" (3 words)');
    const shards = await Promise.all(parent.children.map((id: string) => stack.task(id)));
    expect(new Set(shards.map((s) => s.assigned_worker))).toEqual(new Set(['gpu', 'cpu-1', 'cpu-2']));
    const perShard = shards.map((s) => s.result.items.length);
    expect(perShard).toEqual([3, 2, 2]);
    const tokens = shards.reduce((n, s) => n + s.result.usage.total_tokens, 0);
    expect(parent.result.merged.usage.total_tokens).toBe(tokens);
    expect(stub.requests.length - requestsBefore).toBe(prompts.length);

    // One shard each over both protocols: cpu-2 (v1) answered on tasks.events only, the others on the stream.
    const redis = stack.redis.client();
    try {
      const protocols = await Promise.all(['gpu', 'cpu-1', 'cpu-2'].map((id) => redis.hget(workerKey(id), 'protocol')));
      expect(protocols).toEqual(['2', '2', null]);
      const streamed = (await redis.xrange(EVENTS_STREAM_KEY, '-', '+')).map(([, f]) => JSON.parse(f[1])).filter((e) => e.type === 'TASK_SUCCEEDED');
      expect(new Set(streamed.filter((e) => parent.children.includes(e.task_id)).map((e) => e.worker_id))).toEqual(new Set(['gpu', 'cpu-1']));
    } finally {
      redis.disconnect();
    }
  });

  it('runs a three-stage pipeline strictly in order, the GPU stage on the GPU machine, each writing responses.json', async () => {
    const res = await stack.submit(
      taskDoc('pipe', {
        taskType: 'echo',
        stages: [
          { name: 'fetch', spec: { data: { items: ['raw'] }, echo: { delaySec: 0.2 } } },
          { name: 'train', spec: { data: { items: ['model'] }, resources: { hardware: { gpu: { type: 'l4', count: 1 } } } } },
          { name: 'report', spec: { data: { items: ['pdf'] } } },
        ],
      }),
    );
    const [fetch, train, report] = ids(res);
    const done = [await stack.waitForStatus(fetch, 'DONE'), await stack.waitForStatus(train, 'DONE'), await stack.waitForStatus(report, 'DONE')];
    expect(done.map((t) => t.name)).toEqual(['pipe:fetch', 'pipe:train', 'pipe:report']);
    expect(done[1].assigned_worker).toBe('gpu');
    expect(Date.parse(done[1].started_at)).toBeGreaterThanOrEqual(Date.parse(done[0].finished_at));
    expect(Date.parse(done[2].started_at)).toBeGreaterThanOrEqual(Date.parse(done[1].finished_at));
    expect(done.map((t) => t.result.items)).toEqual([['raw'], ['model'], ['pdf']]);
    for (const t of done) expect(JSON.parse(readFileSync(join(resultsDir, t.task_id, 'responses.json'), 'utf8')).items).toEqual(t.result.items);
  });

  it('runs a graph: the join waits for both branches, which run side by side', async () => {
    const res = await stack.submit(
      taskDoc('dag', {
        taskType: 'echo',
        graph: {
          nodes: [
            { name: 'prepare', spec: { data: { items: [0] } } },
            { name: 'left', dependsOn: ['prepare'], spec: { data: { items: ['L'] }, echo: { delaySec: 0.5 } } },
            { name: 'right', dependsOn: ['prepare'], spec: { data: { items: ['R'] }, echo: { delaySec: 0.5 } } },
            { name: 'join', dependsOn: ['left', 'right'], spec: { data: { items: ['LR'] } } },
          ],
        },
      }),
    );
    const [prepare, left, right, join_] = await Promise.all(ids(res).map((id) => stack.waitForStatus(id, 'DONE')));
    expect(Date.parse(left.started_at)).toBeGreaterThanOrEqual(Date.parse(prepare.finished_at));
    expect(Date.parse(join_.started_at)).toBeGreaterThanOrEqual(Math.max(Date.parse(left.finished_at), Date.parse(right.finished_at)));
    expect(left.assigned_worker).not.toBe(right.assigned_worker);
    expect(Date.parse(left.started_at)).toBeLessThan(Date.parse(right.finished_at));
  });

  it('retries a command that fails once on another worker, where it succeeds', async () => {
    const marker = join(shared, 'failed-once');
    const script = [
      'const fs = require("fs");',
      'if (!fs.existsSync(process.env.MARKER)) { fs.writeFileSync(process.env.MARKER, ""); console.error("first attempt fails on purpose"); process.exit(3); }',
      'console.log("second attempt works");',
    ].join('\n');
    const res = await stack.submit(taskDoc('flaky', { taskType: 'command', command: node(script), env: { MARKER: marker } }));
    const t = await stack.waitForStatus(ids(res)[0], 'DONE', 15_000);
    expect(t.attempts[0]).toMatchObject({ outcome: 'failed', error: 'command exited with code 3: first attempt fails on purpose' });
    expect(t.assigned_worker).not.toBe(t.attempts[0].worker);
    expect(t.result).toMatchObject({ exit_code: 0, stdout_tail: 'second attempt works' });
    expect(readFileSync(join(resultsDir, t.task_id, 'stdout.log'), 'utf8')).toBe('second attempt works\n');
  });

  it('stops a task at spec.timeoutSec and fails it with a clear error', async () => {
    const res = await stack.submit(taskDoc('slow', { taskType: 'command', command: node('setTimeout(() => {}, 60000)'), timeoutSec: 1, retry: { maxRetries: 0 } }));
    const t = await stack.waitForStatus(ids(res)[0], 'FAILED', 10_000);
    expect(t.error).toBe('task exceeded spec.timeoutSec (1 s) and was stopped');
  });

  it('a taskType no worker has an executor for is never sent: it waits, naming the type (issue 12)', async () => {
    const res = await stack.submit(taskDoc('odd', { taskType: 'quantum_annealing', retry: { maxRetries: 0 } }));
    const id = ids(res)[0];
    const t = await waitFor(
      async () => {
        const task = await stack.task(id);
        return task.unschedulable ? task : null;
      },
      { what: 'the task to be unschedulable' },
    );
    // Our workers advertise their executors (env.executors): none runs this type.
    expect(t).toMatchObject({ status: 'PENDING', attempt: 0, retries: 0 });
    expect(t.unschedulable).toMatch(/^no registered worker runs task type "quantum_annealing" \(workers advertise: .*echo/);
    await stack.http().post(`/api/v1/tasks/${id}/cancel`).set(stack.authHeader());
  });

  it('SIGTERM mid-task: the task is handed back at once and finishes elsewhere; the worker unregisters and exits 0', async () => {
    await allIdle();
    // The first attempt would run for a minute; any retry finishes at once.
    const script = 'if (process.env.MLOC_ATTEMPT === "1") setTimeout(() => {}, 60000);';
    const res = await stack.submit(taskDoc('interrupted', { taskType: 'command', command: node(script) }));
    const running = await stack.waitForStatus(ids(res)[0], 'RUNNING');
    const victim = workers.get(running.assigned_worker)!;
    expect(await victim.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    workers.delete(victim.id);
    const t = await stack.waitForStatus(running.task_id, 'DONE');
    // Handed back by the worker's own report, not recovered by a staleness or acknowledgement
    // timeout (those would say "lost" or "acknowledge").
    expect(t.attempts[0]).toMatchObject({ worker: victim.id, outcome: 'failed', error: 'worker shutting down' });
    expect(t.assigned_worker).not.toBe(victim.id);
    expect((await stack.http().get(`/workers/${victim.id}`)).status).toBe(404);
  });

  it('SIGKILL mid-task: once the worker is stale, its task is placed elsewhere and finishes', async () => {
    await allIdle();
    const res = await stack.submit(taskDoc('doomed', { taskType: 'echo', echo: { delaySec: 1 }, data: { items: ['survivor'] } }));
    const running = await stack.waitForStatus(ids(res)[0], 'RUNNING');
    const victim = workers.get(running.assigned_worker)!;
    await victim.stop('SIGKILL');
    workers.delete(victim.id);
    const t = await stack.waitForStatus(running.task_id, 'DONE', 20_000);
    expect(t.attempts[0]).toMatchObject({ worker: victim.id, outcome: 'failed' });
    expect(t.attempts[0].error).toMatch(/lost/);
    expect(t.assigned_worker).not.toBe(victim.id);
    expect(t.result.items).toEqual(['survivor']);
    expect(existsSync(join(resultsDir, t.task_id, 'responses.json'))).toBe(true);
  });
});

describe('the worker process', () => {
  beforeAll(() => ensureBuilt());

  it('exits with code 2 and one line naming the variable on bad configuration', async () => {
    const w = new WorkerProcess('bad', { REDIS_URL: 'http://not-redis' });
    expect(await w.exited).toEqual({ code: 2, signal: null });
    expect(w.output).toBe('configuration error: REDIS_URL: unsupported scheme "http:" (expected redis:// or rediss://)\n');
  });
});
