import fc from 'fast-check';
import { EVENTS_STREAM_KEY, TASKS_EVENTS_CHANNEL, WORKER_IDS_KEY, workerKey, WORKERS_EVENTS_CHANNEL } from '../../src/contracts/protocol';
import { parseWorkerEvent, readTaskEvent } from '../../src/events/event-parsing';
import * as v1 from './v1-messages';

/** A CommandSink that records the commands, as a pipeline would queue them. */
function recorder() {
  const cmds: [string, ...unknown[]][] = [];
  const sink: v1.CommandSink = {
    sadd: (...a) => cmds.push(['sadd', ...a]),
    srem: (...a) => cmds.push(['srem', ...a]),
    hset: (...a) => cmds.push(['hset', ...a]),
    setex: (...a) => cmds.push(['setex', ...a]),
    del: (...a) => cmds.push(['del', ...a]),
    publish: (...a) => cmds.push(['publish', ...a]),
    xadd: (...a) => cmds.push(['xadd', ...a]),
  };
  const published = (channel: string) => cmds.filter((c) => c[0] === 'publish' && c[1] === channel).map((c) => JSON.parse(c[2] as string) as Record<string, unknown>);
  return { cmds, sink, published };
}

const TS = '2026-01-01T00:00:00.000Z';
const LATER_KEYS = ['type', 'worker_id', 'task_id', 'status', 'tags', 'metrics', 'payload', 'result', 'error', 'ts'];

/** The harness's v1 message builders (tests, fault fleet and bench send exactly these), read back by the orchestrator's own parsers. */
describe('v1 worker messages', () => {
  it('registration: SADD, HSET with every field and STARTING, REGISTER; v2 says protocol 2', () => {
    const r = recorder();
    v1.register(r.sink, { id: 'w1', tags: ['a'], env: { executors: ['echo'] }, pid: 7 }, TS);
    expect(r.cmds.map((c) => c[0])).toEqual(['sadd', 'hset', 'publish']);
    expect(r.cmds[0]).toEqual(['sadd', WORKER_IDS_KEY, 'w1']);
    expect(r.cmds[1][2]).toEqual(expect.objectContaining({ worker_id: 'w1', status: 'STARTING', pid: '7', env_json: '{"executors":["echo"]}', tags_json: '["a"]', last_seen: TS }));
    expect(r.cmds[1][2]).not.toHaveProperty('protocol');
    expect(parseWorkerEvent(r.cmds[2][2] as string)).toMatchObject({ type: 'REGISTER', worker_id: 'w1' });
    const v2 = recorder();
    v1.register(v2.sink, { id: 'w2', protocol: 2 }, TS);
    expect(v2.cmds[1][2]).toHaveProperty('protocol', '2');
    expect(v2.published(WORKERS_EVENTS_CHANNEL)[0]).toMatchObject({ type: 'REGISTER', protocol: 2 });
  });

  it('the acknowledgement names the task in extra (dd27001) or payload (later), and the orchestrator reads both as the same task', () => {
    fc.assert(
      fc.property(fc.constantFrom<v1.Generation>('dd27001', 'later'), fc.uuid(), (generation, taskId) => {
        const r = recorder();
        v1.status(r.sink, { id: 'w1', generation }, 'RUNNING', { task_id: taskId }, TS);
        const [ev] = r.published(WORKERS_EVENTS_CHANNEL);
        if (generation === 'later') {
          expect(Object.keys(ev).sort()).toEqual([...LATER_KEYS].sort());
          expect(ev.payload).toEqual({ task_id: taskId });
          expect(r.cmds[0][2]).toEqual({ status: 'RUNNING', last_seen: TS });
        } else {
          expect(ev.extra).toEqual({ task_id: taskId });
          expect(r.cmds[0][2]).toEqual({ status: 'RUNNING', last_seen: TS, extra_task_id: taskId });
        }
        expect(parseWorkerEvent(JSON.stringify(ev))).toMatchObject({ type: 'STATUS', status: 'RUNNING', task_id: taskId });
      }),
    );
  });

  it('reports: v1 on tasks.events (the later generation without result); v2 on the stream with the attempt, mirrored except TASK_STARTED', () => {
    const r = recorder();
    const [t1, t2] = ['6f1c1a52-0d3e-4e55-9a43-2b5f0e0f6d01', '6f1c1a52-0d3e-4e55-9a43-2b5f0e0f6d02'];
    v1.report(r.sink, { id: 'w1' }, 'TASK_SUCCEEDED', t1, { result: { ok: 1 } }, TS);
    v1.report(r.sink, { id: 'w1', generation: 'later' }, 'TASK_SUCCEEDED', t2, { result: { ok: 1 } }, TS);
    const [a, b] = r.published(TASKS_EVENTS_CHANNEL);
    expect(a).toEqual({ type: 'TASK_SUCCEEDED', worker_id: 'w1', task_id: t1, result: { ok: 1 }, ts: TS });
    expect(Object.keys(b).sort()).toEqual([...LATER_KEYS].sort());
    expect(b).toMatchObject({ type: 'TASK_SUCCEEDED', task_id: t2, result: null });
    expect(readTaskEvent(JSON.stringify(a))).toMatchObject({ ev: { type: 'TASK_SUCCEEDED', task_id: t1 } });
    expect(readTaskEvent(JSON.stringify(b))).toMatchObject({ ev: { type: 'TASK_SUCCEEDED', task_id: t2 } });

    const s = recorder();
    v1.report(s.sink, { id: 'w1', protocol: 2 }, 'TASK_STARTED', 't3', {}, TS, 4);
    v1.report(s.sink, { id: 'w1', protocol: 2 }, 'TASK_FAILED', 't3', { error: 'boom' }, TS, 4);
    expect(s.cmds.map((c) => c[0])).toEqual(['xadd', 'xadd', 'publish']);
    expect(s.cmds[0][1]).toBe(EVENTS_STREAM_KEY);
    expect(JSON.parse(s.cmds[1].at(-1) as string)).toMatchObject({ type: 'TASK_FAILED', task_id: 't3', error: 'boom', protocol: 2, attempt: 4 });
    expect(s.published(TASKS_EVENTS_CHANNEL)).toEqual([JSON.parse(s.cmds[1].at(-1) as string)]);
  });

  it('COMMANDS counts what each step sends (the bench reports the workers share of Redis commands from it)', () => {
    const steps: [keyof typeof v1.COMMANDS, (s: v1.CommandSink) => void][] = [
      ['register', (s) => v1.register(s, { id: 'w' }, TS)],
      ['heartbeat', (s) => v1.heartbeat(s, { id: 'w' }, 30, TS)],
      ['status', (s) => v1.status(s, { id: 'w' }, 'IDLE', { last_task: 't' }, TS)],
      ['report', (s) => v1.report(s, { id: 'w' }, 'TASK_SUCCEEDED', 't', { result: {} }, TS)],
      ['unregister', (s) => v1.unregister(s, { id: 'w' }, TS)],
    ];
    for (const [name, step] of steps) {
      const r = recorder();
      step(r.sink);
      expect([name, r.cmds.length]).toEqual([name, v1.COMMANDS[name]]);
    }
    const r = recorder();
    v1.unregister(r.sink, { id: 'w' }, TS);
    expect(r.cmds[1]).toEqual(['del', workerKey('w'), 'worker:w:hb']);
  });
});
