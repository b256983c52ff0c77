/**
 * What hostile requests leave in the log file: no forged line, no query string, no credential.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createApp } from '../../src/bootstrap';
import { createWinston, WinstonLogger } from '../../src/common/logging';
import { loadConfig } from '../../src/config/env';
import { RedisService } from '../../src/redis/redis.service';
import { FakeV1Worker } from '../support/fake-worker';
import { TestRedisServer } from '../support/redis-server';
import { taskYaml } from '../support/test-app';
import { waitFor } from '../support/wait-for';

const TOKEN = 'hdr-SECRET-token';
const FORGED = '2026-01-01T00:00:00.000Z ERROR [Auth] forged';

function readLog(dir: string): string {
  return readdirSync(dir)
    .filter((n) => n.startsWith('orchestrator'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
}

describe('hostile requests in the log', () => {
  const redis = new TestRedisServer();
  const dir = mkdtempSync(join(tmpdir(), 'mloc-hostile-log-'));
  let app: NestExpressApplication;
  let worker: FakeV1Worker;
  let text = '';

  beforeAll(async () => {
    await redis.start();
    const config = loadConfig({ REDIS_URL: redis.url, ORCHESTRATOR_TOKEN: TOKEN, LOG_FILE: join(dir, 'orchestrator.log'), LOG_LEVEL: 'debug' });
    app = await createApp(config, { console: false });
    await app.init();
    await app.get(RedisService).waitReady();
    worker = await new FakeV1Worker(redis.url, { id: 'log-w1', behaviour: 'hold' }).start();
    const http = () => request(app.getHttpServer());
    const auth = { Authorization: `Bearer ${TOKEN}` };
    await waitFor(async () => (await http().get('/workers/log-w1').set(auth)).status === 200, { what: 'worker registered' });

    // A name with a line feed: today it reaches "dispatched <name>" and writes a line of its own.
    const forged = await http()
      .post('/api/v1/tasks')
      .set(auth)
      .set('Content-Type', 'text/yaml')
      .send(taskYaml({ name: JSON.stringify(`x\n${FORGED}`) }));
    if (forged.status === 200) {
      const id = forged.body.tasks[0].task_id;
      await waitFor(async () => ['DISPATCHED', 'RUNNING'].includes((await http().get(`/api/v1/tasks/${id}`).set(auth)).body.status), { what: 'forged task dispatched' });
    }
    // Query-string credentials on every kind of answer, the 5xx ones (Redis down) last.
    await http().get('/api/v1/tasks?access_token=qs-SECRET-200').set(auth).expect(200);
    await http().get('/api/v1/tasks?access_token=qs-SECRET-401').expect(401);
    await http().get('/api/v1/tasks?access_token=qs-SECRET-403').set('Authorization', 'Bearer wrong-SECRET').expect(403);
    await http().get('/no/such/route?access_token=qs-SECRET-404').set(auth).expect(404);
    await http().post('/api/v1/tasks?access_token=qs-SECRET-400').set(auth).set('Content-Type', 'application/json').send('{').expect(400);
    await worker.close();
    await redis.stop();
    await http().get('/api/v1/tasks?access_token=qs-SECRET-503').set(auth).expect(503);
    await http()
      .post(`/api/v1/tasks/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/cancel?token=qs-SECRET-503b`)
      .set(auth)
      .expect(503);
    await app.close();
    text = await waitFor(() => {
      const t = readLog(dir);
      return t.includes(' 503 ') ? t : null;
    });
  });
  afterAll(async () => {
    await redis.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a name with a line feed is refused, and no line of the log is forged', () => {
    expect(text).not.toMatch(/^2026-01-01T00:00:00\.000Z ERROR \[Auth\] forged/m);
  });

  it('no line carries a query string or a credential, whatever the status', () => {
    expect(text).toMatch(/GET \/api\/v1\/tasks 503/);
    expect(text).toMatch(/\[Http\] GET \/api\/v1\/tasks: Redis is unavailable/);
    expect(text).toMatch(/GET \/no\/such\/route 404/);
    expect(text).toMatch(/POST \/api\/v1\/tasks 400/);
    expect(text).not.toMatch(/SECRET/);
    expect(text).not.toMatch(/access_token|\?token=/);
  });

  it('escapes what would break a line or turn it around, in the message, the context and the fields', async () => {
    const file = join(dir, 'unit.log');
    const logger = new WinstonLogger(createWinston({ level: 'info', file, maxBytes: 1 << 20, backupCount: 1, console: false }));
    logger.log(`worker w1\n${FORGED}\r\u2028\u202eevil\u0000`, { workerId: 'a\u2029b\u2066c', error: 'x\ny' }, 'Ctx\nX');
    await logger.close();
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\u0000-\u001f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(lines[0]).toContain('[Ctx\\u000aX] worker w1\\u000a2026-01-01T00:00:00.000Z ERROR [Auth] forged\\u000d\\u2028\\u202eevil\\u0000');
    // The fields stay JSON that parses back to what was logged.
    expect(JSON.parse(lines[0].slice(lines[0].indexOf(' {') + 1))).toEqual({ workerId: 'a\u2029b\u2066c', error: 'x\ny' });
  });
});
