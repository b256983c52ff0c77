/** Child processes the demo starts, owns and stops: each logs to its own file. */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
export { freePort } from '../common/free-port';

/** A problem the demo explains in one message and stops on (exit 1), without a stack trace. */
export class DemoError extends Error {
  override name = 'DemoError';
}

/** Whether `binary --version` runs. */
export function canRun(binary: string): boolean {
  const probe = spawnSync(binary, ['--version'], { stdio: 'ignore' });
  return !probe.error && probe.status === 0;
}

export class ManagedProcess {
  /** Resolves with a description of how the process ended. */
  readonly exited: Promise<string>;
  private readonly proc: ChildProcess;
  private stopRequested = false;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    readonly logFile: string,
  ) {
    const log = openSync(logFile, 'a');
    // Its own process group: a Ctrl-C in the terminal reaches only the demo, which then stops
    // everything in order (workers first, so they unregister while Redis is still up).
    this.proc = spawn(command, args, { env, stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    this.exited = new Promise((resolve) => {
      this.proc.once('error', (err) => resolve(`could not start: ${err.message}`));
      this.proc.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exited with code ${code}`));
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid !== undefined;
  }

  /** Resolves when the process ends without having been asked to (a crash). */
  crashed(): Promise<string> {
    return this.exited.then((how) => (this.stopRequested ? new Promise<string>(() => undefined) : how));
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopRequested = true;
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** The last lines of its log, to show when something went wrong. */
  logTail(lines = 15): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}
