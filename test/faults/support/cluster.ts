import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Supervised } from '../../support/process';
import { freePort, TestRedisServer } from '../../support/redis-server';
import { waitFor } from '../../support/wait-for';

const ROOT = resolve(__dirname, '../../..');
const MAIN = join(ROOT, 'dist/main.js');
/** The worker fleet (test/support/worker-fleet.ts), compiled with the bench by `npm run build:harness`. */
const FLEET = join(ROOT, 'dist-bench/test/support/worker-fleet.js');

/** A real orchestrator process (the built code), which a scenario can kill -9 and start again. */
export class OrchestratorProcess {
  proc: Supervised | null = null;
  port = 0;
  private lastOutput = '';

  constructor(
    private readonly redisUrl: string,
    private readonly env: Record<string, string>,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` first (npm run test:faults does)');
    if (!this.port) this.port = await freePort();
    this.proc = new Supervised({
      name: `orchestrator on port ${this.port}`,
      args: [MAIN],
      env: { ...process.env, REDIS_URL: this.redisUrl, PORT: String(this.port), LOG_LEVEL: 'warn', LOG_FILE: join(this.dir, `orchestrator-${this.port}.log`), ...this.env },
    });
    await this.proc.waitForUrl(`${this.url}/healthz`, 20_000);
    return this;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const p = this.proc;
    if (!p) return null;
    this.proc = null;
    this.lastOutput = p.output;
    return (await p.kill(signal)).code;
  }

  get log(): string {
    return this.proc?.output ?? this.lastOutput;
  }

  async readyz(): Promise<{ status: number; body: { role?: string; ready?: boolean } }> {
    const r = await fetch(`${this.url}/readyz`);
    return { status: r.status, body: (await r.json()) as { role?: string } };
  }

  async submit(yaml: string): Promise<string[]> {
    const r = await fetch(`${this.url}/api/v1/tasks`, { method: 'POST', headers: { 'Content-Type': 'text/yaml' }, body: yaml });
    if (r.status !== 200) throw new Error(`submit: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { tasks: { task_id: string }[] }).tasks.map((t) => t.task_id);
  }
}

/** A process of emulated v1 workers (test/support/worker-fleet.ts). */
export class Fleet {
  proc: Supervised | null = null;

  constructor(
    private readonly redisUrl: string,
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<this> {
    if (!existsSync(FLEET)) throw new Error(`${FLEET} is missing: run \`npm run build:harness\` first (npm run test:faults does)`);
    this.proc = new Supervised({ name: `worker fleet ${this.env.FLEET_PREFIX ?? ''}`, args: [FLEET], env: { ...process.env, REDIS_URL: this.redisUrl, ...this.env }, echo: true });
    await this.proc.waitForLine(/"ready"/, 20_000);
    return this;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    this.proc = null;
    await p?.kill(signal);
  }
}

/** The environment of one scenario: a persistent redis-server in a temp folder, and its processes. */
export class Scenario {
  readonly dir = mkdtempSync(join(tmpdir(), 'mloc-fault-'));
  readonly redis = new TestRedisServer({ persistence: true });
  readonly orchestrators: OrchestratorProcess[] = [];
  readonly fleets: Fleet[] = [];
  readonly dispatchLog = join(this.dir, 'dispatches.jsonl');

  async start(): Promise<this> {
    await this.redis.start();
    return this;
  }

  orchestrator(env: Record<string, string> = {}): OrchestratorProcess {
    const o = new OrchestratorProcess(this.redis.url, { HEARTBEAT_TTL_SEC: '3', DISPATCH_ACK_TIMEOUT_SEC: '3', LEADER_LEASE_SEC: '3', ...env }, this.dir);
    this.orchestrators.push(o);
    return o;
  }

  async fleet(env: Record<string, string>): Promise<Fleet> {
    const f = new Fleet(this.redis.url, { HEARTBEAT_MS: '500', HEARTBEAT_TTL_SEC: '2', FLEET_LOG: this.dispatchLog, ...env });
    this.fleets.push(f);
    return f.start();
  }

