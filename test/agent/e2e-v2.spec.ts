/**
 * The real orchestrator (in-process TestStack) with REAL worker processes in their default mode, the
 * durable variant (v2): tasks go through the workers' inboxes and the event stream, a report made
 * while no orchestrator runs is applied by the next one, and a worker killed mid-task reports the
 * attempt it could not finish when it comes back under the same id.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { EVENTS_STREAM_GROUP, EVENTS_STREAM_KEY, workerInboxKey, workerKey, workerProcessingKey } from '../../src/contracts/protocol';
import { TestStack } from '../support/test-app';
import { waitFor } from '../support/wait-for';
import { ensureBuilt } from './support/built';
import { CPU_ONLY_JSON, taskDoc } from './support/docs';
import { allIdle as allIdleIn } from './support/idle';
import { WorkerProcess } from './support/worker-process';

jest.setTimeout(60_000);

const firstId = (res: { body: { tasks: { task_id: string }[] } }) => res.body.tasks[0].task_id;

describe('our worker, durable variant (v2), with the real orchestrator', () => {
  // Stale after 2 s without a heartbeat (workers beat every 0.5 s); no periodic cleanup during the
  // tests, so a killed worker's processing list is still there when it comes back.
  const stack = new TestStack({ HEARTBEAT_TTL_SEC: '2', DISPATCH_ACK_TIMEOUT_SEC: '5', CLEANUP_INTERVAL_SEC: '3600' });
  const workers = new Map<string, WorkerProcess>();
  let redis: Redis;
  let shared: string;

  const startWorker = async (id: string) => {
    const w = new WorkerProcess(id, { REDIS_URL: stack.redis.url, RESULTS_DIR: join(shared, 'results'), WORKER_HARDWARE_JSON: CPU_ONLY_JSON });
    workers.set(id, w);
    await waitFor(async () => (await stack.http().get(`/workers/${id}`)).body.status === 'IDLE', { what: `worker ${id} IDLE`, timeoutMs: 15_000 });
    return w;
  };
  const allIdle = () => allIdleIn(stack, workers.size);
  /** Stream entries about one task, in order. */
  const streamOf = async (taskId: string) => (await redis.xrange(EVENTS_STREAM_KEY, '-', '+')).map(([, fields]) => JSON.parse(fields[1])).filter((e) => e.task_id === taskId);
  const lists = async (id: string) => ({ inbox: await redis.lrange(workerInboxKey(id), 0, -1), processing: await redis.lrange(workerProcessingKey(id), 0, -1) });
  const noPending = () => waitFor(async () => ((await redis.xpending(EVENTS_STREAM_KEY, EVENTS_STREAM_GROUP)) as unknown[])[0] === 0, { what: 'every stream entry acknowledged' });

  beforeAll(async () => {
    ensureBuilt();
    shared = mkdtempSync(join(tmpdir(), 'mloc-e2e-v2-'));
    await stack.start();
    redis = stack.redis.client();
    await Promise.all([startWorker('v2-a'), startWorker('v2-b')]);
  });
  afterAll(async () => {
    await Promise.all([...workers.values()].map((w) => w.stop()));
    redis?.disconnect();
    await stack.stop();
    rmSync(shared, { recursive: true, force: true });
  });

  it('registers as v2 and runs a task through its inbox and the event stream, the attempt carried end to end', async () => {
    expect(await Promise.all(['v2-a', 'v2-b'].map((id) => redis.hget(workerKey(id), 'protocol')))).toEqual(['2', '2']);
    const id = firstId(await stack.submit(taskDoc('through-the-stream', { taskType: 'echo', data: { items: ['in', 'out'] } })));
    const t = await stack.waitForStatus(id, 'DONE');
    expect(t.result.items).toEqual(['in', 'out']);
    expect(t.attempts).toEqual([expect.objectContaining({ attempt: 1, worker: t.assigned_worker, outcome: 'succeeded' })]);
    const events = await streamOf(id);
    expect(events.map((e) => [e.type, e.worker_id, e.attempt, e.protocol])).toEqual([
      ['TASK_STARTED', t.assigned_worker, 1, 2],
      ['TASK_SUCCEEDED', t.assigned_worker, 1, 2],
    ]);
    expect(await lists(t.assigned_worker)).toEqual({ inbox: [], processing: [] });
    await noPending();
  });

  it('SIGKILL mid-task: recovered once stale; restarted under the same id, the worker reports the unfinished attempt failed instead of running it', async () => {
    await allIdle();
    const id = firstId(await stack.submit(taskDoc('killed', { taskType: 'echo', echo: { delaySec: 1 }, data: { items: ['survivor'] }, retry: { backoffSec: 0 } })));
    const running = await stack.waitForStatus(id, 'RUNNING');
    const victimId: string = running.assigned_worker;
    const other = victimId === 'v2-a' ? 'v2-b' : 'v2-a';
    await workers.get(victimId)!.stop('SIGKILL');
    workers.delete(victimId);

    // The orchestrator notices the silence and retries elsewhere.
    const t = await stack.waitForStatus(id, 'DONE', 20_000);
    expect(t.attempts.map((a: { attempt: number; worker: string; outcome: string }) => [a.attempt, a.worker, a.outcome])).toEqual([
      [1, victimId, 'failed'],
      [2, other, 'succeeded'],
    ]);
    expect(t.attempts[0].error).toMatch(/lost/);
    expect(t.result.items).toEqual(['survivor']);
    // What the killed worker had taken is still in its processing list.
    const left = await lists(victimId);
    expect(left.processing.map((m) => JSON.parse(m))).toEqual([expect.objectContaining({ task_id: id, attempt: 1 })]);

    // Back under the same id: attempt 1 is reported failed, not run again; the orchestrator ignores it (already given up).
    const restarted = await startWorker(victimId);
    const reported = await waitFor(async () => (await streamOf(id)).find((e) => e.worker_id === victimId && e.type === 'TASK_FAILED'), {
      what: 'the restarted worker reports attempt 1',
    });
    expect(reported).toMatchObject({ attempt: 1, error: 'worker restarted before finishing the task', protocol: 2 });
    expect(await lists(victimId)).toEqual({ inbox: [], processing: [] });
    await noPending();
    const after = await stack.task(id);
    expect(after.status).toBe('DONE');
    expect(after.attempts).toHaveLength(2);
    expect((await streamOf(id)).filter((e) => e.type === 'TASK_STARTED').map((e) => [e.worker_id, e.attempt])).toEqual([
      [victimId, 1],
      [other, 2],
    ]);
    expect(restarted.output).not.toContain('task started');
    // And it is available for work again.
    await allIdle();
  });

  it('a task finished while no orchestrator runs is DONE from the stream once a new one starts, with one attempt, not re-run', async () => {
    await allIdle();
    // Runs until the test creates the marker, so it can only finish once the orchestrator is closed.
    const marker = join(shared, 'go');
    const waitForMarker = 'const fs = require("fs"); const t = setInterval(() => { if (fs.existsSync(process.env.GO)) { clearInterval(t); console.log("finished"); } }, 20);';
    const id = firstId(await stack.submit(taskDoc('finished-while-away', { taskType: 'command', command: [process.execPath, '-e', waitForMarker], env: { GO: marker } })));
    const running = await stack.waitForStatus(id, 'RUNNING');
    await stack.closeApp(stack.app);
    writeFileSync(marker, '');
    // The worker finishes and reports while nobody listens: the report waits on the stream.
    await waitFor(async () => (await streamOf(id)).some((e) => e.type === 'TASK_SUCCEEDED'), { what: 'the report on the stream', timeoutMs: 10_000 });
    expect(await redis.hget(`mloc:task:${id}`, 'status')).toBe('RUNNING');
    stack.app = await stack.newApp();
    const t = await stack.waitForStatus(id, 'DONE');
    expect(t.result).toMatchObject({ exit_code: 0, stdout_tail: 'finished' });
    expect(t.attempts).toEqual([expect.objectContaining({ attempt: 1, worker: running.assigned_worker, outcome: 'succeeded' })]);
    // Ran once: one acknowledgement, one report, nothing after.
    expect((await streamOf(id)).map((e) => e.type)).toEqual(['TASK_STARTED', 'TASK_SUCCEEDED']);
    await noPending();
  });
});
