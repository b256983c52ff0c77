/**
 * `npm run demo` (it builds first): a throwaway local cluster that shows the whole system.
 * Starts Redis (unless REDIS_URL is set), an OpenAI-compatible stub, the orchestrator and three
 * workers (one simulating an NVIDIA L4 machine), submits the bad example documents of examples/bad
 * (each refused with a 400 naming the field), then a sharded inference job, a pipeline and a graph,
 * prints progress and a final table, stops everything, and exits 0 when every task ended DONE. `--keep` leaves it all running until Ctrl-C. Everything listens on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { redactRedisUrl } from '../src/config/env';
import { isFinal } from '../src/contracts/task-states';
import type { TaskResponse } from '../src/tasks/task-record';
import { sleep } from '../src/agent/abort';
import { LlmStub } from '../test/support/llm-stub';
import { OrchestratorApi } from './api';
import { DEMO_TAG, graphJob, pipelineJob, shardedInferenceJob } from './jobs';
import { DemoError, freePort, startProcess, Supervised } from './processes';
import { startThrowawayRedis } from './redis';
import { progressLine, taskTable } from './report';

/** The repository: the demo runs from dist-bench/demo (the harness build), the system from dist/ (npm run build). */
const ROOT = resolve(__dirname, '..', '..');
const ORCHESTRATOR_MAIN = join(ROOT, 'dist', 'main.js');
const WORKER_MAIN = join(ROOT, 'dist', 'agent', 'main.js');
/** The repository's bad example documents. */
const BAD_EXAMPLES = join(ROOT, 'examples', 'bad');

const STARTUP_TIMEOUT_MS = 30_000;
const JOBS_TIMEOUT_MS = 90_000;
const POLL_MS = 250;

const USAGE = `usage: npm run demo [-- --keep]

Starts a throwaway local cluster (Redis unless REDIS_URL is set, the orchestrator, three workers),
runs sample jobs, prints what happened, stops everything. Exit code 0 when every task ended DONE.
  --keep   leave everything running afterwards (Swagger UI address printed); Ctrl-C stops it`;

interface DemoWorker {
  id: string;
  label: string;
  hardware: Record<string, unknown>;
}

/** One simulated L4 machine and two CPU-only ones (`gpu: null` hides any real GPU of this host). */
const WORKERS: DemoWorker[] = [
  {
    id: 'demo-gpu',
    label: 'simulated 1 × NVIDIA L4',
    hardware: { gpu: { driver_version: '550.54', cuda_version: '12.4', gpus: [{ index: 0, name: 'NVIDIA L4', uuid: 'GPU-demo-0', memory_bytes: 24 * 2 ** 30 }] } },
  },
  { id: 'demo-cpu-1', label: 'CPU only', hardware: { gpu: null } },
  { id: 'demo-cpu-2', label: 'CPU only', hardware: { gpu: null } },
];

const say = (line = '') => process.stdout.write(`${line}\n`);

class Demo {
  readonly dir = mkdtempSync(join(tmpdir(), 'mloc-demo-'));
  readonly logsDir = join(this.dir, 'logs');
  readonly resultsDir = join(this.dir, 'results');
  readonly token = randomBytes(16).toString('hex');
  redisUrl = '';
  api: OrchestratorApi | null = null;
  private readonly processes: Supervised[] = [];
  private stub: LlmStub | null = null;
  private readonly t0 = Date.now();
  /** Rejects as soon as any process the demo started dies on its own. */
  private readonly crash: Promise<never>;
  private onCrash: (err: DemoError) => void = () => undefined;

  constructor() {
    mkdirSync(this.logsDir);
    mkdirSync(this.resultsDir);
    this.crash = new Promise<never>((_, reject) => (this.onCrash = reject));
    this.crash.catch(() => undefined);
  }

  /** Runs the whole demo; resolves with the exit code. */
  async run(): Promise<number> {
    for (const file of [ORCHESTRATOR_MAIN, WORKER_MAIN]) {
      if (!existsSync(file)) throw new DemoError(`${file} is missing: build first with npm run build`);
    }
    say('MLOC demo: a throwaway local cluster');
    say(`  folder        ${this.dir} (logs/, results/)`);
    await this.startRedis();
    // A little latency, like a real model server, so the shards are seen running.
    this.stub = await new LlmStub({ latencyMs: 300 }).start();
    say(`  LLM stub      ${this.stub.url} (OpenAI-compatible, answers the inference tasks)`);
    await this.startOrchestrator();
    this.startWorkers();
    await this.guard(this.waitUntilReady());
    await this.guard(this.showRefusals());

    // First, and alone: data-parallel needs idle capacity >= 2 × demand (1.0 + 0.6 + 0.6 = 2.2 for 1 task).
    const order: string[] = [];
    say('\nSubmitting demo-answers: inference over 9 prompts, sharded across the idle workers');
    order.push(...(await this.api!.submit(shardedInferenceJob())).map((t) => t.task_id));
    await this.guard(this.until(async () => (await this.tasks(order))[0]?.children?.length, 'demo-answers to fan out'));
    say('Submitting demo-pipeline (prepare → train on the GPU → evaluate) and demo-graph (fetch → tokenize ‖ stats → publish)');
    for (const yaml of [pipelineJob(), graphJob(process.execPath)]) order.push(...(await this.api!.submit(yaml)).map((t) => t.task_id));

    const tasks = await this.guard(this.follow(order));
    // The list has summaries; the sharded job's merged answers are in its whole record.
    const sharded = await this.api!.task(order[0]).catch(() => null);
    return this.summarize(tasks, order, sharded);
  }

