/**
 * Child processes of the bench, on the tests' one supervisor (test/support/process.ts). Every
 * child is started in its own process group and killed with it: at the end of a scenario, on
 * failure, on SIGINT/SIGTERM of the runner, and (synchronously) when the runner exits.
 */
import { readFileSync } from 'node:fs';
import { stopAllGroups, SuperviseOptions, Supervised } from '../../test/support/process';

export { freePort } from '../../src/common/free-port';
export { Supervised };

let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping the child processes\n`);
      // process.exit runs the supervisor's exit handler, which kills every group.
      process.exit(130);
    });
  }
}

/** A child in its own process group (a node script unless `command` says otherwise). */
export function startChild(opts: SuperviseOptions): Supervised {
  installHandlers();
  return new Supervised({ ...opts, group: true });
}

export async function stopAll(): Promise<void> {
  await stopAllGroups(1000);
}

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
