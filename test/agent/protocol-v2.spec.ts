/**
 * The worker in its default mode, the durable variant (v2, docs/protocol.md), against a real Redis
 * without an orchestrator: the registration field, dispatches taken from the inbox with BLMOVE into
 * the processing list, TASK_STARTED and the reports on the event stream (mirrored on tasks.events),
 * crash recovery from the processing list, and shutdown.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  EVENTS_STREAM_KEY,
  TASKS_EVENTS_CHANNEL,
  WORKER_IDS_KEY,
  workerHeartbeatKey,
  workerInboxKey,
  workerKey,
  workerProcessingKey,
  WORKERS_EVENTS_CHANNEL,
} from '../../src/contracts/protocol';
import { loadWorkerConfig } from '../../src/agent/config';
import { defaultRegistry } from '../../src/agent/executors';
import { silentLogger } from '../../src/agent/logger';
import { Worker } from '../../src/agent/worker';
import { TestRedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait-for';
import { ChannelRecorder } from './support/channel-recorder';

const CPU_ONLY = { cpu: { logical_cores: 4, model: 'test-cpu' }, memory: { total_bytes: 8 * 2 ** 30 }, gpu: null, network: { ip: '10.0.0.9' } };

interface StreamEvent {
  id: string;
  fields: string[];
  ev: Record<string, any>;
}

describe('worker protocol v2 (the default) against a real Redis', () => {
  const redis = new TestRedisServer();
  let client: Redis;
  let recorder: ChannelRecorder;
  let resultsDir: string;
  let worker: Worker | null;
  let seq = 0;
  let id: string;

  beforeAll(async () => {
    await redis.start();
    client = redis.client();
  });
  afterAll(async () => {
    client.disconnect();
    await redis.destroy();
  });

  beforeEach(async () => {
    id = `v2w${++seq}`;
    worker = null;
    resultsDir = mkdtempSync(join(tmpdir(), 'mloc-worker-results-'));
    recorder = await new ChannelRecorder(redis.url).start(WORKERS_EVENTS_CHANNEL, TASKS_EVENTS_CHANNEL);
  });
  afterEach(async () => {
    await worker?.stop();
    recorder.close();
    rmSync(resultsDir, { recursive: true, force: true });
  });

  /** No WORKER_PROTOCOL: v2 is the default. */
  const startWorker = async () => {
    const config = loadWorkerConfig({ REDIS_URL: redis.url, RESULTS_DIR: resultsDir, WORKER_ID: id, HEARTBEAT_INTERVAL_SEC: '0.2' });
    expect(config.protocol).toBe(2);
    worker = new Worker(config, { registry: defaultRegistry(), log: silentLogger, detectHardware: async () => CPU_ONLY });
    await worker.start();
    return worker;
  };
  const message = (taskId: string, spec: Record<string, unknown>, attempt = 1, to = id) =>
    JSON.stringify({
      task_id: taskId,
      task: { apiVersion: 'mloc/v1', kind: 'Test', metadata: { name: taskId }, spec },
      task_type: spec.taskType,
      assigned_worker: to,
      dispatched_at: new Date().toISOString(),
      attempt,
    });
  /** What the orchestrator does for a v2 worker: RPUSH on its inbox (the topic PUBLISH is only a mirror). */
  const dispatch = (taskId: string, spec: Record<string, unknown>, attempt = 1) => client.rpush(workerInboxKey(id), message(taskId, spec, attempt));
  const stream = async (): Promise<StreamEvent[]> =>
    (await client.xrange(EVENTS_STREAM_KEY, '-', '+')).map(([entryId, fields]) => ({ id: entryId, fields, ev: JSON.parse(fields[1]) })).filter((e) => e.ev.worker_id === id);
  const streamed = (taskId: string, type: string) =>
    waitFor(async () => (await stream()).find((e) => e.ev.task_id === taskId && e.ev.type === type), { what: `${type} of ${taskId} on the stream` });
  const mirrored = (taskId: string) =>
    recorder.waitFor(() => recorder.messages.find((m) => m.channel === TASKS_EVENTS_CHANNEL && m.msg.task_id === taskId)?.msg, `mirror of ${taskId}`);
  const lists = async () => ({ inbox: await client.lrange(workerInboxKey(id), 0, -1), processing: await client.lrange(workerProcessingKey(id), 0, -1) });
  const indexOf = (pred: (m: Record<string, any>) => boolean) => recorder.messages.findIndex((m) => pred(m.msg));

  it('registers with protocol "2" in its hash and "protocol": 2 in REGISTER, and does not subscribe to the task topic', async () => {
    await startWorker();
    const hash = await client.hgetall(workerKey(id));
    expect(hash).toMatchObject({ worker_id: id, status: 'IDLE', protocol: '2' });
    const events = await recorder.waitFor(() => {
      const e = recorder.of(WORKERS_EVENTS_CHANNEL, id);
      return e.length >= 3 ? e : null;
    }, 'registration events');
    expect(events.slice(0, 3).map((e) => [e.type, e.status])).toEqual([
      ['REGISTER', 'STARTING'],
      ['HEARTBEAT', undefined],
      ['STATUS', 'IDLE'],
    ]);
    expect(events[0]).toMatchObject({ type: 'REGISTER', worker_id: id, status: 'STARTING', tags: [], protocol: 2 });
    // Nobody listens on the topic: a v2 worker takes nothing from it, not even a dispatch for itself.
    expect(await client.pubsub('NUMSUB', 'tasks')).toEqual(['tasks', 0]);
    // PUBLISH answers how many subscribers received the message: none.
    expect(await client.publish('tasks', message('t-topic', { taskType: 'echo' }))).toBe(0);
  });

  it('takes a dispatch with BLMOVE, acknowledges with STATUS RUNNING and TASK_STARTED, reports on the stream and the mirror, then LREMs it and turns IDLE', async () => {
    const monitor = await client.monitor();
    const commands: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args.some((a) => a.includes(id))) commands.push(args);
    });
    try {
      await startWorker();
      await dispatch('t-ok', { taskType: 'echo', data: { items: ['a'] } }, 2);
      const done = await streamed('t-ok', 'TASK_SUCCEEDED');
      await recorder.waitFor(() => recorder.of(WORKERS_EVENTS_CHANNEL, id, 'STATUS').find((m) => m.extra?.last_task === 't-ok'), 'IDLE after the task');

      // The stream: exactly these two entries, one field `event`, keys in the documented order.
      const entries = await stream();
      expect(entries.map((e) => e.fields[0])).toEqual(['event', 'event']);
      expect(entries.map((e) => e.fields.length)).toEqual([2, 2]);
      const [started] = entries;
      expect(Object.keys(started.ev)).toEqual(['type', 'worker_id', 'task_id', 'attempt', 'protocol', 'ts']);
      expect(started.ev).toMatchObject({ type: 'TASK_STARTED', worker_id: id, task_id: 't-ok', attempt: 2, protocol: 2 });
      expect(Object.keys(done.ev)).toEqual(['type', 'worker_id', 'task_id', 'attempt', 'result', 'protocol', 'ts']);
      expect(done.ev).toMatchObject({ type: 'TASK_SUCCEEDED', attempt: 2, protocol: 2, result: { items: ['a'], output_dir: join(resultsDir, 't-ok') } });
      expect(Date.parse(done.ev.ts)).not.toBeNaN();

      // The mirror on tasks.events is the same JSON; TASK_STARTED is not mirrored.
      expect(await mirrored('t-ok')).toEqual(done.ev);
      expect(recorder.messages.filter((m) => m.channel === TASKS_EVENTS_CHANNEL && m.msg.task_id === 't-ok')).toHaveLength(1);
      const running = indexOf((m) => m.type === 'STATUS' && m.status === 'RUNNING' && m.extra?.task_id === 't-ok');
      const reported = indexOf((m) => m.type === 'TASK_SUCCEEDED' && m.task_id === 't-ok');
      const idle = indexOf((m) => m.type === 'STATUS' && m.status === 'IDLE' && m.extra?.last_task === 't-ok');
      expect(running).toBeGreaterThanOrEqual(0);
      expect(running).toBeLessThan(reported);
      expect(reported).toBeLessThan(idle);
      expect(await client.hmget(workerKey(id), 'status', 'extra_task_id', 'extra_last_task')).toEqual(['IDLE', 't-ok', 't-ok']);
      expect(await lists()).toEqual({ inbox: [], processing: [] });

      // The exact commands: BLMOVE with a short timeout; XADD with MAXLEN ~; stream entry, mirror, then LREM.
      await waitFor(() => commands.some((c) => c[0].toLowerCase() === 'lrem'), { what: 'LREM in MONITOR' });
      const name = (c: string[]) => c[0].toUpperCase();
      expect(commands.find((c) => name(c) === 'BLMOVE')).toEqual(['blmove', workerInboxKey(id), workerProcessingKey(id), 'LEFT', 'RIGHT', '1']);
      const xadds = commands.filter((c) => name(c) === 'XADD');
      expect(xadds.map((c) => c.slice(0, 6))).toEqual([
        ['xadd', EVENTS_STREAM_KEY, 'MAXLEN', '~', '100000', '*'],
        ['xadd', EVENTS_STREAM_KEY, 'MAXLEN', '~', '100000', '*'],
      ]);
      const reportXadd = commands.findIndex((c) => name(c) === 'XADD' && c[7].includes('TASK_SUCCEEDED'));
      const mirror = commands.findIndex((c) => name(c) === 'PUBLISH' && c[1] === TASKS_EVENTS_CHANNEL);
      const lrem = commands.findIndex((c) => name(c) === 'LREM');
      expect(commands[mirror][2]).toBe(commands[reportXadd][7]);
      expect(reportXadd).toBeLessThan(mirror);
      expect(mirror).toBeLessThan(lrem);
      expect(commands[lrem]).toEqual(['lrem', workerProcessingKey(id), '0', expect.any(String)]);
      expect(JSON.parse(commands[lrem][3])).toMatchObject({ task_id: 't-ok', attempt: 2 });
    } finally {
      monitor.disconnect();
    }
  });

  it('runs one task at a time: the running dispatch sits in processing, the next waits in the inbox', async () => {
    await startWorker();
    await dispatch('t-first', { taskType: 'echo', echo: { delaySec: 0.5 } });
    await dispatch('t-second', { taskType: 'echo' });
    await streamed('t-first', 'TASK_STARTED');
    const during = await lists();
    expect(during.processing.map((m) => JSON.parse(m).task_id)).toEqual(['t-first']);
    expect(during.inbox.map((m) => JSON.parse(m).task_id)).toEqual(['t-second']);
    await streamed('t-second', 'TASK_SUCCEEDED');
    const types = (await stream()).map((e) => `${e.ev.type} ${e.ev.task_id}`);
    expect(types).toEqual(['TASK_STARTED t-first', 'TASK_SUCCEEDED t-first', 'TASK_STARTED t-second', 'TASK_SUCCEEDED t-second']);
    expect(await lists()).toEqual({ inbox: [], processing: [] });
  });

  it('reports failures on the stream with the attempt (unknown taskType) and drops inbox entries that are not its dispatches', async () => {
    await startWorker();
    await client.rpush(workerInboxKey(id), 'not json', message('t-theirs', { taskType: 'echo' }, 1, 'someone-else'));
    await dispatch('t-unknown', { taskType: 'quantum' }, 4);
    const failed = await streamed('t-unknown', 'TASK_FAILED');
    expect(failed.ev).toMatchObject({ worker_id: id, attempt: 4, protocol: 2, error: 'no executor for taskType quantum on this worker' });
    expect(Object.keys(failed.ev)).toEqual(['type', 'worker_id', 'task_id', 'attempt', 'error', 'protocol', 'ts']);
    expect(await mirrored('t-unknown')).toEqual(failed.ev);
    expect((await stream()).some((e) => e.ev.task_id === 't-theirs')).toBe(false);
    await waitFor(async () => (await client.hget(workerKey(id), 'status')) === 'IDLE');
    expect(await lists()).toEqual({ inbox: [], processing: [] });
  });

  it('at start-up, reports a dispatch left in processing (a crash) TASK_FAILED with its attempt, before registering, and does not run it', async () => {
    const left = message('t-crashed', { taskType: 'echo', data: { items: ['x'] } }, 3);
    await client.rpush(workerProcessingKey(id), left, 'garbage');
    // What the orchestrator left for us meanwhile is taken afterwards, as usual.
    await dispatch('t-after', { taskType: 'echo' }, 1);
    await startWorker();

    const failed = await streamed('t-crashed', 'TASK_FAILED');
    expect(failed.ev).toEqual({
      type: 'TASK_FAILED',
      worker_id: id,
      task_id: 't-crashed',
      attempt: 3,
      error: 'worker restarted before finishing the task',
      protocol: 2,
      ts: expect.any(String),
    });
    expect(await mirrored('t-crashed')).toEqual(failed.ev);
    await streamed('t-after', 'TASK_SUCCEEDED');
    const types = (await stream()).map((e) => `${e.ev.type} ${e.ev.task_id}`);
    expect(types).toEqual(['TASK_FAILED t-crashed', 'TASK_STARTED t-after', 'TASK_SUCCEEDED t-after']);
    expect(existsSync(join(resultsDir, 't-crashed'))).toBe(false);
    // Reported before REGISTER, so the orchestrator hears it before it can place new work here.
    expect(indexOf((m) => m.type === 'TASK_FAILED' && m.task_id === 't-crashed')).toBeLessThan(indexOf((m) => m.type === 'REGISTER' && m.worker_id === id));
    expect(await lists()).toEqual({ inbox: [], processing: [] });
  });

  it('on shutdown mid-task: STOPPING, TASK_FAILED "worker shutting down" on the stream, out of processing; a dispatch in the inbox stays; unregisters', async () => {
    const w = await startWorker();
    // A ten-minute task: stop() returning within the test's timeout means it did not wait for it.
    await dispatch('t-long', { taskType: 'echo', echo: { delaySec: 600 } }, 5);
    await streamed('t-long', 'TASK_STARTED');
    await dispatch('t-waiting', { taskType: 'echo' }, 1);
    await w.stop();

    const failed = await streamed('t-long', 'TASK_FAILED');
    expect(failed.ev).toMatchObject({ error: 'worker shutting down', attempt: 5, protocol: 2 });
    expect(await mirrored('t-long')).toEqual(failed.ev);
    const events = await recorder.waitFor(() => {
      const e = recorder.of(WORKERS_EVENTS_CHANNEL, id);
      return e.some((m) => m.type === 'UNREGISTER') ? e : null;
    }, 'UNREGISTER');
    const after = events.slice(events.findIndex((m) => m.status === 'STOPPING'));
    expect(after.some((m) => m.status === 'IDLE')).toBe(false);
    expect(indexOf((m) => m.status === 'STOPPING')).toBeLessThan(indexOf((m) => m.type === 'TASK_FAILED'));
    const left = await lists();
    expect(left.processing).toEqual([]);
    expect(left.inbox.map((m) => JSON.parse(m).task_id)).toEqual(['t-waiting']);
    expect((await stream()).some((e) => e.ev.task_id === 't-waiting')).toBe(false);
    expect(await client.sismember(WORKER_IDS_KEY, id)).toBe(0);
    expect(await client.exists(workerKey(id), workerHeartbeatKey(id))).toBe(0);
  });

  it('shuts down at once when idle: the BLMOVE in flight is ended with CLIENT UNBLOCK', async () => {
    // MONITOR does not show admin commands such as CLIENT: Redis counts them in INFO commandstats.
    const unblocks = async () => Number(/cmdstat_client\|unblock:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
    const before = await unblocks();
    const w = await startWorker();
    // Its BLMOVE is blocked in Redis (a client whose last command is blmove, flag b).
    await waitFor(
      async () =>
        String(await client.client('LIST'))
          .split('\n')
          .some((l) => / cmd=blmove /.test(l) && / flags=b /.test(l)),
      { what: 'a blocked BLMOVE' },
    );
    await w.stop();
    // The blocked BLMOVE was ended with CLIENT UNBLOCK, not left to time out.
    expect((await unblocks()) - before).toBeGreaterThanOrEqual(1);
    // Nothing was moved to processing by the unblocked BLMOVE.
    expect(await client.sismember(WORKER_IDS_KEY, id)).toBe(0);
    expect(await lists()).toEqual({ inbox: [], processing: [] });
  });

  it('registers again, with protocol "2", when its registry entry disappears', async () => {
    await startWorker();
    await client.del(workerKey(id));
    await client.srem(WORKER_IDS_KEY, id);
    await waitFor(async () => (await client.hget(workerKey(id), 'status')) === 'IDLE', { what: 're-registration' });
    expect(await client.hget(workerKey(id), 'protocol')).toBe('2');
    await dispatch('t-later', { taskType: 'echo' });
    await streamed('t-later', 'TASK_SUCCEEDED');
  });
});