  private async startRedis() {
    if (process.env.REDIS_URL) {
      this.redisUrl = process.env.REDIS_URL;
      say(`  redis         ${redactRedisUrl(this.redisUrl)} (from REDIS_URL; demo tasks only run on workers tagged ${DEMO_TAG})`);
      return;
    }
    const redis = await startThrowawayRedis(this.dir, this.logsDir);
    this.track(redis.process!);
    this.redisUrl = redis.url;
    say(`  redis         ${redis.url} (throwaway redis-server)`);
  }

  private async startOrchestrator() {
    const port = await freePort();
    const env = {
      PATH: process.env.PATH,
      REDIS_URL: this.redisUrl,
      PORT: String(port),
      LOG_LEVEL: 'WARN',
      LOG_FILE: join(this.logsDir, 'orchestrator.log'),
      // Loopback only; the random token also shows how bearer auth works from the Swagger UI.
      HOST: '127.0.0.1',
      ORCHESTRATOR_TOKEN: this.token,
    };
    this.track(startProcess('orchestrator', process.execPath, [ORCHESTRATOR_MAIN], env, join(this.logsDir, 'orchestrator.out')));
    this.api = new OrchestratorApi(`http://127.0.0.1:${port}`, this.token);
    say(`  orchestrator  ${this.api.baseUrl}`);
  }

  private startWorkers() {
    for (const w of WORKERS) {
      const env = {
        PATH: process.env.PATH,
        REDIS_URL: this.redisUrl,
        RESULTS_DIR: this.resultsDir,
        WORKER_ID: w.id,
        WORKER_TAGS: DEMO_TAG,
        WORKER_HARDWARE_JSON: JSON.stringify(w.hardware),
        HEARTBEAT_INTERVAL_SEC: '5',
        OPENAI_BASE_URL: this.stub!.url,
        LOG_LEVEL: 'INFO',
      };
      this.track(startProcess(w.id, process.execPath, [WORKER_MAIN], env, join(this.logsDir, `${w.id}.log`)));
    }
    say(`  workers       ${WORKERS.map((w) => `${w.id} (${w.label})`).join(', ')}`);
  }

  private async waitUntilReady() {
    process.stdout.write('\nWaiting for the orchestrator and the 3 workers... ');
    await this.until(() => this.api!.healthy(), 'the orchestrator to answer /healthz', STARTUP_TIMEOUT_MS);
    await this.until(
      async () => {
        const idle = new Set((await this.api!.workers()).filter((w) => w.status === 'IDLE' && !w.stale).map((w) => w.worker_id));
        return WORKERS.every((w) => idle.has(w.id));
      },
      'the 3 workers to register and turn IDLE',
      STARTUP_TIMEOUT_MS,
    );
    say(`ready after ${((Date.now() - this.t0) / 1000).toFixed(1)}s`);
  }

  /** Submits each document of examples/bad: every one is refused with a 400 naming the field, and nothing is created. */
  private async showRefusals() {
    if (!existsSync(BAD_EXAMPLES)) return;
    const files = readdirSync(BAD_EXAMPLES)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    if (files.length === 0) return;
    say('\nSubmitting the bad example documents (examples/bad): each is refused, nothing is created');
    for (const file of files) {
      const r = await this.api!.refusal(readFileSync(join(BAD_EXAMPLES, file), 'utf8'));
      const field = r.field ? ` [${r.field}]` : '';
      say(`  ${file.padEnd(24)} HTTP ${r.status}${field}  ${r.message}`);
      if (r.status < 400 || r.status >= 500) throw new DemoError(`examples/bad/${file} was answered HTTP ${r.status}, expected a 4xx refusal`);
    }
  }

