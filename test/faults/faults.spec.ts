import { Redis } from 'ioredis';
import { waitFor } from '../support/wait-for';
import { audit, batchOf, echoTask, expectClean, Scenario, waitAllFinal } from './support/cluster';

/**
 * Fault injection with real processes: the built orchestrator (`node dist/main.js`), simulated v1
 * worker fleets in their own processes, and a redis-server with AOF in a temporary folder. Every
 * scenario ends with the same audit (support/cluster.ts), whose counts are printed.
 */
describe('fault injection', () => {
  let s: Scenario;
  beforeEach(async () => {
    s = await new Scenario().start();
  });
  afterEach(() => s.stop());

  it('1. kill -9 of the orchestrator in the middle of a burst of 1,000 tasks over 20 workers', async () => {
    let o = await s.orchestrator().start();
    await s.fleet({ FLEET_SIZE: '20', FLEET_PREFIX: 'w', TASK_MS: '5' });
    const accepted: string[] = [];
    for (let b = 0; b < 20; b++) {
      if (b === 8) {
        await o.kill('SIGKILL');
        o = await s.orchestrator().start();
      }
      accepted.push(...(await o.submit(batchOf(50, `burst-${b}`))));
    }
    await waitAllFinal(s);
    const a = await audit(s, accepted, 'kill -9 orchestrator mid-burst');
    expectClean(a, 1000);
    expect(a.byStatus.DONE).toBe(1000);
  });

  it('2. kill -9 of a worker mid-task: the task completes elsewhere after the TTL', async () => {
    const o = await s.orchestrator().start();
    const slow = await s.fleet({ FLEET_SIZE: '1', FLEET_PREFIX: 'slow', TASK_MS: '600000' });
    const [id] = await o.submit(echoTask('long'));
    await waitFor(() => s.dispatches().length === 1, { what: 'dispatch to the slow worker' });
    await slow.kill('SIGKILL');
    await s.fleet({ FLEET_SIZE: '1', FLEET_PREFIX: 'fast' });
    await waitAllFinal(s, 30_000);
    const t = (await (await fetch(`${o.url}/api/v1/tasks/${id}`)).json()) as { status: string; assigned_worker: string; attempts: { worker: string; outcome: string }[] };
    expect(t.status).toBe('DONE');
    expect(t.assigned_worker).toBe('fast-0');
    expect(t.attempts.map((x) => [x.worker, x.outcome])).toEqual([
      ['slow-0', 'failed'],
      ['fast-0', 'succeeded'],
    ]);
    // The dead worker is still registered (RUNNING, stale) until the cleanup removes it.
    const cleanup = (await (await fetch(`${o.url}/admin/cleanup`, { method: 'POST' })).json()) as { removed: number };
    expect(cleanup.removed).toBe(1);
    expectClean(await audit(s, [id], 'kill -9 worker mid-task'), 1);
  });

  it('3. a v1 worker that never hears its dispatch: the task is placed elsewhere after the ack timeout', async () => {
    const o = await s.orchestrator().start();
    await s.fleet({ FLEET_SIZE: '1', FLEET_PREFIX: 'deaf', FLEET_SUBSCRIBE: '0' });
    await s.fleet({ FLEET_SIZE: '1', FLEET_PREFIX: 'zz-ok' }); // subscribed, so PUBLISH reaches someone
    const ids = await o.submit(batchOf(2, 'ack'));
    await waitAllFinal(s, 30_000);
    const a = await audit(s, ids, 'never acknowledged');
    expectClean(a, 2);
    const r: Redis = s.redis.client();
    const attempts = await Promise.all(ids.map(async (id) => JSON.parse((await r.hget(`mloc:task:${id}`, 'attempts')) ?? '[]')));
    r.disconnect();
    expect(attempts.flat().some((x: { worker: string; error?: string }) => x.worker === 'deaf-0' && /acknowledge/.test(x.error ?? ''))).toBe(true);
    expect(attempts.every((list: { outcome: string; worker: string }[]) => list[list.length - 1].worker === 'zz-ok-0')).toBe(true);
  });

  it('4. Redis restarted (AOF on) in the middle of a run: everyone reconnects and nothing is lost', async () => {
    const o = await s.orchestrator().start();
    await s.fleet({ FLEET_SIZE: '10', FLEET_PREFIX: 'w', TASK_MS: '20' });
    const accepted: string[] = [];
    for (let b = 0; b < 4; b++) accepted.push(...(await o.submit(batchOf(50, `before-${b}`))));
    await s.redis.restart();
    await waitFor(async () => (await o.readyz().catch(() => ({ status: 0 }))).status === 200, { timeoutMs: 20_000, what: 'orchestrator ready after Redis restart' });
    for (let b = 0; b < 4; b++) accepted.push(...(await o.submit(batchOf(50, `after-${b}`))));
    await waitAllFinal(s, 60_000);
    const a = await audit(s, accepted, 'Redis restart with AOF');
    expectClean(a, 400);
    expect(a.byStatus.DONE).toBe(400);
  });

  it('5. two replicas under load, kill -9 of the leader: the other takes over, nothing dispatched twice', async () => {
    const first = await s.orchestrator().start();
    const second = await s.orchestrator().start();
    await waitFor(async () => [(await first.readyz()).body.role, (await second.readyz()).body.role].includes('leader'), { what: 'a leader' });
    const leader = (await first.readyz()).body.role === 'leader' ? first : second;
    const follower = leader === first ? second : first;
    await s.fleet({ FLEET_SIZE: '20', FLEET_PREFIX: 'w', TASK_MS: '10' });
    const accepted: string[] = [];
    for (let b = 0; b < 6; b++) accepted.push(...(await (b % 2 ? follower : leader).submit(batchOf(50, `r-${b}`))));
    await leader.kill('SIGKILL');
    const killedAt = Date.now();
    for (let b = 0; b < 6; b++) accepted.push(...(await follower.submit(batchOf(50, `f-${b}`))));
    await waitFor(async () => (await follower.readyz()).body.role === 'leader', { timeoutMs: 10_000, what: 'takeover' });
    expect(Date.now() - killedAt).toBeLessThan(3000 + 2000);
    await waitAllFinal(s, 60_000);
    const a = await audit(s, accepted, 'leader killed');
    expectClean(a, 600);
    expect(a.byStatus.DONE).toBe(600);
  });

  it('6. late TASK_SUCCEEDED from a worker that lost the task, and duplicated events, are ignored', async () => {
    const o = await s.orchestrator().start();
    await s.fleet({ FLEET_SIZE: '4', FLEET_PREFIX: 'dup', FLEET_DUPLICATE: '1' });
    const ids = await o.submit(batchOf(100, 'dup'));
    await waitAllFinal(s);
    const r: Redis = s.redis.client();
    const before = await r.hgetall(`mloc:task:${ids[0]}`);
    // A worker that no longer holds the task (it was never its) reports late, twice, in both forms.
    for (let i = 0; i < 2; i++) {
      await r.publish('tasks.events', JSON.stringify({ type: 'TASK_SUCCEEDED', worker_id: 'ghost', task_id: ids[0], result: { late: true } }));
      await r.publish('tasks.events', JSON.stringify({ type: 'task_failed', worker_id: before.assigned_worker, task_id: ids[0], error: 'late failure' }));
    }
    await new Promise((res) => setTimeout(res, 500));
    const after = await r.hgetall(`mloc:task:${ids[0]}`);
    r.disconnect();
    expect(after.status).toBe('DONE');
    expect(after.result).toBe(before.result);
    expect(after.attempts).toBe(before.attempts);
    expectClean(await audit(s, ids, 'late and duplicated events'), 100);
  });

  it('7. a flood of malformed messages on tasks.events and workers.events is logged and ignored', async () => {
    const o = await s.orchestrator().start();
    await s.fleet({ FLEET_SIZE: '4', FLEET_PREFIX: 'w' });
    const r: Redis = s.redis.client();
    const junk = [
      'not json',
      '[]',
      'null',
      '{"type": 7}',
      '{"type": "TASK_SUCCEEDED"}',
      '{"type": "TASK_SUCCEEDED", "worker_id": 1, "task_id": {}}',
      '{"type": "TASK_FAILED", "worker_id": "nobody", "task_id": "no-such-task"}',
      '{"type": "STATUS", "worker_id": "ghost", "status": 5}',
      '{"type": "STATUS", "worker_id": "ghost", "status": "RUNNING", "extra": {"task_id": "no-such-task"}}',
      '{"type": "HEARTBEAT", "worker_id": "ghost"}',
      '{"type": "REGISTER", "worker_id": ""}',
      JSON.stringify({ type: 'TASK_SUCCEEDED', worker_id: 'w-0', task_id: 'x', result: 'y'.repeat(5 * 1024 * 1024) }),
    ];
    const flood = (async () => {
      for (let i = 0; i < 50; i++) {
        for (const m of junk) {
          await r.publish('tasks.events', m);
          await r.publish('workers.events', m);
        }
      }
    })();
    const ids = [...(await o.submit(batchOf(100, 'flood-a'))), ...(await o.submit(batchOf(100, 'flood-b')))];
    await flood;
    r.disconnect();
    await waitAllFinal(s);
    expect((await fetch(`${o.url}/healthz`)).status).toBe(200);
    expect(o.proc?.child.exitCode ?? null).toBeNull();
    expectClean(await audit(s, ids, 'malformed flood'), 200);
  });

  it('8. SIGTERM: the leader exits 0, gives up the lease at once, and a follower takes over', async () => {
    const first = await s.orchestrator({ LEADER_LEASE_SEC: '30' }).start();
    await waitFor(async () => (await first.readyz()).body.role === 'leader', { what: 'first is leader' });
    const second = await s.orchestrator({ LEADER_LEASE_SEC: '30' }).start();
    await s.fleet({ FLEET_SIZE: '4', FLEET_PREFIX: 'w', TASK_MS: '20' });
    const ids = await first.submit(batchOf(100, 'term'));
    const stoppedAt = Date.now();
    expect(await first.kill('SIGTERM')).toBe(0);
    // Without the resignation the follower would wait for the 20 s lease to expire.
    await waitFor(async () => (await second.readyz()).body.role === 'leader', { timeoutMs: 5000, what: 'takeover after SIGTERM' });
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    await waitAllFinal(s);
    expectClean(await audit(s, ids, 'SIGTERM'), 100);
  });
});
