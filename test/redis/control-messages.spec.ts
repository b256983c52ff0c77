import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ControlMessage, workerControlKey, workerInboxKey, workerProcessingKey } from '../../src/contracts/protocol';
import { Keys } from '../../src/redis/keys';
import { runScript } from '../../src/redis/scripts';
import { useScriptHarness } from './script-harness';

/**
 * The control message of docs/protocol.md ("Control"): written to a v2 worker's
 * `mloc:worker:<id>:control` by exactly the scripts that give up an attempt the worker has taken
 * (cancel, ack timeout, lost worker), in the same atomic step, and never otherwise: not for a v1
 * worker (its record says it could not be told), not for a dispatch still in the inbox, not for the
 * worker's own report.
 */
describe('control messages to the holder of a given-up attempt', () => {
  const h = useScriptHarness();
  let r: Redis;
  let n = 0;
  beforeAll(() => {
    r = h.r;
  });

  const run = h.run;
  const submit = (id: string) => run('submit-tasks', JSON.stringify({ tasks: [{ id, key: id, owner: 'o', deps: [], fields: h.fields(id, { maxRetries: 1 }) }] }));
  const registerWorker = (id: string, protocol: 1 | 2) => h.registerWorker(id, protocol);
  const claim = (task: string, worker: string, ackDeadlineMs = Date.now() + 30_000) => h.claim(task, worker, ackDeadlineMs);
  /** A task dispatched to a fresh worker; `stage` says how far the worker got with it. */
  const dispatched = async (protocol: 1 | 2, stage: 'inbox' | 'taken' | 'running', ackDeadlineMs?: number) => {
    const [t, w] = [randomUUID(), `w${protocol}-${++n}`];
    await submit(t);
    await registerWorker(w, protocol);
    expect(await claim(t, w, ackDeadlineMs)).toBe('ok');
    if (protocol === 2 && stage !== 'inbox') expect(await r.lmove(workerInboxKey(w), workerProcessingKey(w), 'LEFT', 'RIGHT')).not.toBeNull();
    if (stage === 'running') expect(await run('ack-task', t, w, '')).toBe(1);
    return { t, w };
  };
  const control = async (w: string) => (await r.lrange(workerControlKey(w), 0, -1)).map((m) => JSON.parse(m) as ControlMessage);
  const attempts = async (t: string) => JSON.parse((await r.hget(Keys.task(t), 'attempts')) ?? '[]') as Record<string, unknown>[];
  const loseHeartbeat = (w: string) => r.del(`worker:${w}:hb`);

  it('cancel of a RUNNING task on a v2 worker: one CANCEL naming the task and attempt, TTL set; the record says the worker was told', async () => {
    const { t, w } = await dispatched(2, 'running');
    expect(await run('cancel-task', t)).toBe(`cancelled:${t}`);
    expect(await control(w)).toEqual([{ type: 'CANCEL', task_id: t, attempt: 1, reason: 'cancelled by user', ts: expect.any(String) }]);
    expect(await r.ttl(workerControlKey(w))).toBeGreaterThan(0);
    expect(await attempts(t)).toEqual([expect.objectContaining({ attempt: 1, worker: w, outcome: 'cancelled', error: 'cancelled by user', worker_told: true })]);
    // The worker still holds the task until it reports; its report (the stop) frees it and changes nothing else.
    expect(await r.get(Keys.workerTask(w))).toBe(t);
    expect(await run('finish-task', t, w, 'failed', 'stopped', 120, '1')).toBe('ignored:not_held:released');
    expect(await r.get(Keys.workerTask(w))).toBeNull();
    expect(await r.hget(Keys.task(t), 'status')).toBe('CANCELLED');
    expect(await control(w)).toHaveLength(1);
  });

  it('cancel of a dispatch a v2 worker took but did not acknowledge yet: told', async () => {
    const { t, w } = await dispatched(2, 'taken');
    await run('cancel-task', t);
    expect(await control(w)).toEqual([expect.objectContaining({ task_id: t, attempt: 1 })]);
  });

  it('cancel of a dispatch still in the v2 inbox: no message (the dispatch is removed and the worker freed)', async () => {
    const { t, w } = await dispatched(2, 'inbox');
    await run('cancel-task', t);
    expect(await r.exists(workerControlKey(w))).toBe(0);
    expect(await r.llen(workerInboxKey(w))).toBe(0);
    expect(await r.get(Keys.workerTask(w))).toBeNull();
    expect(await attempts(t)).toEqual([]);
  });

  it('cancel of a task on a v1 worker: no message; the record says the worker could not be told', async () => {
    const { t, w } = await dispatched(1, 'running');
    await run('cancel-task', t);
    expect(await r.exists(workerControlKey(w))).toBe(0);
    expect(await r.hget(Keys.task(t), 'error')).toBe('cancelled by user');
    expect(await attempts(t)).toEqual([
      expect.objectContaining({ outcome: 'cancelled', worker_told: false, error: expect.stringMatching(/protocol v1 and cannot be told to stop/) }),
    ]);
  });

  it("a pending task, a finished task, the worker's own report: no message", async () => {
    const pending = randomUUID();
    await submit(pending);
    await run('cancel-task', pending);
    const { t, w } = await dispatched(2, 'running');
    expect(await run('finish-task', t, w, 'succeeded', '{}', 120, '1')).toBe('done');
    expect(await run('cancel-task', t)).toBe('final:DONE');
    const failed = await dispatched(2, 'running');
    expect(await run('finish-task', failed.t, failed.w, 'failed', 'boom', 120, '1')).toBe('retry');
    expect(await r.exists(workerControlKey(w), workerControlKey(failed.w))).toBe(0);
  });

  it('ack timeout: a v2 worker that took the dispatch is told; one whose dispatch is still in the inbox is not; a cancelled one is not told twice', async () => {
    const past = Date.now() - 1;
    const taken = await dispatched(2, 'taken', past);
    const inInbox = await dispatched(2, 'inbox', past);
    const cancelled = await dispatched(2, 'taken', past);
    await run('cancel-task', cancelled.t);
    const out = JSON.parse((await runScript(r, 'expire-unacked', Date.now(), [100, 120, 5])) as string) as [string, string, string][];
    expect(out.map(([id, , outcome]) => [id, outcome]).sort()).toEqual(
      [
        [taken.t, 'retry'],
        [inInbox.t, 'retry'],
        [cancelled.t, 'released'],
      ].sort(),
    );
    expect(await control(taken.w)).toEqual([expect.objectContaining({ task_id: taken.t, attempt: 1, reason: expect.stringMatching(/did not acknowledge/) })]);
    expect(await attempts(taken.t)).toEqual([expect.objectContaining({ outcome: 'failed', worker_told: true })]);
    expect(await r.exists(workerControlKey(inInbox.w))).toBe(0);
    expect(await attempts(inInbox.t)).toEqual([expect.not.objectContaining({ worker_told: expect.anything() })]);
    expect(await control(cancelled.w)).toHaveLength(1);
  });

  it('lost worker: a v2 holder is told (kept when the cleanup removes the worker); a live one or a v1 one is not', async () => {
    const lost = await dispatched(2, 'running');
    const live = await dispatched(2, 'running');
    const v1 = await dispatched(1, 'running');
    const cutoff = new Date(Date.now() - 60_000).toISOString();
    await Promise.all([lost.w, v1.w].map(loseHeartbeat));
    const released = await Promise.all([lost.w, live.w, v1.w].map((w) => run('release-lost-worker', w, cutoff, 120, '1')));
    expect(released.map((j) => JSON.parse(j as string).outcome ?? null)).toEqual(['retry', null, 'retry']);
    expect(await control(lost.w)).toEqual([expect.objectContaining({ type: 'CANCEL', task_id: lost.t, attempt: 1, reason: `worker ${lost.w} lost (heartbeat expired)` })]);
    expect(await attempts(lost.t)).toEqual([expect.objectContaining({ outcome: 'failed', worker_told: true })]);
    expect(await r.exists(workerControlKey(live.w), workerControlKey(v1.w))).toBe(0);
    expect(await attempts(v1.t)).toEqual([expect.objectContaining({ worker_told: false })]);
  });

  it('the list keeps the newest 32 messages', async () => {
    const w = `w2-${++n}`;
    await registerWorker(w, 2);
    const ids: string[] = [];
    for (let i = 0; i < 34; i++) {
      const t = randomUUID();
      ids.push(t);
      await submit(t);
      expect(await claim(t, w)).toBe('ok');
      await r.lmove(workerInboxKey(w), workerProcessingKey(w), 'LEFT', 'RIGHT');
      await run('cancel-task', t);
      await run('finish-task', t, w, 'failed', 'stopped', 120, '1');
      await r.hset(`worker:${w}`, 'status', 'IDLE');
    }
    expect((await control(w)).map((m) => m.task_id)).toEqual(ids.slice(2));
  });
});
