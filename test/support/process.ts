/**
 * The one process supervisor of the tests, the fault suite, the bench and the demo: start a
 * process (a node script or any binary), wait for a line of its output, a URL or a condition,
 * stop it with SIGTERM then SIGKILL after a grace period, and keep its output (in memory, or in a
 * log file when it should cost the parent nothing) for assertions and post-mortems.
 *
 * With `group`, the child leads its own process group: signals go to the whole group (a worker's
 * command executors included), and a Ctrl-C in the terminal reaches only the parent, which stops
 * its children in its own order. Every group child is also killed when the parent process exits.
 */
import { ChildProcess, spawn, StdioOptions } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { waitFor } from './wait-for';

export interface SuperviseOptions {
  /** For messages: "orchestrator", "redis", a worker id. */
  name: string;
  /** The program; default: this Node binary (then `args` start with the script). */
  command?: string;
  args: string[];
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output (stdout and stderr) appended to this file instead of kept in memory. */
  logFile?: string;
  /** Discard the output. */
  quiet?: boolean;
  /** Copy the output to this process's stderr as it comes (in-memory output only). */
  echo?: boolean;
  /** Share this process's stdout and stderr (no copy kept). */
  inherit?: boolean;
  /** An IPC channel (a node child): `send()`, and `child.on('message')`. */
  ipc?: boolean;
  /** Its own process group: signals reach the whole group; killed when this process exits. */
  group?: boolean;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when it could not start at all. */
  error?: string;
}

/** At most this much output is kept in memory (the start is dropped). */
const MAX_OUTPUT = 4 * 2 ** 20;

const groups = new Set<Supervised>();
let exitHandlerInstalled = false;

function installExitHandler() {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const p of groups) p.signal('SIGKILL');
  });
}

export class Supervised {
  readonly child: ChildProcess;
  /** Resolves once the process has ended (or could not start). */
  readonly exited: Promise<ExitStatus>;
  private buffer = '';
  private stopRequested = false;

  constructor(readonly opts: SuperviseOptions) {
    assertNotUnitTier(`starts a process (${opts.name})`);
    let stdio: StdioOptions;
    let fd: number | null = null;
    if (opts.logFile) {
      fd = openSync(opts.logFile, 'a');
      stdio = ['ignore', fd, fd];
    } else {
      const out = opts.quiet ? 'ignore' : opts.inherit ? 'inherit' : 'pipe';
      stdio = ['ignore', out, out];
    }
    if (opts.ipc) stdio = [...stdio, 'ipc'];
    this.child = spawn(opts.command ?? process.execPath, opts.args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio, detached: !!opts.group });
    if (fd !== null) closeSync(fd);
    const keep = (c: Buffer) => {
      this.buffer += c.toString();
      if (this.buffer.length > MAX_OUTPUT) this.buffer = this.buffer.slice(-MAX_OUTPUT / 2);
      if (opts.echo) process.stderr.write(c);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => resolve({ code: null, signal: null, error: err.message }));
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    if (opts.group) {
      installExitHandler();
      groups.add(this);
      void this.exited.then(() => groups.delete(this));
    }
  }

  /** Starts a process (same as the constructor, reads better at call sites). */
  static start(opts: SuperviseOptions): Supervised {
    return new Supervised(opts);
  }

  get name(): string {
    return this.opts.name;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything it wrote so far (from its log file when it has one). */
  get output(): string {
    if (!this.opts.logFile) return this.buffer;
    try {
      return readFileSync(this.opts.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** The last lines of its output, to show when something went wrong. */
  logTail(lines = 15): string {
    return this.output.trimEnd().split('\n').slice(-lines).join('\n') || '(no output)';
  }

  /** Sends `sig` to the process (to its whole group with `group`); false when it is gone. */
  signal(sig: NodeJS.Signals): boolean {
    if (!this.running) return false;
    try {
      if (this.opts.group) process.kill(-this.child.pid!, sig);
      else this.child.kill(sig);
      return true;
    } catch {
      try {
        return this.child.kill(sig);
      } catch {
        return false;
      }
    }
  }

  /** A message over the IPC channel (`ipc`). */
  send(message: unknown): boolean {
    return this.child.connected ? this.child.send(message as object) : false;
  }

  /** Sends `sig` (SIGKILL by default) and waits for the exit; a stop, not a crash. */
  async kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<ExitStatus> {
    this.stopRequested = true;
    this.signal(sig);
    if (sig === 'SIGKILL' || sig === 'SIGTERM') this.signal('SIGCONT'); // a stopped process acts on it only once resumed
    return this.exited;
  }

  /** SIGTERM (or `sig`), then SIGKILL once `graceMs` have passed; resolves once it has exited. */
  async stop(graceMs = 10_000, sig: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus> {
    this.stopRequested = true;
    if (!this.running) return this.exited;
    this.signal(sig);
    if (sig !== 'SIGCONT') this.signal('SIGCONT');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const status = await this.exited;
    clearTimeout(timer);
    // The leader may be gone while others of its group live on.
    if (this.opts.group) {
      try {
        process.kill(-this.child.pid!, 'SIGKILL');
      } catch {
        /* the whole group is gone */
      }
    }
    return status;
  }

  /** Resolves with how it ended when it ends without having been asked to (a crash); else never. */
  crashed(): Promise<string> {
    return this.exited.then((s) => (this.stopRequested ? new Promise<string>(() => undefined) : describeExit(s)));
  }

  /** The first line of its output matching `re`; fails at once if the process ends first. */
  async waitForLine(re: RegExp, timeoutMs = 20_000): Promise<string> {
    return waitFor(() => this.output.split('\n').find((l) => re.test(l)), {
      timeoutMs,
      what: `${this.name} to print ${re}`,
      intervalMs: 25,
      abort: () => this.endedError(),
    });
  }

  /** Until `url` answers 2xx; fails at once if the process ends first. */
  async waitForUrl(url: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(async () => (await fetch(url).catch(() => null))?.ok, { timeoutMs, what: `${this.name} to answer ${url}`, intervalMs: 50, abort: () => this.endedError() });
  }

  /** Until `check` holds; fails at once if the process ends first. */
  async waitUntil<T>(check: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
    return waitFor(check, { timeoutMs, what: `${this.name}: ${what}`, intervalMs: 50, abort: () => this.endedError() });
  }

  private endedError(): Error | null {
    if (this.running) return null;
    const how = this.child.pid === undefined ? 'could not start' : describeExit({ code: this.child.exitCode, signal: this.child.signalCode });
    return new Error(`${this.name} ${how}. Last lines of its output:\n${this.logTail()}`);
  }
}

/** The unit tier (jest.unit.config.js) starts nothing: a spec that does belongs to the e2e tier. */
export function assertNotUnitTier(what: string): void {
  if (process.env.MLOC_TEST_TIER === 'unit') {
    throw new Error(`this spec ${what}, so it is not a unit spec: take it out of test/support/test-tiers.js (it then runs in npm run test:e2e)`);
  }
}

export function describeExit(s: ExitStatus): string {
  if (s.error) return `could not start: ${s.error}`;
  return s.signal ? `was killed by ${s.signal}` : `exited with code ${s.code}`;
}

/** Stops every process started with `group` that is still running (SIGKILL after `graceMs`). */
export async function stopAllGroups(graceMs = 1000): Promise<void> {
  await Promise.all([...groups].map((p) => p.stop(graceMs, 'SIGKILL')));
}
