import { ChildProcess, spawn } from 'node:child_process';
import { WORKER_MAIN } from './built';

/**
 * A real worker process (`node dist/agent/main.js`), its output kept for assertions. With
 * TEST_LOG_LEVEL set (as for the orchestrator in test-app.ts) its log goes to stderr too.
 */
export class WorkerProcess {
  output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;

  constructor(
    readonly id: string,
    env: Record<string, string>,
  ) {
    this.proc = spawn(process.execPath, [WORKER_MAIN], {
      env: { PATH: process.env.PATH ?? '', WORKER_ID: id, HEARTBEAT_INTERVAL_SEC: '0.5', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (c: Buffer) => {
      this.output += c.toString();
      if (process.env.TEST_LOG_LEVEL) process.stderr.write(c);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    if (this.running) this.proc.kill(signal);
    return this.exited;
  }
}
