/**
 * Child processes of the bench. Every child is started in its own process group (detached) and
 * registered here, so that one call kills each group by its id: at the end of a scenario, on
 * failure, on SIGINT/SIGTERM of the runner, and (synchronously) when the runner exits.
 */
import { ChildProcess, fork, ForkOptions, spawn, SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    try {
      p.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Last resort: whatever is still registered dies with the runner.
  process.on('exit', () => {
    for (const p of live) killGroup(p, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping ${live.size} child process(es)\n`);
      for (const p of live) killGroup(p, 'SIGKILL');
      process.exit(130);
    });
  }
}

function track(p: ChildProcess): ChildProcess {
  installHandlers();
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  return track(spawn(cmd, args, { ...opts, detached: true }));
}

export function forkTracked(modulePath: string, args: string[], opts: ForkOptions = {}): ChildProcess {
  return track(fork(modulePath, args, { ...opts, detached: true }));
}

/** SIGTERM (or `signal`), then SIGKILL to the whole group after `graceMs`; resolves once it exited. */
export async function stopProcess(p: ChildProcess | null | undefined, graceMs = 3000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  killGroup(p, signal);
  const timer = setTimeout(() => killGroup(p, 'SIGKILL'), graceMs);
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs + 2000))]);
  clearTimeout(timer);
  // The leader may be gone while others of its group live on.
  killGroup(p, 'SIGKILL');
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => stopProcess(p, 1000, 'SIGKILL')));
}

export { freePort } from '../../src/common/free-port';

const CLOCK_TICKS_PER_SEC = 100;

/** CPU time (user + system, ms) a process has used, from /proc/<pid>/stat; null when unavailable. */
export function processCpuMs(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SEC;
  } catch {
    return null;
  }
}

/** VmRSS and VmHWM (peak) of a process in MB, from /proc/<pid>/status. */
export function processMemoryMb(pid: number | undefined): { rssMb: number | null; peakMb: number | null } {
  if (!pid) return { rssMb: null, peakMb: null };
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => {
      const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) / 1024 : null;
    };
    return { rssMb: kb('VmRSS'), peakMb: kb('VmHWM') };
  } catch {
    return { rssMb: null, peakMb: null };
  }
}
