/**
 * Logs and progress (issue 12, docs/logs.md) end to end: the real orchestrator, REAL worker processes
 * (three v2, one speaking v1), a real Redis. A command's lines followed over Server-Sent Events while
 * it runs, `?tail=N`, a 1 MB line cut, the v1 worker's task without logs, a sharded inference job
 * whose parent shows the sum of its shards' progress, and generated hostile log entries and progress
 * values that never make a 500 or a follower that never ends.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { ProtocolClient } from '../../src/agent/protocol-client';
import { taskLogsKey, TASK_LOG_LINE_MAX_BYTES } from '../../src/contracts/protocol';
import { LlmStub } from '../support/llm-stub';
import { Keys } from '../../src/redis/keys';
import { TaskLogsService } from '../../src/tasks/logs/task-logs.service';
import { ensureBuilt } from '../agent/support/built';
import { allIdle } from '../agent/support/idle';
import { CPU_ONLY_JSON, taskDoc } from '../agent/support/docs';
import { WorkerProcess } from '../agent/support/worker-process';
import { TestStack } from '../support/test-app';
import { waitFor } from '../support/wait-for';

jest.setTimeout(90_000);

interface SseEvent {
  event: string;
  data: any;
}

/** A Server-Sent Events reader on a real socket: events as they come, comments counted, the end of the response awaited. */
class SseClient {
  readonly events: SseEvent[] = [];
  status = 0;
  contentType = '';
  readonly closed: Promise<void>;
  private res: IncomingMessage | null = null;

  constructor(url: string) {
    this.closed = new Promise((resolve, reject) => {
      const req = get(url, (res) => {
        this.res = res;
        this.status = res.statusCode ?? 0;
        this.contentType = String(res.headers['content-type'] ?? '');
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = Object.fromEntries(
              block
                .split('\n')
                .filter((l) => !l.startsWith(':'))
                .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]),
            );
            if (fields.event) this.events.push({ event: fields.event, data: JSON.parse(fields.data) });
          }
        });
        res.on('end', () => resolve());
        res.on('error', reject);
      });
      req.on('error', reject);
    });
  }

  of(event: string): any[] {
    return this.events.filter((e) => e.event === event).map((e) => e.data);
  }

  close() {
    this.res?.destroy();
  }
}

