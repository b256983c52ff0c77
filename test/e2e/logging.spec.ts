import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createApp } from '../../src/bootstrap';
import { loadConfig } from '../../src/config/env';
import { TestRedisServer } from '../support/redis-server';
import { waitFor } from '../support/wait-for';
import { taskYaml } from '../support/test-app';

describe('logging', () => {
  const redis = new TestRedisServer();
  const dir = mkdtempSync(join(tmpdir(), 'mloc-log-'));
  const logFile = join(dir, 'orchestrator.log');
  beforeAll(() => redis.start());
  afterAll(async () => {
    await redis.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one line per request to the size-rotated file, never the token', async () => {
    const config = loadConfig({ REDIS_URL: redis.url, ORCHESTRATOR_TOKEN: 'tok-SECRET-123', LOG_FILE: logFile, LOG_MAX_BYTES: '2048', LOG_BACKUP_COUNT: '2', LOG_LEVEL: 'debug' });
    const app = await createApp(config, { console: false });
    await app.init();
    const http = request(app.getHttpServer());
    for (let i = 0; i < 30; i++) await http.get('/workers').set('Authorization', 'Bearer tok-SECRET-123');
    await http.get('/workers').set('Authorization', 'Bearer wrong-SECRET');
    await http.post('/api/v1/tasks').set('Authorization', 'Bearer tok-SECRET-123').set('Content-Type', 'text/yaml').send(taskYaml());
    await app.close();
    const files = await waitFor(() => {
      const f = readdirSync(dir).filter((n) => n.startsWith('orchestrator'));
      return f.length >= 2 ? f : null;
    });
    expect(files.length).toBeLessThanOrEqual(3); // the live file plus LOG_BACKUP_COUNT
    const text = files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    expect(text).toMatch(/^\S+Z INFO \[Http\] GET \/workers 200 \d+\.\dms/m);
    expect(text).toMatch(/GET \/workers 403/);
    expect(text).not.toMatch(/SECRET/);
  });
});
