/**
 * `command`: runs `spec.command`, an argv list (never through a shell, so nothing in the task can
 * inject shell syntax), with `spec.env` over the worker's environment, in the task's output
 * directory. stdout and stderr stream to stdout.log and stderr.log there (and, v2, line by line to
 * the task's log: ExecutionContext.output). A non-zero exit fails the
 * task with the tail of stderr.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { isPlainObject } from '../../contracts/plain-data';
import { LineSplitter } from '../task-log';
import { ExecutionContext, Executor, ExecutorOutput, TaskError } from './executor';
import { shardOf } from './inputs';

/** After SIGTERM, a command that has not exited within this time gets SIGKILL. */
const KILL_GRACE_MS = 5000;
/** How much of stderr goes into the error message, and of stdout into the result. */
const TAIL_CHARS = 2000;

export class CommandExecutor implements Executor {
  constructor(private readonly killGraceMs = KILL_GRACE_MS) {}

  async run(ctx: ExecutionContext): Promise<ExecutorOutput> {
    const argv = commandArgv(ctx.spec.command);
    // An abort listener added after the fact never fires: do not start what nobody could stop.
    ctx.signal.throwIfAborted();
    const env = { ...process.env, ...commandEnv(ctx.spec.env), ...taskEnv(ctx) };
    const stdoutFile = createWriteStream(join(ctx.outputDir, 'stdout.log'));
    const stderrFile = createWriteStream(join(ctx.outputDir, 'stderr.log'));
    const files = [stdoutFile, stderrFile];
    // A log file that cannot be written (disk full) must not crash the worker; the command's exit decides.
    for (const file of files) file.on('error', (err) => ctx.log.warn(`cannot write ${file.path}: ${err.message}`, { taskId: ctx.taskId }));
    const stdoutTail = new Tail(TAIL_CHARS);
    const stderrTail = new Tail(TAIL_CHARS);

    // Its own process group, so that stopping it also stops whatever it started.
    const child = spawn(argv[0], argv.slice(1), { cwd: ctx.outputDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout.on('data', (chunk: Buffer) => stdoutTail.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderrTail.push(chunk));
    // v2: the lines also go to the task's log stream, batched (task-log.ts).
    const output = ctx.output;
    const lines = output ? [new LineSplitter((t) => output.line('stdout', t)), new LineSplitter((t) => output.line('stderr', t))] : [];
    if (output) {
      child.stdout.on('data', (chunk: Buffer) => lines[0].push(chunk));
      child.stderr.on('data', (chunk: Buffer) => lines[1].push(chunk));
    }
    child.stdout.pipe(stdoutFile);
    child.stderr.pipe(stderrFile);

    const stop = () => this.terminate(child.pid);
    ctx.signal.addEventListener('abort', stop, { once: true });
    try {
      const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (code, signal) => resolve({ code, signal }));
      }).catch((err: Error) => {
        throw new TaskError(`cannot start ${argv[0]}: ${err.message}`);
      });
      for (const l of lines) l.end();
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const detail = stderrTail.text() ? `: ${stderrTail.text()}` : '';
      if (exit.signal) throw new TaskError(`command killed by ${exit.signal}${detail}`);
      if (exit.code !== 0) throw new TaskError(`command exited with code ${exit.code}${detail}`);
      return { exit_code: 0, command: argv, stdout: 'stdout.log', stderr: 'stderr.log', stdout_tail: stdoutTail.text() };
    } finally {
      ctx.signal.removeEventListener('abort', stop);
      // The logs are complete on disk before the task is reported.
      for (const file of files) file.end();
      await Promise.all(files.map((file) => finished(file).catch(() => undefined)));
    }
  }

  /** SIGTERM to the command's process group, SIGKILL if it is still there after the grace period. */
  private terminate(pid: number | undefined) {
    if (!pid) return;
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-pid, signal);
      } catch {
        // Already gone.
      }
    };
    kill('SIGTERM');
    setTimeout(() => kill('SIGKILL'), this.killGraceMs).unref();
  }
}

function commandArgv(command: unknown): string[] {
  if (typeof command === 'string') {
    throw new TaskError('spec.command must be a list (argv), not a string: commands never run through a shell; write ["python", "train.py", "--epochs", "1"]');
  }
  if (!Array.isArray(command) || command.length === 0 || command.some((a) => typeof a !== 'string' && typeof a !== 'number')) {
    throw new TaskError('spec.command must be a non-empty list of strings (argv), for example ["python", "train.py"]');
  }
  if (String(command[0]).trim() === '') throw new TaskError('spec.command[0] (the program) must not be empty');
  return command.map(String);
}

function commandEnv(env: unknown): Record<string, string> {
  if (env === undefined || env === null) return {};
  if (!isPlainObject(env)) throw new TaskError('spec.env must be a mapping of variable names to values');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TaskError(`spec.env: invalid variable name "${name}"`);
    if (!['string', 'number', 'boolean'].includes(typeof value)) throw new TaskError(`spec.env.${name} must be a string, number or boolean`);
    out[name] = String(value);
  }
  return out;
}

/** Lets a command find its place without parsing the task document. */
function taskEnv(ctx: ExecutionContext): Record<string, string> {
  const env: Record<string, string> = { MLOC_TASK_ID: ctx.taskId, MLOC_OUTPUT_DIR: ctx.outputDir };
  if (ctx.attempt !== undefined) env.MLOC_ATTEMPT = String(ctx.attempt);
  const shard = shardOf(ctx.spec);
  if (shard) Object.assign(env, { MLOC_SHARD_INDEX: String(shard.index), MLOC_SHARD_TOTAL: String(shard.total) });
  return env;
}

/** The last `max` characters of a stream, trimmed, for messages. */
class Tail {
  private buffer = '';

  constructor(private readonly max: number) {}

  push(chunk: Buffer) {
    this.buffer = (this.buffer + chunk.toString('utf8')).slice(-this.max);
  }

  text(): string {
    return this.buffer.trim();
  }
}
