import type { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import request from 'supertest';
import { createApp } from '../../src/bootstrap';
import { loadConfig } from '../../src/config/env';
import { RedisService } from '../../src/redis/redis.service';
import { FakeV1Worker, FakeWorkerOptions } from './fake-worker';
import { TestRedisServer } from './redis-server';
import { waitFor } from './wait-for';

/** The real app (same createApp as production) on a real redis-server, plus fake v1 workers. */
export class TestStack {
  readonly redis: TestRedisServer;
  app!: NestExpressApplication;
  readonly workers: FakeV1Worker[] = [];
  private readonly extraApps: NestExpressApplication[] = [];

  constructor(
    private readonly env: Record<string, string> = {},
    opts: { persistence?: boolean } = {},
  ) {
    this.redis = new TestRedisServer(opts);
  }

  async start(): Promise<this> {
    await this.redis.start();
    this.app = await this.newApp();
    return this;
  }

  /** Another orchestrator instance on the same Redis (restarts, replicas). */
  async newApp(env: Record<string, string> = {}): Promise<NestExpressApplication> {
    const config = loadConfig({ REDIS_URL: this.redis.url, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error', HEARTBEAT_TTL_SEC: '120', ...this.env, ...env });
    const app = await createApp(config, { console: !!process.env.TEST_LOG_LEVEL, logFile: false });
    await app.init();
    // init() does not wait for Redis (the service starts without it); tests want it connected.
    await app.get(RedisService).waitReady();
    this.extraApps.push(app);
    return app;
  }

  async closeApp(app: NestExpressApplication) {
    const i = this.extraApps.indexOf(app);
    if (i >= 0) this.extraApps.splice(i, 1);
    await this.close(app);
  }

  /**
   * app.close(), without waiting out the blocking XREADGROUP of the stream consumer (up to a second
   * per close, which the shutdown waits for): once the close has begun, blocked XREADGROUPs are
   * ended with CLIENT UNBLOCK, as if their timeout had passed. Another instance's consumer that is
   * unblocked too simply reads again.
   */
  private async close(app: NestExpressApplication): Promise<void> {
    let closed = false;
    const closing = app.close().finally(() => (closed = true));
    const settled = closing.catch(() => undefined);
    const within = <T>(p: Promise<T>) => Promise.race([p.catch(() => null), settled.then(() => null)]);
    this.control ??= this.redis.client();
    while (!closed) {
      const list = await within(this.control.client('LIST') as Promise<string>);
      for (const line of String(list ?? '').split('\n')) {
        const id = / cmd=xreadgroup /.test(line) && / flags=b /.test(line) ? /\bid=(\d+)/.exec(line)?.[1] : undefined;
        if (id) await within(this.control.client('UNBLOCK', id));
      }
      await Promise.race([settled, new Promise((r) => setTimeout(r, 20))]);
    }
    await closing;
  }

  private control: Redis | null = null;

  http(app: NestExpressApplication = this.app) {
    return request(app.getHttpServer());
  }

  async worker(opts: FakeWorkerOptions): Promise<FakeV1Worker> {
    const w = new FakeV1Worker(this.redis.url, opts);
    this.workers.push(w);
    await w.start();
    // Wait until the orchestrator's index knows it, so placement tests are deterministic.
    await waitFor(async () => (await this.http().get(`/workers/${opts.id}`).set(this.authHeader())).status === 200, { what: `worker ${opts.id} registered` });
    return w;
  }

  authHeader(): Record<string, string> {
    return this.env.ORCHESTRATOR_TOKEN ? { Authorization: `Bearer ${this.env.ORCHESTRATOR_TOKEN}` } : {};
  }

  submit(yaml: string, app?: NestExpressApplication) {
    return this.http(app).post('/api/v1/tasks').set(this.authHeader()).set('Content-Type', 'text/yaml').send(yaml);
  }

  async task(id: string): Promise<Record<string, any>> {
    const res = await this.http().get(`/api/v1/tasks/${id}`).set(this.authHeader());
    if (res.status !== 200) throw new Error(`GET task ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  waitForStatus(id: string, status: string | string[], timeoutMs = 10_000) {
    const want = Array.isArray(status) ? status : [status];
    return waitFor(
      async () => {
        const t = await this.task(id);
        return want.includes(t.status) ? t : null;
      },
      { timeoutMs, what: `task ${id} to be ${want.join('|')}`, abort: () => this.workerFailure() },
    );
  }

  /** The first background error of a fake worker (a report or ack that failed), if any. */
  workerFailure(): Error | null {
    for (const w of this.workers) if (w.failure()) return w.failure();
    return null;
  }

  /** Tears everything down, then fails (the hook, so the file) if a fake worker hit an error. */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    for (const app of this.extraApps.splice(0)) await this.close(app).catch(() => undefined);
    this.control?.disconnect();
    await this.redis.destroy();
    const failure = this.workerFailure();
    if (failure) throw failure;
  }
}

export const EXAMPLES_DIR = resolve(__dirname, '../../examples');

export function example(name: string): string {
  return readFileSync(join(EXAMPLES_DIR, name), 'utf8');
}

export function exampleFiles(sub = ''): string[] {
  return readdirSync(join(EXAMPLES_DIR, sub))
    .filter((f) => f.endsWith('.yaml'))
    .sort();
}

type Submission = { body: { tasks: { task_id: string }[] } };
/** The ids of the tasks a submission created, in document order. */
export const taskIds = (res: Submission): string[] => res.body.tasks.map((t) => t.task_id);
/** The id of the first task a submission created. */
export const firstId = (res: Submission): string => taskIds(res)[0];

/** A minimal valid task document. */
export function taskYaml(
  opts: { name?: string; taskType?: string; cpu?: string | number; memory?: string; gpu?: string; tags?: string[]; extraSpec?: string; owner?: string } = {},
): string {
  return [
    'apiVersion: mloc/v1',
    'kind: InferenceTask',
    `metadata: {name: ${opts.name ?? 't'}${opts.owner ? `, owner: ${opts.owner}` : ''}}`,
    'spec:',
    `  taskType: ${opts.taskType ?? 'echo'}`,
    '  resources:',
    '    replicas: 1',
    `    hardware: {cpu: "${opts.cpu ?? 1}", memory: "${opts.memory ?? '1Gi'}"${opts.gpu ? `, gpu: ${opts.gpu}` : ''}}`,
    ...(opts.tags ? [`    tags: [${opts.tags.join(', ')}]`] : []),
    ...(opts.extraSpec ? opts.extraSpec.split('\n').map((l) => `  ${l}`) : []),
    '',
  ].join('\n');
}
