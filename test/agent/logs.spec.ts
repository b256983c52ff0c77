/**
 * Our worker's side of "Logs and progress" (docs/logs.md) against a real Redis, without an
 * orchestrator: lines batched into few XADDs, cut at 4 KiB, trimmed to about 1000, a later
 * attempt's log not overwritten by an earlier one; the report-progress script's holder check and
 * the parent's sum, with generated hostile values.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { ProtocolClient } from '../../src/agent/protocol-client';
import { silentLogger } from '../../src/agent/logger';
import { LineSplitter, TaskLog } from '../../src/agent/task-log';
import { taskHashKey, taskLogsKey, TASK_LOG_BATCH_LINES, TASK_LOG_LINE_MAX_BYTES, TASK_LOG_MAX_LINES } from '../../src/contracts/protocol';
import { decodeLogEntry, decodeProgress, LogLine } from '../../src/contracts/task-logs';
import { Keys } from '../../src/redis/keys';
import { TestRedisServer } from '../support/redis-server';

jest.setTimeout(60_000);

describe('task logs and progress, worker side', () => {
  const server = new TestRedisServer();
  let redis: Redis;
  const client = (workerId: string) => new ProtocolClient(redis, workerId, 60, 2);

  beforeAll(async () => {
    await server.start();
    redis = server.client();
  });
  afterAll(async () => {
    redis.disconnect();
    await server.destroy();
  });

  const storedLines = async (taskId: string): Promise<LogLine[]> => (await redis.xrange(taskLogsKey(taskId), '-', '+')).flatMap(([id, fields]) => decodeLogEntry(id, fields));

  it('the key names the orchestrator reads are the ones the worker writes', () => {
    const id = randomUUID();
    expect(Keys.task(id)).toBe(taskHashKey(id));
    expect(Keys.taskLogs(id)).toBe(taskLogsKey(id));
  });

  it('batches lines: 200 lines written at once are a handful of stream entries, in order, with a TTL', async () => {
    const id = randomUUID();
    const log = new TaskLog(client('w-batch'), id, 1, silentLogger);
    for (let i = 1; i <= 200; i++) log.line(i % 2 ? 'stdout' : 'stderr', `line ${i}`);
    await log.close();
    expect(await redis.xlen(taskLogsKey(id))).toBe(Math.ceil(200 / TASK_LOG_BATCH_LINES));
    const lines = await storedLines(id);
    expect(lines.map((l) => l.text)).toEqual(Array.from({ length: 200 }, (_, i) => `line ${i + 1}`));
    expect(lines[0]).toMatchObject({ stream: 'stdout', attempt: 1 });
    expect(lines[1]).toMatchObject({ stream: 'stderr', attempt: 1 });
    expect(Number.isNaN(Date.parse(lines[0].ts!))).toBe(false);
    expect(await redis.ttl(taskLogsKey(id))).toBeGreaterThan(0);
  });

  it('keeps about the last 1000 lines of the attempt', async () => {
    const id = randomUUID();
    const log = new TaskLog(client('w-trim'), id, 1, silentLogger);
    for (let i = 1; i <= 3000; i++) log.line('stdout', `n${i}`);
    await log.close();
    const lines = await storedLines(id);
    expect(lines.length).toBeGreaterThanOrEqual(TASK_LOG_MAX_LINES);
    expect(lines.length).toBeLessThan(TASK_LOG_MAX_LINES + TASK_LOG_BATCH_LINES);
    expect(lines[lines.length - 1].text).toBe('n3000');
  });

  it('a line of 1 MB is cut to 4 KiB with a note of its size, whole characters only; lines split across chunks are joined', () => {
    const out: string[] = [];
    const split = new LineSplitter((t) => out.push(t));
    const big = 'é'.repeat(512 * 1024); // 1 MiB of UTF-8
    const bytes = Buffer.from(`${big}\nsecond li`);
    // Chunks that split the two-byte characters.
    for (let i = 0; i < bytes.length; i += 65_537) split.push(bytes.subarray(i, i + 65_537));
    split.push(Buffer.from('ne\r\nthird'));
    split.end();
    expect(out).toHaveLength(3);
    expect(Buffer.byteLength(out[0])).toBeLessThanOrEqual(TASK_LOG_LINE_MAX_BYTES);
    expect(out[0]).toMatch(/^é+ \[\.\.\. 1048576 bytes, cut\]$/);
    expect(out.slice(1)).toEqual(['second line', 'third']);
  });

  it('a later attempt owns the log: lines an earlier attempt sends afterwards are refused, and its TaskLog stops', async () => {
    const id = randomUUID();
    const second = new TaskLog(client('w-new'), id, 2, silentLogger);
    second.line('stdout', 'from attempt 2');
    await second.close();
    const first = new TaskLog(client('w-old'), id, 1, silentLogger);
    first.line('stdout', 'late line of attempt 1');
    await first.close();
    expect((await storedLines(id)).map((l) => [l.attempt, l.text])).toEqual([[2, 'from attempt 2']]);
  });

  describe('report-progress', () => {
    const running = async (fields: Record<string, string> = {}) => {
      const id = randomUUID();
      await redis.hset(Keys.task(id), { id, status: 'RUNNING', assigned_worker: 'w1', attempt: '2', parent_id: '', ...fields });
      return id;
    };
    const progressOf = async (id: string) => decodeProgress(await redis.hget(Keys.task(id), 'progress'));

    it('writes the progress of a task the worker holds, never its status', async () => {
      const id = await running();
      expect(await client('w1').reportProgress(id, 2, { done: 3, total: 10, unit: 'steps' })).toBe(1);
      expect(await progressOf(id)).toEqual({ done: 3, total: 10, unit: 'steps' });
      expect(await client('w1').reportProgress(id, 2, { done: 4 })).toBe(1);
      expect(await progressOf(id)).toEqual({ done: 4, total: null, unit: null });
      expect(await redis.hget(Keys.task(id), 'status')).toBe('RUNNING');
    });

    it('ignores a progress for a task the worker does not hold: another worker, an earlier attempt, a finished or unknown task', async () => {
      const id = await running();
      await client('w1').reportProgress(id, 2, { done: 1, total: 5 });
      expect(await client('w2').reportProgress(id, 2, { done: 5, total: 5 })).toBe(0);
      expect(await client('w1').reportProgress(id, 1, { done: 5, total: 5 })).toBe(0);
      expect(await progressOf(id)).toEqual({ done: 1, total: 5, unit: null });
      const done = await running({ status: 'DONE' });
      expect(await client('w1').reportProgress(done, 2, { done: 5 })).toBe(0);
      expect(await redis.hget(Keys.task(done), 'progress')).toBeNull();
      const unknown = randomUUID();
      expect(await client('w1').reportProgress(unknown, 2, { done: 5 })).toBe(0);
      expect(await redis.exists(Keys.task(unknown))).toBe(0);
    });

    it("a sharded parent shows the sum of its shards' progress, kept up to date as each reports (a retried shard starts again)", async () => {
      const parent = randomUUID();
      await redis.hset(Keys.task(parent), { id: parent, status: 'RUNNING', assigned_worker: 'MULTI' });
      const s1 = await running({ parent_id: parent, assigned_worker: 'w1', attempt: '1' });
      const s2 = await running({ parent_id: parent, assigned_worker: 'w2', attempt: '1' });
      await client('w1').reportProgress(s1, 1, { done: 3, total: 10, unit: 'inputs' });
      await client('w2').reportProgress(s2, 1, { done: 4, total: 12, unit: 'inputs' });
      expect(await progressOf(parent)).toEqual({ done: 7, total: 22, unit: 'inputs' });
      await client('w1').reportProgress(s1, 1, { done: 10, total: 10, unit: 'inputs' });
      expect(await progressOf(parent)).toEqual({ done: 14, total: 22, unit: 'inputs' });
      // s1 retried on w3: its new attempt starts from 0.
      await redis.hset(Keys.task(s1), { assigned_worker: 'w3', attempt: '2', status: 'DISPATCHED' });
      await client('w3').reportProgress(s1, 2, { done: 0, total: 10, unit: 'inputs' });
      expect(await progressOf(parent)).toEqual({ done: 4, total: 22, unit: 'inputs' });
      // The old attempt's worker is not heard.
      expect(await client('w1').reportProgress(s1, 1, { done: 10, total: 10, unit: 'inputs' })).toBe(0);
      expect(await progressOf(parent)).toEqual({ done: 4, total: 22, unit: 'inputs' });
    });

    it('hostile values (generated): refused or stored readable, never an error, never a status change; junk already in the fields is survived', async () => {
      const parent = randomUUID();
      await redis.hset(Keys.task(parent), { id: parent, status: 'RUNNING' });
      const id = await running({ parent_id: parent, assigned_worker: 'w1', attempt: '1' });
      const value = fc.oneof(fc.string(), fc.double().map(String), fc.integer().map(String), fc.constantFrom('', 'nan', 'inf', '-inf', '1e400', '-0', '0x10', ' 5 '));
      const junk = fc.oneof(fc.string(), fc.json(), fc.constantFrom('{"done":"x"}', '[]', 'null', '{"done":1e400}'));
      await fc.assert(
        fc.asyncProperty(value, value, fc.string({ maxLength: 200 }), fc.option(junk), fc.option(junk), async (done, total, unit, shardJunk, parentJunk) => {
          if (shardJunk !== null) await redis.hset(Keys.task(id), 'progress', shardJunk);
          if (parentJunk !== null) await redis.hset(Keys.task(parent), 'progress', parentJunk);
          const before = await redis.hget(Keys.task(id), 'progress');
          const r = Number(await redis.eval((await import('../../src/contracts/task-logs')).REPORT_PROGRESS_LUA, 1, Keys.task(id), 'w1', '1', done, total, unit));
          expect([1, -1]).toContain(r);
          const after = await redis.hget(Keys.task(id), 'progress');
          if (r === -1) expect(after).toBe(before);
          else {
            expect(decodeProgress(after)).toEqual(expect.objectContaining({ done: expect.any(Number) }));
            const p = decodeProgress(await redis.hget(Keys.task(parent), 'progress'));
            expect(p === null || p.done >= 0).toBe(true);
          }
          expect(await redis.hmget(Keys.task(id), 'status', 'assigned_worker')).toEqual(['RUNNING', 'w1']);
        }),
        { numRuns: 200 },
      );
    });
  });
});
