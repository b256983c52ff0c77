/**
 * Cancel reaches the worker (docs/protocol.md, "Control"): the real orchestrator (in-process
 * TestStack) with REAL worker processes. A cancelled `command` task's process is gone and its v2
 * worker is free for the next task; a v2 worker suspended (SIGSTOP) past the heartbeat TTL, whose
 * task ran elsewhere meanwhile, stops its stale attempt when it resumes, and its late report changes
 * nothing; a v1 worker cannot be told, and the cancel answer says so.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { EVENTS_STREAM_GROUP, EVENTS_STREAM_KEY, workerControlKey } from '../../src/contracts/protocol';
import { Keys } from '../../src/redis/keys';
import { TestStack } from '../support/test-app';
import { waitFor } from '../support/wait-for';
import { ensureBuilt } from './support/built';
import { CPU_ONLY_JSON, taskDoc } from './support/docs';
import { WorkerProcess } from './support/worker-process';

jest.setTimeout(60_000);

const firstId = (res: { body: { tasks: { task_id: string }[] } }) => res.body.tasks[0].task_id;

/** Whether process `pid` exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

describe('cancel reaches the worker', () => {
  // Stale after 2 s without a heartbeat (workers beat every 0.5 s); no periodic cleanup, so a
  // suspended worker stays registered and comes back as it was.
  const stack = new TestStack({ HEARTBEAT_TTL_SEC: '2', DISPATCH_ACK_TIMEOUT_SEC: '5', CLEANUP_INTERVAL_SEC: '3600' });
  const workers: WorkerProcess[] = [];
  let redis: Redis;
  let shared: string;
  /** Every task process seen: none may outlive the tests, whatever failed. */
  const pids: number[] = [];

  const startWorker = async (id: string, env: Record<string, string> = {}) => {
    const w = new WorkerProcess(id, { REDIS_URL: stack.redis.url, RESULTS_DIR: join(shared, 'results'), WORKER_HARDWARE_JSON: CPU_ONLY_JSON, ...env });
    workers.push(w);
    await waitFor(async () => (await stack.http().get(`/workers/${id}`)).body.status === 'IDLE', { what: `worker ${id} IDLE`, timeoutMs: 15_000 });
    return w;
  };
  const resources = (tags: string[] = []) => ({ replicas: 1, hardware: { cpu: '1', memory: '256Mi' }, tags });
  /**
   * A `command` task whose process writes its pid to `pid-<attempt>` in its output directory, then
   * becomes `sleep 400` (exec: same pid), on attempt 1 only (later attempts end at once).
   */
  const sleeper = (name: string, tags: string[] = []) =>
    taskDoc(name, {
      taskType: 'command',
      resources: resources(tags),
      retry: { backoffSec: 0 },
      command: ['sh', '-c', 'echo $$ > "$MLOC_OUTPUT_DIR/pid-$MLOC_ATTEMPT"; if [ "$MLOC_ATTEMPT" = 1 ]; then exec sleep 400; fi'],
    });
  const pidOf = (taskId: string, attempt: number) =>
    waitFor(
      () => {
        const file = join(shared, 'results', taskId, `pid-${attempt}`);
        const text = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
        if (!text) return null;
        pids.push(Number(text));
        return Number(text);
      },
      { what: `the pid of attempt ${attempt} of ${taskId}` },
    );
  const cancel = (id: string) => stack.http().post(`/api/v1/tasks/${id}/cancel`).set(stack.authHeader());
  const streamOf = async (taskId: string) => (await redis.xrange(EVENTS_STREAM_KEY, '-', '+')).map(([, fields]) => JSON.parse(fields[1])).filter((e) => e.task_id === taskId);
  const noPending = () => waitFor(async () => ((await redis.xpending(EVENTS_STREAM_KEY, EVENTS_STREAM_GROUP)) as unknown[])[0] === 0, { what: 'every stream entry applied' });
  const freeAgain = (w: string) =>
    waitFor(async () => (await redis.get(Keys.workerTask(w))) === null && (await stack.http().get(`/workers/${w}`)).body.status === 'IDLE', { what: `${w} free and IDLE` });
  /** The worker takes the next task meant for it (by tag) and finishes it. */
  const runsNext = async (w: string, tag: string) => {
    const id = firstId(await stack.submit(taskDoc(`next-on-${w}`, { taskType: 'echo', resources: resources([tag]), data: { items: ['next'] } })));
    const t = await stack.waitForStatus(id, 'DONE', 15_000);
    expect(t.assigned_worker).toBe(w);
  };

  beforeAll(async () => {
    ensureBuilt();
    shared = mkdtempSync(join(tmpdir(), 'mloc-cancel-'));
    await stack.start();
    redis = stack.redis.client();
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGTERM')));
    for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
    redis?.disconnect();
    await stack.stop();
    rmSync(shared, { recursive: true, force: true });
  });

  it('cancel of a running command task: CANCELLED, its process gone, the worker IDLE and given the next task; its report changes nothing', async () => {
    await startWorker('cx-a', { WORKER_TAGS: 'cx-a' });
    const id = firstId(await stack.submit(sleeper('sleep-400', ['cx-a'])));
    await stack.waitForStatus(id, 'RUNNING');
    const pid = await pidOf(id, 1);
    expect(alive(pid)).toBe(true);

    const res = await cancel(id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'CANCELLED', error: 'cancelled by user' });
    expect(res.body.attempts).toEqual([expect.objectContaining({ attempt: 1, worker: 'cx-a', outcome: 'cancelled', worker_told: true })]);

    await waitFor(() => !alive(pid), { what: `process ${pid} gone` });
    await freeAgain('cx-a');
    // The worker reported the stopped attempt; it was applied (ignored: the task ended), not set aside.
    const reported = await waitFor(async () => (await streamOf(id)).find((e) => e.type === 'TASK_FAILED'), { what: 'the report of the stopped attempt' });
    expect(reported).toMatchObject({ worker_id: 'cx-a', attempt: 1, error: 'stopped: the orchestrator gave this attempt up (cancelled by user)' });
    await noPending();
    expect(await redis.xlen(Keys.deadEvents)).toBe(0);
    expect(await redis.llen(workerControlKey('cx-a'))).toBe(0);
    const t = await stack.task(id);
    expect([t.status, t.error, t.attempts.length]).toEqual(['CANCELLED', 'cancelled by user', 1]);
    await runsNext('cx-a', 'cx-a');
  });

  it('a worker resumed after SIGSTOP past the heartbeat TTL stops its stale attempt; its report changes nothing', async () => {
    const [a, b] = await Promise.all([startWorker('st-a', { WORKER_TAGS: 'st' }), startWorker('st-b', { WORKER_TAGS: 'st' })]);
    const id = firstId(await stack.submit(sleeper('suspended', ['st'])));
    const running = await stack.waitForStatus(id, 'RUNNING');
    const victim = running.assigned_worker === 'st-a' ? a : b;
    const other = victim === a ? b : a;
    const pid = await pidOf(id, 1);

    process.kill(victim.pid, 'SIGSTOP');
    try {
      // Judged lost: attempt 2 runs on the other worker (and ends at once).
      const done = await stack.waitForStatus(id, 'DONE', 20_000);
      expect(done.attempts).toEqual([
        expect.objectContaining({ attempt: 1, worker: victim.id, outcome: 'failed', worker_told: true, error: `worker ${victim.id} lost (heartbeat expired)` }),
        expect.objectContaining({ attempt: 2, worker: other.id, outcome: 'succeeded' }),
      ]);
      // The suspended worker's command went on running meanwhile (it is another process group).
      expect(alive(pid)).toBe(true);
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }

    await waitFor(() => !alive(pid), { what: `stale attempt's process ${pid} gone` });
    const late = await waitFor(async () => (await streamOf(id)).find((e) => e.type === 'TASK_FAILED' && e.worker_id === victim.id), { what: 'the stale attempt reported' });
    expect(late).toMatchObject({ attempt: 1, error: `stopped: the orchestrator gave this attempt up (worker ${victim.id} lost (heartbeat expired))` });
    await noPending();
    const after = await stack.task(id);
    expect([after.status, after.attempts.length]).toEqual(['DONE', 2]);
    expect(await redis.xlen(Keys.deadEvents)).toBe(0);
    await freeAgain(victim.id);
  });

  it('a v1 worker cannot be told: the cancel answer says so, and nothing new reaches it', async () => {
    const v1 = await startWorker('v1-a', { WORKER_TAGS: 'v1', WORKER_PROTOCOL: '1' });
    const id = firstId(await stack.submit(sleeper('v1-sleeper', ['v1'])));
    await stack.waitForStatus(id, 'RUNNING');
    const pid = await pidOf(id, 1);

    const res = await cancel(id);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('CANCELLED');
    expect(res.body.attempts).toEqual([
      expect.objectContaining({ outcome: 'cancelled', worker_told: false, error: expect.stringMatching(/v1-a speaks protocol v1 and cannot be told to stop/) }),
    ]);
    expect(await redis.exists(workerControlKey('v1-a'))).toBe(0);
    // As documented: the attempt goes on until the worker ends it (here: its shutdown).
    expect(alive(pid)).toBe(true);
    await v1.stop('SIGTERM');
    await waitFor(() => !alive(pid), { what: `process ${pid} gone with its worker` });
  });
});