  dispatches(): { task_id: string; attempt: number; worker: string }[] {
    if (!existsSync(this.dispatchLog)) return [];
    return readFileSync(this.dispatchLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  }

  async stop(): Promise<void> {
    await Promise.all(this.fleets.map((f) => f.kill()));
    await Promise.all(this.orchestrators.map((o) => o.kill()));
    await this.redis.destroy();
    // KEEP_FAULT_DIR=1 keeps the logs (orchestrator-<port>.log, dispatches.jsonl) for a post-mortem.
    if (process.env.KEEP_FAULT_DIR) console.log(`fault scenario files kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface AuditReport {
  tasks: number;
  byStatus: Record<string, number>;
  notFinal: string[];
  succeededTwice: string[];
  dispatchedTwiceSameAttempt: string[];
  workersRunningWithoutTask: string[];
  heldLocks: string[];
}

/**
 * The audit every scenario ends with: every task in a final state, none finished twice, no
 * (task, attempt) dispatched twice, no worker left RUNNING without a task. Prints the counts.
 */
export async function audit(s: Scenario, expected: string[], label: string): Promise<AuditReport> {
  const r: Redis = s.redis.client();
  try {
    const ids = await r.zrange('mloc:tasks', '0', '-1');
    const pipe = r.pipeline();
    for (const id of ids) pipe.hmget(`mloc:task:${id}`, 'status', 'attempts');
    const rows = ((await pipe.exec()) ?? []).map(([, v]) => v as [string, string]);
    const byStatus: Record<string, number> = {};
    const notFinal: string[] = [];
    const succeededTwice: string[] = [];
    rows.forEach(([status, attempts], i) => {
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      if (!['DONE', 'FAILED', 'CANCELLED'].includes(status)) notFinal.push(ids[i]);
      const ok = (JSON.parse(attempts || '[]') as { outcome: string }[]).filter((a) => a.outcome === 'succeeded').length;
      if (ok > 1) succeededTwice.push(ids[i]);
    });
    const seen = new Map<string, number>();
    for (const d of s.dispatches()) seen.set(`${d.task_id}#${d.attempt}`, (seen.get(`${d.task_id}#${d.attempt}`) ?? 0) + 1);
    const dispatchedTwiceSameAttempt = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
    const workerIds = await r.smembers('workers:ids');
    const workersRunningWithoutTask: string[] = [];
    for (const w of workerIds) {
      const [status] = await r.hmget(`worker:${w}`, 'status');
      if (status === 'RUNNING' && !(await r.exists(`mloc:worker:${w}:task`))) workersRunningWithoutTask.push(w);
    }
    const heldLocks = await r.keys('mloc:worker:*:task');
    const missing = expected.filter((id) => !ids.includes(id));
    const report: AuditReport = { tasks: ids.length, byStatus, notFinal, succeededTwice, dispatchedTwiceSameAttempt, workersRunningWithoutTask, heldLocks };
    process.stdout.write(
      `audit [${label}]: ${ids.length} tasks ${JSON.stringify(byStatus)}, dispatches ${s.dispatches().length}, ` +
        `not final ${notFinal.length}, succeeded twice ${succeededTwice.length}, same attempt dispatched twice ${dispatchedTwiceSameAttempt.length}, ` +
        `workers RUNNING without a task ${workersRunningWithoutTask.length}, missing ${missing.length}\n`,
    );
    if (missing.length) throw new Error(`accepted tasks missing from Redis: ${missing.slice(0, 5).join(', ')}`);
    // What a failure needs to be understood: the records of tasks that did not end.
    for (const id of notFinal.slice(0, 5)) {
      const h = await r.hgetall(`mloc:task:${id}`);
      const inIndex = await r.zscore(`mloc:tasks:status:${h.status}`, id);
      const worker = h.assigned_worker ? await r.hgetall(`worker:${h.assigned_worker}`) : {};
      const holder = h.assigned_worker ? await r.get(`mloc:worker:${h.assigned_worker}:task`) : null;
      process.stdout.write(
        `  not final ${id}: ${JSON.stringify({ status: h.status, inIndex: inIndex !== null, assigned: h.assigned_worker, attempt: h.attempt, dispatched_at: h.dispatched_at, started_at: h.started_at, updated_at: h.updated_at, attempts: h.attempts, holder, worker: { status: worker.status, extra_task_id: worker.extra_task_id, extra_last_task: worker.extra_last_task } })}\n`,
      );
    }
    return report;
  } finally {
    r.disconnect();
  }
}

/** Waits until every task known to Redis is final. */
export async function waitAllFinal(s: Scenario, timeoutMs = 60_000): Promise<void> {
  const r: Redis = s.redis.client();
  try {
    // Read in one MULTI, and twice 500 ms apart: a task moving between states is never missed.
    const unfinished = async () => {
      const res = (await r.multi().zcard('mloc:tasks:status:PENDING').zcard('mloc:tasks:status:DISPATCHED').zcard('mloc:tasks:status:RUNNING').exec()) ?? [];
      return res.reduce((n, [, v]) => n + Number(v), 0);
    };
    await waitFor(
      async () => {
        if ((await unfinished()) !== 0) return false;
        await new Promise((res) => setTimeout(res, 500));
        return (await unfinished()) === 0;
      },
      { timeoutMs, intervalMs: 200, what: 'every task final' },
    );
  } finally {
    r.disconnect();
  }
}

export const echoTask = (name: string) =>
  `apiVersion: mloc/v1\nkind: Task\nmetadata: {name: ${name}}\nspec:\n  taskType: echo\n  resources: {replicas: 1, hardware: {cpu: "1", memory: "1Gi"}}\n`;

export const batchOf = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => echoTask(`${prefix}-${i}`)).join('---\n');

export function expectClean(a: AuditReport, total: number) {
  expect(a.notFinal).toEqual([]);
  expect(a.succeededTwice).toEqual([]);
  expect(a.dispatchedTwiceSameAttempt).toEqual([]);
  expect(a.workersRunningWithoutTask).toEqual([]);
  expect(a.heldLocks).toEqual([]);
  expect(a.tasks).toBe(total);
}
