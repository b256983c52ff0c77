/** Child processes the demo starts, owns and stops, on the tests' one supervisor: each logs to its own file. */
import { spawnSync } from 'node:child_process';
import { Supervised } from '../test/support/process';
export { freePort } from '../src/common/free-port';

/** A problem the demo explains in one message and stops on (exit 1), without a stack trace. */
export class DemoError extends Error {
  override name = 'DemoError';
}

/** Whether `binary --version` runs. */
export function canRun(binary: string): boolean {
  const probe = spawnSync(binary, ['--version'], { stdio: 'ignore' });
  return !probe.error && probe.status === 0;
}

/**
 * A process of the demo, in its own process group: a Ctrl-C in the terminal reaches only the
 * demo, which then stops everything in order (workers first, so they unregister while Redis is
 * still up).
 */
export function startProcess(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Supervised {
  return new Supervised({ name, command, args, env, logFile, group: true });
}

export type { Supervised };