  /** Prints a line whenever one of the tasks (or a shard of one) changes state; resolves when all are final. */
  private async follow(order: string[]): Promise<TaskResponse[]> {
    const seen = new Map<string, string>();
    const started = Date.now();
    const deadline = started + JOBS_TIMEOUT_MS;
    for (;;) {
      const tasks = await this.tasks(order);
      for (const t of tasks) {
        if (seen.get(t.task_id) === t.status) continue;
        seen.set(t.task_id, t.status);
        say(progressLine(Date.now() - started, t));
      }
      if (tasks.length > 0 && tasks.every((t) => isFinal(t.status))) return tasks;
      if (Date.now() > deadline) {
        say(`\nGave up waiting after ${JOBS_TIMEOUT_MS / 1000}s.`);
        return tasks;
      }
      await sleep(POLL_MS);
    }
  }

  /** The listed tasks and all their shards, from GET /api/v1/tasks. */
  private async tasks(ids: string[]): Promise<TaskResponse[]> {
    const all = await this.api!.tasks();
    const wanted = new Set(ids);
    return all.filter((t) => wanted.has(t.task_id) || (t.parent_id !== null && wanted.has(t.parent_id))).reverse();
  }

  private summarize(tasks: TaskResponse[], order: string[], sharded: TaskResponse | null): number {
    say(`\n${taskTable(tasks, order)}\n`);
    const merged = (sharded?.result as { merged?: { items?: { input: string; output: string }[]; usage?: Record<string, number> } } | null)?.merged;
    if (merged?.items?.length) {
      say(`demo-answers: ${merged.items.length} answers from ${sharded!.children?.length} shards, in prompt order (${merged.usage?.total_tokens ?? '?'} tokens), for example:`);
      for (const item of merged.items.slice(0, 3)) say(`  ${item.input}  →  ${item.output}`);
      say();
    }
    say(`Results: ${this.resultsDir}/<task id>/responses.json (plus stdout.log and stderr.log for commands)`);
    say(`Logs:    ${this.logsDir}`);
    const notDone = tasks.filter((t) => t.status !== 'DONE');
    if (notDone.length === 0) {
      say(`\nAll ${tasks.length} tasks ended DONE.`);
      return 0;
    }
    say(`\n${notDone.length} of ${tasks.length} tasks did not end DONE: ${notDone.map((t) => `${t.name} ${t.status}${t.error ? ` (${t.error})` : ''}`).join('; ')}`);
    return 1;
  }

  /** Leaves everything running until SIGINT/SIGTERM. */
  async keepRunning(): Promise<void> {
    say('\nStill running (--keep):');
    say(`  Swagger UI    ${this.api!.baseUrl}/docs   (click Authorize and paste the token below)`);
    say(`  token         ${this.token}`);
    say(`  try           curl -s -H "Authorization: Bearer ${this.token}" ${this.api!.baseUrl}/workers`);
    say(`  redis         ${redactRedisUrl(this.redisUrl)}`);
    say('Press Ctrl-C to stop everything.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  }

  /** Stops what the demo started, in reverse order: workers first, so they unregister while Redis is still up. */
  async stopAll(): Promise<void> {
    const workers = this.processes.filter((p) => WORKERS.some((w) => w.id === p.name));
    await Promise.all(workers.map((p) => p.stop()));
    for (const p of this.processes.filter((x) => !workers.includes(x)).reverse()) await p.stop();
    await this.stub?.stop();
  }

  private track(p: Supervised) {
    this.processes.push(p);
    void p.crashed().then((how) => this.onCrash(new DemoError(`${p.name} ${how}. Last lines of ${p.opts.logFile ?? 'its output'}:\n${p.logTail()}`)));
  }

  /** `work`, unless a process dies first. */
  private guard<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.crash]);
  }

  private async until(check: () => Promise<unknown>, what: string, timeoutMs = STARTUP_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check().catch(() => false))) {
      if (Date.now() > deadline) throw new DemoError(`timed out after ${timeoutMs / 1000}s waiting for ${what} (logs: ${this.logsDir})`);
      await sleep(100);
    }
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    say(USAGE);
    return 0;
  }
  const unknown = args.filter((a) => a !== '--keep');
  if (unknown.length) {
    process.stderr.write(`unknown argument ${unknown.join(' ')}\n${USAGE}\n`);
    return 2;
  }
  const demo = new Demo();
  let stopping = false;
  const interrupt = () => {
    if (stopping) return;
    stopping = true;
    say('\nInterrupted: stopping everything the demo started...');
    void demo.stopAll().then(() => process.exit(130));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  let code: number;
  try {
    code = await demo.run();
  } catch (err) {
    process.stderr.write(`\ndemo failed: ${err instanceof DemoError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
    code = 1;
  }
  if (args.includes('--keep') && demo.api && !stopping) {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await demo.keepRunning();
  }
  if (stopping) return new Promise<number>(() => undefined);
  say('\nStopping everything the demo started...');
  await demo.stopAll();
  say(`Stopped. Results and logs stay in ${demo.dir} (delete it when done).`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
