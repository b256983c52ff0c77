/**
 * The orchestrator under test: the built application (`node dist/main.js`) as its own process,
 * on a free loopback port, LOG_LEVEL=WARN, its log file and console output in the scenario's
 * temporary folder. With BENCH_CPU_PROF=1 it runs under `--cpu-prof --cpu-prof-dir <dir>`; a
 * small preload lets the bench end it with process.exit() so that the profile gets written.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { freePort, startChild } from './proc';
import { sleep } from './stats';

export const TOKEN = 'bench-token';

export interface Orchestrator {
  pid: number;
  port: number;
  baseUrl: string;
  logDir: string;
  profileDir: string | null;
  stop(): Promise<void>;
  /** Lines at WARN or above in its log so far (the bench runs it at WARN, so: every line). */
  warnings(): string[];
}

export interface OrchestratorOptions {
  root: string;
  redisUrl: string;
  dir: string;
  env?: Record<string, string>;
  cpuProfile: boolean;
}

function get(url: string, timeoutMs: number): Promise<number> {
  return new Promise((res) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode ?? 0));
    });
    req.on('error', () => res(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startOrchestrator(opts: OrchestratorOptions): Promise<Orchestrator> {
  const main = resolve(opts.root, 'dist/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  const port = await freePort();
  const logFile = join(opts.dir, 'orchestrator.log');
  const outFile = join(opts.dir, 'orchestrator.out');
  const profileDir = opts.cpuProfile ? join(opts.dir, 'cpu-profile') : null;
  // Extra node flags for the orchestrator only, for experiments (e.g. BENCH_ORCH_NODE_ARGS=--max-semi-space-size=64).
  const nodeArgs: string[] = (process.env.BENCH_ORCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  if (profileDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', profileDir, '--require', join(__dirname, 'exit-on-message.js'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    REDIS_URL: opts.redisUrl,
    PORT: String(port),
    // Loopback only (an orchestrator without the HOST setting listens on 0.0.0.0; the bench still
    // connects to 127.0.0.1 only).
    HOST: '127.0.0.1',
    LOG_LEVEL: 'WARN',
    LOG_FILE: logFile,
    HEARTBEAT_TTL_SEC: '3600',
    ORCHESTRATOR_TOKEN: TOKEN,
    ...(opts.env ?? {}),
  };
  const proc = startChild({ name: 'orchestrator', args: [...nodeArgs, main], cwd: opts.root, env, logFile: outFile, ipc: !!profileDir });
  let stopping = false;
  void proc.exited.then(({ code, signal }) => {
    // An exit the bench did not ask for is the first thing to know when a scenario breaks.
    if (!stopping) appendFileSync(outFile, `\n[bench] orchestrator exited on its own: code ${code}, signal ${signal}\n`);
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  // Ready = /readyz says so (Redis answers, leader elected, scheduling ticking); an orchestrator
  // without /readyz (404) is taken as ready once /healthz answers.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ready = await get(`${baseUrl}/readyz`, 500);
    if (ready === 200 || (ready === 404 && (await get(`${baseUrl}/healthz`, 500)) === 200)) break;
    if (!proc.running) throw new Error(`orchestrator exited at start (code ${proc.child.exitCode}); see ${outFile}`);
    if (Date.now() > deadline) {
      await proc.stop(500, 'SIGKILL');
      throw new Error(`orchestrator not ready within 20 s (last /readyz: ${ready}); see ${join(opts.dir, 'orchestrator.out')}`);
    }
    await sleep(50);
  }
  return {
    pid: proc.pid!,
    port,
    baseUrl,
    logDir: opts.dir,
    profileDir,
    async stop() {
      stopping = true;
      // process.exit() inside the child: --cpu-prof writes its profile on a normal exit only.
      if (profileDir && proc.running && proc.send('bench:exit')) await Promise.race([proc.exited, sleep(10_000)]);
      await proc.stop(3000);
    },
    warnings() {
      const lines: string[] = [];
      for (const f of [join(opts.dir, 'orchestrator.out')]) {
        if (!existsSync(f)) continue;
        for (const l of readFileSync(f, 'utf8').split('\n')) if (/\b(WARN|ERROR)\b|fatal|\[bench\]/.test(l)) lines.push(l);
      }
      return lines;
    },
  };
}

/** sha1 → script name for the orchestrator's Lua scripts as it loads them (the built loader: includes resolved, constants substituted). */
export function scriptShas(root: string): Map<string, string> {
  const loader = resolve(root, 'dist/redis/scripts.js');
  const out = new Map<string, string>();
  if (!existsSync(loader)) return out;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SCRIPT_NAMES, loadScriptSource } = require(loader) as { SCRIPT_NAMES: readonly string[]; loadScriptSource: (name: string) => string };
  for (const name of SCRIPT_NAMES) out.set(createHash('sha1').update(loadScriptSource(name)).digest('hex'), name);
  return out;
}

/** The .cpuprofile files written so far. */
export function profileFiles(dir: string | null): string[] {
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f));
}
