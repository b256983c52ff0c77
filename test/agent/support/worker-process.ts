import { ExitStatus, Supervised } from '../../support/process';
import { WORKER_MAIN } from './built';

/**
 * A real worker process (`node dist/agent/main.js`) on the harness's one supervisor
 * (test/support/process.ts), its output kept for assertions. With TEST_LOG_LEVEL set (as for the
 * orchestrator in test-app.ts) its log goes to stderr too.
 */
export class WorkerProcess {
  readonly exited: Promise<ExitStatus>;
  private readonly proc: Supervised;

  constructor(
    readonly id: string,
    env: Record<string, string>,
  ) {
    this.proc = new Supervised({
      name: `worker ${id}`,
      args: [WORKER_MAIN],
      env: { PATH: process.env.PATH ?? '', WORKER_ID: id, HEARTBEAT_INTERVAL_SEC: '0.5', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'debug', ...env },
      echo: !!process.env.TEST_LOG_LEVEL,
    });
    this.exited = this.proc.exited;
  }

  /** Everything it wrote so far (stdout and stderr). */
  get output(): string {
    return this.proc.output;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.proc.running;
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    if (this.running) this.proc.signal(signal);
    return this.exited;
  }
}
