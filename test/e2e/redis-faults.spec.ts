import type { Redis } from 'ioredis';
import { RedisService } from '../../src/redis/redis.service';
import { CPU_HW } from '../support/fake-worker';
import { clientsNamed, TcpProxy } from '../support/tcp-proxy';
import { firstId, taskYaml, TestStack } from '../support/test-app';
import { waitFor } from '../support/wait-for';

/**
 * Redis connections that fail, fill up or stall (docs/guarantees.md, "Redis unavailable"), through
 * the HTTP API of the real app on a real redis-server: at maxmemory, stopped with SIGSTOP, behind a
 * proxy that silences one connection.
 */
const TIMEOUT_MS = 400;
const FAST = { REDIS_COMMAND_TIMEOUT_MS: String(TIMEOUT_MS), REDIS_HEALTH_CHECK_MS: '200', LEADER_LEASE_SEC: '2' };

type Readiness = { status: number; body: { ready: boolean; reasons: string[] } };
const readyz = (s: TestStack): Promise<Readiness> => s.http().get('/readyz') as unknown as Promise<Readiness>;
const waitReady = (s: TestStack, timeoutMs = 15_000) => waitFor(async () => (await readyz(s)).status === 200, { timeoutMs, what: '/readyz to answer 200' });
/** Task keys in Redis, to show a refused submission left nothing behind. */
const taskKeys = async (admin: Redis) => (await admin.keys('mloc:task*')).sort();

describe('Redis out of memory (maxmemory, noeviction)', () => {
  let s: TestStack;
  let admin: Redis;
  beforeEach(async () => {
    s = await new TestStack(FAST).start();
    admin = s.redis.client();
    await waitReady(s);
  });
  afterEach(async () => {
    admin.disconnect();
    await s.stop();
  });

  it('a submission gets 503 storage_full with nothing written, /readyz is not ready until writes succeed again', async () => {
    expect(await admin.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    const before = await taskKeys(admin);
    await admin.config('SET', 'maxmemory', '1');

    const res = await s.submit(taskYaml({ name: 'too-much' }));
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('storage_full');
    expect(await taskKeys(admin)).toEqual(before);

    const r = await readyz(s);
    expect(r.status).toBe(503);
    expect(r.body.reasons.join('; ')).toMatch(/out of memory/);

    await admin.config('SET', 'maxmemory', '0');
    const back = await waitReady(s);
    expect(back).toBe(true);
    const ok = await s.submit(taskYaml({ name: 'fits' }));
    expect(ok.status).toBe(200);
  });
});

describe('Redis stalled (SIGSTOP)', () => {
  let s: TestStack;
  const start = async (env: Record<string, string>) => {
    s = await new TestStack({ ...FAST, ...env }).start();
    await waitReady(s);
  };
  afterEach(async () => {
    s.redis.resume();
    await s.stop();
  });

  it('requests answer 503 within the command timeout while Redis is stopped, and the service recovers by itself', async () => {
    // No health check during the test: only the command timeout can answer these requests.
    await start({ REDIS_HEALTH_CHECK_MS: '600000' });
    s.redis.pause();
    // Redis stays stopped until the answer is in: a request that waits for Redis never gets one.
    const res = await s.submit(taskYaml({ name: 'during-stall' })).timeout(TIMEOUT_MS * 10);
    expect(res.status).toBe(503);
    expect(res.body.code).toBe('redis_unavailable');
    const get = await s
      .http()
      .get('/api/v1/tasks')
      .timeout(TIMEOUT_MS * 10);
    expect(get.status).toBe(503);
    const r = await readyz(s);
    expect(r.status).toBe(503);
    expect(r.body.reasons).toContain('Redis does not answer');

    s.redis.resume();
    expect(await waitReady(s)).toBe(true);
    const ok = await s.submit(taskYaml({ name: 'after-stall' }));
    expect(ok.status).toBe(200);
  });

  it('a stall longer than the timeout plus a health check replaces the command connection, and the service recovers by itself', async () => {
    await start({});
    const redis = s.app.get(RedisService);
    s.redis.pause();
    const res = await s.submit(taskYaml({ name: 'during-long-stall' })).timeout(TIMEOUT_MS * 10);
    expect(res.status).toBe(503);
    await waitFor(() => redis.cmd.status !== 'ready', { what: 'the stalled command connection to be replaced' });
    s.redis.resume();
    expect(await waitReady(s)).toBe(true);
    const ok = await s.submit(taskYaml({ name: 'after-long-stall' }));
    expect(ok.status).toBe(200);
  });

  it('the v2 stream reader keeps blocking past the command timeout', async () => {
    await start({});
    const redis = s.app.get(RedisService);
    // A read blocked for longer than REDIS_COMMAND_TIMEOUT_MS is not failed by it.
    await redis.stream.xgroup('CREATE', 'probe-stream', 'g', '$', 'MKSTREAM');
    const read = await redis.stream.xreadgroup('GROUP', 'g', 'c', 'COUNT', 1, 'BLOCK', TIMEOUT_MS * 3, 'STREAMS', 'probe-stream', '>');
    expect(read).toBeNull();
    expect(redis.stream.status).toBe('ready');
  });
});

describe('a subscriber connection that goes silent without closing', () => {
  let s: TestStack;
  let proxy: TcpProxy;
  let admin: Redis;
  beforeEach(async () => {
    s = new TestStack(FAST);
    await s.redis.start();
    proxy = await new TcpProxy(s.redis.port).start();
    // The orchestrator reaches Redis through the proxy; the fake workers and the test do not.
    s.app = await s.newApp({ REDIS_URL: proxy.url });
    admin = s.redis.client();
    await waitReady(s);
  });
  afterEach(async () => {
    admin.disconnect();
    await s.stop();
    await proxy.close();
  });

  it('is noticed, /readyz is not ready meanwhile, it is replaced and subscribed again, and the lost report is reconciled', async () => {
    const w = await s.worker({ id: 'w1', hardware: CPU_HW(), behaviour: 'hold', heartbeatIntervalMs: 300 });
    const id = firstId(await s.submit(taskYaml({ name: 'through-a-gap' })));
    await s.waitForStatus(id, 'RUNNING');

    const [sub] = await clientsNamed(admin, 'mloc-orchestrator-sub');
    expect(proxy.freeze(sub.addr)).toBe(true);
    // The report goes out while nobody hears it.
    await w.succeed(id, { lost: true });

    const notReady = await waitFor(
      async () => {
        const r = await readyz(s);
        return r.status === 503 && r.body.reasons.some((x) => /subscriber/.test(x)) ? r : null;
      },
      { what: '/readyz to say the subscriber is down' },
    );
    expect(notReady.body.ready).toBe(false);

    // A new subscriber connection, subscribed to both channels.
    await waitReady(s);
    // (Redis still holds the silenced one: nothing told it the connection is gone.)
    const replacement = (await clientsNamed(admin, 'mloc-orchestrator-sub')).filter((c) => c.addr !== sub.addr);
    expect(replacement).toEqual([expect.objectContaining({ sub: '2' })]);

    // The report lost in the gap is reconciled: the task runs again, and this time its report is heard.
    const again = await w.waitForDispatch(2);
    expect(again.task_id).toBe(id);
    await s.waitForStatus(id, 'RUNNING');
    await w.succeed(id, { heard: true });
    const t = await s.waitForStatus(id, 'DONE');
    expect(t.result).toEqual({ heard: true });
  });
});
