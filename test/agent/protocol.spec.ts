/**
 * The worker against a real Redis, without an orchestrator: the exact v1 messages it writes and
 * publishes (PROTOCOL sections 1 and 2), and how it handles dispatches, timeouts and shutdown.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { TASKS_EVENTS_CHANNEL, WORKER_IDS_KEY, workerHeartbeatKey, workerKey, WORKERS_EVENTS_CHANNEL } from '../../src/contracts/protocol';
import { loadWorkerConfig } from '../../src/agent/config';
import { defaultRegistry } from '../../src/agent/executors';
import { silentLogger } from '../../src/agent/logger';
import { Worker } from '../../src/agent/worker';
import { TestRedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait-for';
import { ChannelRecorder } from './support/channel-recorder';

const CPU_ONLY = { cpu: { logical_cores: 4, model: 'test-cpu' }, memory: { total_bytes: 8 * 2 ** 30 }, gpu: null, network: { ip: '10.0.0.9' } };

describe('worker protocol (v1, WORKER_PROTOCOL=1) against a real Redis', () => {
  const redis = new TestRedisServer();
  let client: Redis;
  let recorder: ChannelRecorder;
  let resultsDir: string;
  let worker: Worker;
  let seq = 0;

  beforeAll(async () => {
    await redis.start();
    client = redis.client();
  });
  afterAll(async () => {
    client.disconnect();
    await redis.destroy();
  });

  beforeEach(async () => {
    resultsDir = mkdtempSync(join(tmpdir(), 'mloc-worker-results-'));
    recorder = await new ChannelRecorder(redis.url).start(WORKERS_EVENTS_CHANNEL, TASKS_EVENTS_CHANNEL);
    const config = loadWorkerConfig({
      REDIS_URL: redis.url,
      WORKER_PROTOCOL: '1',
      RESULTS_DIR: resultsDir,
      WORKER_ID: `w${++seq}`,
      WORKER_TAGS: 'eu, l4 ,eu',
      HEARTBEAT_INTERVAL_SEC: '0.2',
      WORKER_HARDWARE_JSON: JSON.stringify({ gpu: { driver_version: '550.54', gpus: [{ index: 0, name: 'NVIDIA L4', memory_bytes: 24 * 2 ** 30 }] } }),
    });
    worker = new Worker(config, { registry: defaultRegistry(), log: silentLogger, detectHardware: async () => CPU_ONLY });
    await worker.start();
  });
  afterEach(async () => {
    await worker.stop();
    recorder.close();
    rmSync(resultsDir, { recursive: true, force: true });
  });

  const dispatch = (taskId: string, spec: Record<string, unknown>, opts: { to?: string; attempt?: number } = {}) =>
    client.publish(
      'tasks',
      JSON.stringify({
        task_id: taskId,
        task: { apiVersion: 'mloc/v1', kind: 'Test', metadata: { name: taskId }, spec },
        task_type: spec.taskType,
        assigned_worker: opts.to ?? worker.id,
        dispatched_at: new Date().toISOString(),
        attempt: opts.attempt ?? 1,
      }),
    );
  const report = (taskId: string) =>
    recorder.waitFor(() => recorder.messages.find((m) => m.channel === TASKS_EVENTS_CHANNEL && m.msg.task_id === taskId)?.msg, `report of ${taskId}`);
  const indexOf = (pred: (m: Record<string, any>) => boolean) => recorder.messages.findIndex((m) => pred(m.msg));

  it('registers in the v1 order with every registry field, heartbeats with load metrics, then turns IDLE', async () => {
    const hash = await client.hgetall(workerKey(worker.id));
    expect(hash).toMatchObject({ worker_id: worker.id, status: 'IDLE', pid: String(process.pid) });
    expect(Date.parse(hash.started_at)).not.toBeNaN();
    expect(Date.parse(hash.last_seen)).not.toBeNaN();
    expect(JSON.parse(hash.tags_json)).toEqual(['eu', 'l4']);
    expect(JSON.parse(hash.env_json)).toMatchObject({ runtime: 'node', executors: ['chat', 'command', 'echo', 'inference'] });
    // A v1 worker registers without the v2 field, and never touches the v2 keys.
    expect(hash).not.toHaveProperty('protocol');
    // WORKER_HARDWARE_JSON merged over what was detected.
    expect(JSON.parse(hash.hardware_json)).toEqual({ ...CPU_ONLY, gpu: { driver_version: '550.54', gpus: [{ index: 0, name: 'NVIDIA L4', memory_bytes: 24 * 2 ** 30 }] } });
    expect(await client.sismember(WORKER_IDS_KEY, worker.id)).toBe(1);
    // TTL max(4 × interval, 120 s), as the MLOC worker picks it.
    expect(await client.ttl(workerHeartbeatKey(worker.id))).toBeGreaterThan(110);

    const events = await recorder.waitFor(() => {
      const e = recorder.of(WORKERS_EVENTS_CHANNEL, worker.id);
      return e.filter((m) => m.type === 'HEARTBEAT').length >= 2 ? e : null;
    }, 'two heartbeats');
    expect(events.slice(0, 3).map((e) => [e.type, e.status])).toEqual([
      ['REGISTER', 'STARTING'],
      ['HEARTBEAT', undefined],
      ['STATUS', 'IDLE'],
    ]);
    expect(events[0].tags).toEqual(['eu', 'l4']);
    expect(events[0]).not.toHaveProperty('protocol');
    expect(Object.keys(events[1].metrics.loadavg)).toEqual(['1m', '5m', '15m']);
  });

  it('acknowledges with RUNNING, writes responses.json, reports TASK_SUCCEEDED with the attempt, then turns IDLE', async () => {
    await dispatch('t-ok', { taskType: 'echo', data: { items: ['a', 'b'] } }, { attempt: 2 });
    const ev = await report('t-ok');
    expect(ev).toMatchObject({ type: 'TASK_SUCCEEDED', worker_id: worker.id, task_id: 't-ok', attempt: 2, result: { items: ['a', 'b'], output_dir: join(resultsDir, 't-ok') } });
    await recorder.waitFor(() => recorder.of(WORKERS_EVENTS_CHANNEL, worker.id, 'STATUS').find((m) => m.extra?.last_task === 't-ok'), 'IDLE after the task');

    const running = indexOf((m) => m.type === 'STATUS' && m.status === 'RUNNING' && m.extra?.task_id === 't-ok');
    const reported = indexOf((m) => m.type === 'TASK_SUCCEEDED');
    const idle = indexOf((m) => m.type === 'STATUS' && m.status === 'IDLE' && m.extra?.last_task === 't-ok');
    expect(running).toBeGreaterThanOrEqual(0);
    expect(running).toBeLessThan(reported);
    expect(reported).toBeLessThan(idle);
    expect(await client.hmget(workerKey(worker.id), 'status', 'extra_task_id', 'extra_last_task')).toEqual(['IDLE', 't-ok', 't-ok']);
    expect(JSON.parse(readFileSync(join(resultsDir, 't-ok', 'responses.json'), 'utf8'))).toEqual({ items: ['a', 'b'] });
  });

  it('ignores dispatches for other workers and messages that are not dispatches', async () => {
    await client.publish('tasks', 'not json');
    await client.publish('tasks', JSON.stringify({ hello: 'world' }));
    await dispatch('t-other', { taskType: 'echo' }, { to: 'someone-else' });
    await dispatch('t-mine', { taskType: 'echo' });
    await report('t-mine');
    expect(recorder.messages.filter((m) => m.msg.task_id === 't-other' || m.msg.extra?.task_id === 't-other')).toEqual([]);
  });

  it('fails an unknown taskType, naming it, and stays available', async () => {
    await dispatch('t-unknown', { taskType: 'quantum' });
    expect(await report('t-unknown')).toMatchObject({ type: 'TASK_FAILED', error: 'no executor for taskType quantum on this worker' });
    await dispatch('t-next', { taskType: 'echo' });
    expect((await report('t-next')).type).toBe('TASK_SUCCEEDED');
  });

  it('stops a task that runs past spec.timeoutSec and reports why', async () => {
    // The echo alone would take ten minutes: a report inside report()'s bounded wait means it was stopped.
    await dispatch('t-slow', { taskType: 'echo', timeoutSec: 0.3, echo: { delaySec: 600 } });
    expect(await report('t-slow')).toMatchObject({ type: 'TASK_FAILED', error: 'task exceeded spec.timeoutSec (0.3 s) and was stopped' });
    await waitFor(async () => (await client.hget(workerKey(worker.id), 'status')) === 'IDLE');
  });

  it('runs one task at a time: a dispatch that arrives while busy waits its turn', async () => {
    await dispatch('t-first', { taskType: 'echo', echo: { delaySec: 0.3 } });
    await dispatch('t-second', { taskType: 'echo' });
    await report('t-second');
    const firstReported = indexOf((m) => m.type === 'TASK_SUCCEEDED' && m.task_id === 't-first');
    const secondAcked = indexOf((m) => m.type === 'STATUS' && m.status === 'RUNNING' && m.extra?.task_id === 't-second');
    expect(firstReported).toBeGreaterThanOrEqual(0);
    expect(secondAcked).toBeGreaterThan(firstReported);
  });

  it('puts outputs where spec.output.destination says (PROTOCOL section 4)', async () => {
    const absolute = join(resultsDir, 'elsewhere');
    await dispatch('t-rel', { taskType: 'echo', output: { destination: { type: 'local', path: 'runs/exp1' } } });
    await dispatch('t-abs', { taskType: 'echo', output: { destination: { path: join(absolute, 't-abs') } } });
    await dispatch('t-s3', { taskType: 'echo', output: { destination: { type: 's3', path: 'bucket/x' } } });
    await report('t-s3');
    expect(existsSync(join(resultsDir, 'runs/exp1/t-rel/responses.json'))).toBe(true);
    expect(existsSync(join(absolute, 't-abs/responses.json'))).toBe(true);
    expect(existsSync(join(resultsDir, 't-s3/responses.json'))).toBe(true);
  });

  it('on shutdown mid-task: STOPPING, TASK_FAILED "worker shutting down", no IDLE, then unregisters', async () => {
    // A ten-minute task: stop() returning within the test's timeout means it did not wait for it.
    await dispatch('t-long', { taskType: 'echo', echo: { delaySec: 600 } });
    await waitFor(async () => (await client.hget(workerKey(worker.id), 'extra_task_id')) === 't-long');
    await worker.stop();
    expect(await report('t-long')).toMatchObject({ type: 'TASK_FAILED', error: 'worker shutting down', attempt: 1 });
    const events = await recorder.waitFor(() => {
      const e = recorder.of(WORKERS_EVENTS_CHANNEL, worker.id);
      return e.some((m) => m.type === 'UNREGISTER') ? e : null;
    }, 'UNREGISTER');
    const after = events.slice(events.findIndex((m) => m.status === 'STOPPING'));
    expect(after.length).toBeGreaterThan(1);
    expect(after.some((m) => m.status === 'IDLE')).toBe(false);
    expect(indexOf((m) => m.status === 'STOPPING')).toBeLessThan(indexOf((m) => m.type === 'TASK_FAILED'));
    expect(await client.sismember(WORKER_IDS_KEY, worker.id)).toBe(0);
    expect(await client.exists(workerKey(worker.id), workerHeartbeatKey(worker.id))).toBe(0);
  });

  it('registers again when its registry entry disappears (cleaned up as stale, Redis flushed)', async () => {
    await client.flushall();
    await waitFor(async () => (await client.hget(workerKey(worker.id), 'status')) === 'IDLE', { what: 're-registration' });
    expect(await client.sismember(WORKER_IDS_KEY, worker.id)).toBe(1);
    expect(await client.hget(workerKey(worker.id), 'hardware_json')).toContain('NVIDIA L4');
  });
});