describe('task logs and progress, end to end', () => {
  // Three CPU-only v2 workers weigh 1.8: a ratio of 1.5 makes a shardable task data-parallel when they are idle.
  const stack = new TestStack({ HEARTBEAT_TTL_SEC: '5', CLEANUP_INTERVAL_SEC: '3600', HIGH_AVAIL_RATIO: '1.5' });
  const stub = new LlmStub({ latencyMs: 20 });
  const workers: WorkerProcess[] = [];
  let redis: Redis;
  let shared: string;
  let base: string;

  const startWorker = (id: string, env: Record<string, string>) => {
    workers.push(
      new WorkerProcess(id, { REDIS_URL: stack.redis.url, RESULTS_DIR: join(shared, 'results'), WORKER_HARDWARE_JSON: CPU_ONLY_JSON, OPENAI_BASE_URL: stub.url, ...env }),
    );
    return waitFor(async () => (await stack.http().get(`/workers/${id}`)).body.status === 'IDLE', { what: `worker ${id} IDLE`, timeoutMs: 15_000 });
  };
  const submit = async (name: string, spec: Record<string, unknown>): Promise<string> => {
    const res = await stack.submit(taskDoc(name, spec));
    expect(res.status).toBe(200);
    return res.body.tasks[0].task_id;
  };
  const logs = (id: string, query = '') => stack.http().get(`/api/v1/tasks/${id}/logs${query}`);
  /** Runs a script with node in a command task; `tags` picks the worker kind. */
  const command = (script: string, tag: string, env: Record<string, string> = {}) => ({
    taskType: 'command',
    command: [process.execPath, '-e', script],
    env,
    resources: { replicas: 1, hardware: { cpu: '1', memory: '256Mi' }, tags: [tag] },
  });

  beforeAll(async () => {
    ensureBuilt();
    shared = mkdtempSync(join(tmpdir(), 'mloc-logs-'));
    await Promise.all([stack.start(), stub.start()]);
    redis = stack.redis.client();
    const server = stack.app.getHttpServer() as Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await Promise.all([...['v2-a', 'v2-b', 'v2-c'].map((id) => startWorker(id, { WORKER_TAGS: 'v2' })), startWorker('v1-a', { WORKER_PROTOCOL: '1', WORKER_TAGS: 'v1' })]);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    redis?.disconnect();
    await Promise.all([stack.stop(), stub.stop()]);
    rmSync(shared, { recursive: true, force: true });
  });

  it('follows a running command over SSE: its lines arrive while it runs, then an end event once it is DONE', async () => {
    const marker = join(shared, `go-${randomUUID()}`);
    // Prints three lines (one on stderr), waits for the test's marker, prints one more and exits.
    const script =
      'console.log("hello 1"); console.error("warn 2"); console.log("hello 3");' +
      'const fs = require("fs"); const t = setInterval(() => { if (fs.existsSync(process.env.GO)) { clearInterval(t); console.log("bye"); } }, 20);';
    const id = await submit('followed', command(script, 'v2', { GO: marker }));
    const sse = new SseClient(`${base}/api/v1/tasks/${id}/logs?follow=true`);
    await waitFor(() => sse.of('line').length >= 3, { what: 'three lines over SSE', timeoutMs: 15_000 });
    expect(sse.status).toBe(200);
    expect(sse.contentType).toMatch(/^text\/event-stream/);
    // The command cannot have ended: it waits for the marker.
    expect((await stack.task(id)).status).toBe('RUNNING');
    expect(sse.of('end')).toEqual([]);
    expect(
      sse
        .of('line')
        .map((l) => l.text)
        .sort(),
    ).toEqual(['hello 1', 'hello 3', 'warn 2']);
    expect(sse.of('line').find((l) => l.text === 'warn 2')).toMatchObject({ stream: 'stderr', attempt: 1 });
    writeFileSync(marker, '');
    await sse.closed;
    expect(sse.of('line').map((l) => l.text)).toContain('bye');
    expect(sse.events[sse.events.length - 1]).toEqual({ event: 'end', data: { status: 'DONE' } });
    expect(sse.of('line').findIndex((l) => l.text === 'bye')).toBe(sse.of('line').length - 1);
  });

  it('?tail=N gives the last N lines; a 1 MB line is cut to 4 KiB with a note; the record has no progress a command did not report', async () => {
    const script = 'for (let i = 1; i <= 5; i++) console.log("line " + i); console.log("x".repeat(1 << 20)); console.log("after");';
    const id = await submit('tailed', command(script, 'v2'));
    const t = await stack.waitForStatus(id, 'DONE', 20_000);
    expect(t.progress).toBeNull();
    const all = await logs(id);
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ task_id: id, supported: true });
    expect(all.body.lines.map((l: { text: string }) => l.text.slice(0, 6))).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'xxxxxx', 'after']);
    const big = all.body.lines[5].text as string;
    expect(Buffer.byteLength(big)).toBeLessThanOrEqual(TASK_LOG_LINE_MAX_BYTES);
    expect(big).toMatch(/^x+ \[\.\.\. 1048576 bytes, cut\]$/);
    const two = await logs(id, '?tail=2');
    expect(two.body.lines.map((l: { text: string }) => l.text.slice(0, 6))).toEqual(['xxxxxx', 'after']);
    // follow on a finished task: the tail, then the end at once.
    const sse = new SseClient(`${base}/api/v1/tasks/${id}/logs?follow=true&tail=1`);
    await sse.closed;
    expect(sse.events).toEqual([expect.objectContaining({ event: 'line', data: expect.objectContaining({ text: 'after' }) }), { event: 'end', data: { status: 'DONE' } }]);
  });

  it('bad tail or follow is 400 naming the field; an unknown or malformed id is 404', async () => {
    const id = await submit('for-bad-queries', { taskType: 'echo', data: { items: [1] }, resources: { replicas: 1, hardware: { cpu: '1', memory: '256Mi' }, tags: ['v2'] } });
    for (const [query, field] of [
      ['?tail=0', 'tail'],
      ['?tail=10001', 'tail'],
      ['?tail=abc', 'tail'],
      ['?tail=1e3', 'tail'],
      ['?tail=1&tail=2', 'tail'],
      ['?follow=yes', 'follow'],
      ['?follow=true&follow=false', 'follow'],
    ]) {
      const res = await logs(id, query);
      expect([query, res.status, res.body.field]).toEqual([query, 400, field]);
    }
    expect((await logs(randomUUID())).status).toBe(404);
    expect((await logs('not-a-task-id')).status).toBe(404);
    expect((await logs(`${id}:dependents`)).status).toBe(404);
    const sse404 = await stack.http().get(`/api/v1/tasks/${randomUUID()}/logs?follow=true`);
    expect(sse404.status).toBe(404);
    expect(sse404.headers['content-type']).toMatch(/json/);
  });

  it('a task run by a v1 worker: no lines, supported false, a note saying v1 workers send no logs', async () => {
    const id = await submit('on-v1', command('console.log("printed, never sent")', 'v1'));
    const t = await stack.waitForStatus(id, 'DONE', 20_000);
    expect(t.assigned_worker).toBe('v1-a');
    const res = await logs(id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ task_id: id, lines: [], supported: false, note: expect.stringContaining('v1 workers send no logs') });
    expect(await redis.exists(taskLogsKey(id))).toBe(0);
    expect(t.progress).toBeNull();
    // Followed: the note, then the end.
    const sse = new SseClient(`${base}/api/v1/tasks/${id}/logs?follow=true`);
    await sse.closed;
    expect(sse.events.map((e) => e.event)).toEqual(['info', 'end']);
    expect(sse.of('info')[0]).toMatchObject({ supported: false });
  });

  it('a sharded inference job: every shard reports its progress and the parent shows their sum; a progress from a worker that does not hold the task is ignored', async () => {
    const prompts = ['a', 'b c', 'd e f', 'g', 'h i', 'j k l', 'm'];
    // Placement is data-parallel only while the scheduler sees the three v2 workers idle.
    await allIdle(stack, workers.length);
    const id = await submit('sharded', {
      taskType: 'inference',
      parallel: { enabled: true, max_shards: 3 },
      data: { prompts },
      inference: { concurrency: 1 },
      resources: { replicas: 1, hardware: { cpu: '1', memory: '256Mi' }, tags: ['v2'] },
    });
    const parent = await stack.waitForStatus(id, 'DONE', 30_000);
    expect(parent.children.length).toBeGreaterThanOrEqual(2);
    const shards = await Promise.all(parent.children.map((c: string) => stack.task(c)));
    const sizes = shards.map((s) => s.result.items.length);
    expect(shards.map((s) => s.progress)).toEqual(sizes.map((n) => ({ done: n, total: n, unit: 'inputs' })));
    expect(parent.progress).toEqual({ done: prompts.length, total: prompts.length, unit: 'inputs' });
    // Each shard's log has its progress lines; the parent's points to them.
    const shardLog = await logs(parent.children[0]);
    expect(shardLog.body.lines.filter((l: { stream: string }) => l.stream === 'progress')).toHaveLength(sizes[0]);
    expect((await logs(id)).body).toMatchObject({ lines: [], supported: true, note: expect.stringContaining('shards') });
    // A worker that does not hold a shard (or holds nothing any more) is not heard.
    const other = shards[0].assigned_worker === 'v2-a' ? 'v2-b' : 'v2-a';
    const client = new ProtocolClient(redis, other, 60, 2);
    expect(await client.reportProgress(parent.children[0], 1, { done: 99, total: 99 })).toBe(0);
    expect(await new ProtocolClient(redis, shards[0].assigned_worker, 60, 2).reportProgress(parent.children[0], 1, { done: 99, total: 99 })).toBe(0);
    expect((await stack.task(id)).progress).toEqual(parent.progress);
  });

  it('hostile log entries and progress values (generated): never a 500, lines cut, a follower of a finished task always ends', async () => {
    const id = await submit('hostile-target', { taskType: 'echo', data: { items: [1] }, resources: { replicas: 1, hardware: { cpu: '1', memory: '256Mi' }, tags: ['v2'] } });
    await stack.waitForStatus(id, 'DONE', 20_000);
    const key = taskLogsKey(id);
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme', maxLength: 50 }), fc.constant('y'.repeat(20_000)));
    const line = fc.oneof(
      fc.tuple(fc.oneof(fc.double(), fc.integer(), fc.constant(1e300)), fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('stdout', 'stderr')), text),
      fc.anything(),
    );
    const linesValue = fc.oneof(
      fc.array(line, { maxLength: 8 }).map((l) => JSON.stringify(l)),
      fc.string(),
      fc.json(),
    );
    const entry = fc.oneof(
      linesValue.map((v) => ['w', 'x', 'lines', v]),
      fc.array(fc.string({ maxLength: 10 }), { minLength: 2, maxLength: 6 }).map((a) => (a.length % 2 ? a.slice(1) : a)),
    );
    const id_ = fc.oneof(
      fc.constant('*'),
      fc.tuple(fc.nat({ max: 1e6 }), fc.nat({ max: 1e6 })).map(([a, b]) => `${a + 1}-${b}`),
    );
    const progress = fc.oneof(
      fc.string(),
      fc.json(),
      fc.constantFrom('{"done":-1}', '{"done":1e999}', '{"done":3,"total":"x"}', '{"done":2,"unit":' + JSON.stringify('u'.repeat(100)) + '}'),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(id_, entry), { maxLength: 6 }), progress, fc.integer({ min: 1, max: 20 }), async (entries, p, tail) => {
        await redis.del(key);
        for (const [eid, fields] of entries) await redis.xadd(key, eid, ...fields).catch(() => undefined);
        await redis.hset(Keys.task(id), 'progress', p);
        const record = await stack.http().get(`/api/v1/tasks/${id}`);
        expect(record.status).toBe(200);
        const pr = record.body.progress;
        expect(pr === null || (typeof pr.done === 'number' && pr.done >= 0 && (pr.unit === null || pr.unit.length <= 32))).toBe(true);
        const res = await logs(id, `?tail=${tail}`);
        expect(res.status).toBe(200);
        expect(res.body.lines.length).toBeLessThanOrEqual(tail);
        for (const l of res.body.lines) {
          expect(typeof l.text).toBe('string');
          expect(Buffer.byteLength(l.text)).toBeLessThanOrEqual(TASK_LOG_LINE_MAX_BYTES);
          expect(l.stream).toMatch(/^[a-z][a-z0-9_-]{0,15}$/);
        }
        const sse = new SseClient(`${base}/api/v1/tasks/${id}/logs?follow=true&tail=${tail}`);
        await sse.closed;
        expect(sse.status).toBe(200);
        expect(sse.events[sse.events.length - 1]).toEqual({ event: 'end', data: { status: 'DONE' } });
      }),
      { numRuns: 40 },
    );
  });

  it("a task's logs are removed with it (TaskLogsService.remove)", async () => {
    const id = await submit('removed', command('console.log("to be removed")', 'v2'));
    await stack.waitForStatus(id, 'DONE', 20_000);
    expect(await redis.exists(taskLogsKey(id))).toBe(1);
    expect(await stack.app.get(TaskLogsService).remove([id, 'not-an-id'])).toBe(1);
    expect(await redis.exists(taskLogsKey(id))).toBe(0);
    expect((await logs(id)).body.lines).toEqual([]);
  });
});
