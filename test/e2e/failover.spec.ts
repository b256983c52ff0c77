import type { NestExpressApplication } from '@nestjs/platform-express';
import { Redis } from 'ioredis';
import { LeadershipService } from '../../src/leadership/leadership.service';
import { Keys } from '../../src/redis/keys';
import { CPU_HW } from '../support/fake-worker';
import { firstId, TestStack, taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * Leader failover with two orchestrator instances on one Redis (npm run test:faults does it with
 * real processes and kill -9): the follower takes over, places what waits, applies the reports of
 * what runs, and a deposed leader that still believes it leads writes nothing.
 */
describe('leader failover between two instances', () => {
  let s: TestStack;
  let redis: Redis;
  let dispatches: { task_id: string; assigned_worker: string }[];
  let spy: Redis;
  const leads = (app: NestExpressApplication) => app.get(LeadershipService).isLeader;
  /** Tasks this instance dispatched (its own counters, from its /metrics). */
  const dispatched = async (app: NestExpressApplication) => {
    const text = (await s.http(app).get('/metrics')).text;
    return text
      .split('\n')
      .filter((l) => l.startsWith('mloc_tasks_dispatched_total{'))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  };

  beforeEach(async () => {
    // A short lease, so that a leader that stops renewing is replaced within a second.
    s = await new TestStack({ LEADER_LEASE_SEC: '1' }).start();
    redis = s.redis.client();
    spy = s.redis.client();
    dispatches = [];
    spy.on('message', (_c: string, m: string) => dispatches.push(JSON.parse(m)));
    await spy.subscribe('tasks');
  });
  afterEach(async () => {
    spy.disconnect();
    redis.disconnect();
    await s.stop();
  });

  /** Starts a second instance once the first leads, so which one leads is known. */
  const twoInstances = async () => {
    const first = s.app;
    await waitFor(() => leads(first), { what: 'the first instance elected' });
    const second = await s.newApp();
    expect(leads(second)).toBe(false);
    return { first, second };
  };

  it('the leader shuts down: the follower takes over, applies the report of a running task and places a waiting one', async () => {
    const { first, second } = await twoInstances();
    const w = await s.worker({ id: 'w', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    const running = firstId(await s.submit(taskYaml({ name: 'running' }), first));
    await s.waitForStatus(running, 'RUNNING');
    const waiting = firstId(await s.submit(taskYaml({ name: 'waiting', cpu: 16 }), first));
    expect((await s.task(waiting)).status).toBe('PENDING');

    await s.closeApp(first);
    s.app = second;
    await waitFor(() => leads(second), { what: 'the second instance elected' });
    expect(await redis.get(Keys.leader)).toMatch(new RegExp(`^${second.get(LeadershipService).instanceId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}#`));

    await w.succeed(running, { by: 'w' });
    expect((await s.waitForStatus(running, 'DONE')).result).toEqual({ by: 'w' });
    await s.worker({ id: 'big', hardware: CPU_HW(32, 64) });
    expect((await s.waitForStatus(waiting, 'DONE')).assigned_worker).toBe('big');
    expect(dispatches.filter((d) => d.task_id === waiting)).toHaveLength(1);
  });

  it('a leader that stops renewing is replaced within LEADER_LEASE_SEC; what it still tries to dispatch is refused, and the new leader places it once', async () => {
    const { first, second } = await twoInstances();
    // A hung leader: its renewals stop, yet it still believes it leads (its token is kept).
    const hung = jest.spyOn(first.get(LeadershipService), 'step').mockImplementation(async () => undefined);
    try {
      await waitFor(() => leads(second), { what: 'the second instance elected', timeoutMs: 10_000 });
      expect(leads(first)).toBe(true);
      const oldToken = first.get(LeadershipService).fence;
      expect(await redis.get(Keys.leader)).not.toBe(oldToken);

      await s.worker({ id: 'w', hardware: CPU_HW(8, 32) });
      // Submitted to the deposed leader: its own dispatch attempt carries the old token.
      const res = await s.submit(taskYaml({ name: 'through-the-old-leader' }), first);
      expect(res.status).toBe(200);
      const id = firstId(res);
      const t = await s.waitForStatus(id, 'DONE');
      expect(t.assigned_worker).toBe('w');
      expect(t.attempts).toHaveLength(1);
      expect(dispatches.filter((d) => d.task_id === id)).toHaveLength(1);
      // The dispatch was the new leader's: the old one's own attempts (its submit script's, its
      // pass's) carried the old token and were refused.
      expect(await dispatched(first)).toBe(0);
      expect(await dispatched(second)).toBe(1);
    } finally {
      hung.mockRestore();
    }
  });
});
