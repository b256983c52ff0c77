/**
 * One dispatch, end to end, as PROTOCOL section 2 lists the steps: status RUNNING with the task
 * id (the acknowledgement; v2 adds TASK_STARTED on the stream), the executor chosen by
 * `spec.taskType` (bounded by `spec.timeoutSec`), responses.json, TASK_SUCCEEDED or TASK_FAILED
 * (v2: on the stream, and the dispatch leaves the processing list), status IDLE.
 */
import { mkdir } from 'node:fs/promises';
import { DispatchMessage, noExecutorError, PROTOCOL_V2 } from '../contracts/protocol';
import { isPlainObject } from '../contracts/plain-data';
import { untilAborted } from './abort';
import { ExecutionContext, ExecutorOutput, ExecutorRegistry, ExecutorSettings, TaskError } from './executors/executor';
import { errorMessage, Logger } from './logger';
import { outputDirFor, summarizeResult, writeResponses } from './output';
import type { ProtocolClient } from './protocol-client';
import { TaskLog } from './task-log';

export const SHUTDOWN_ERROR = 'worker shutting down';
/** v2: a dispatch found in the processing list at start-up: taken by an earlier run of this worker that died. */
export const RESTART_ERROR = 'worker restarted before finishing the task';
/** Status while shutting down: unknown to the scheduler, so nothing new is placed on this worker. */
export const STOPPING_STATUS = 'STOPPING';

export class TaskTimeoutError extends TaskError {
  constructor(readonly seconds: number) {
    super(`task exceeded spec.timeoutSec (${seconds} s) and was stopped`);
  }
}

export class WorkerShutdownError extends TaskError {
  constructor() {
    super(SHUTDOWN_ERROR);
  }
}

export interface TaskRunnerOptions {
  protocol: ProtocolClient;
  registry: ExecutorRegistry;
  resultsDir: string;
  settings: ExecutorSettings;
  log: Logger;
  /**
   * After a timeout or shutdown the failure is reported at once; the executor then gets this long
   * to wind down (kill its processes) before the worker moves on.
   */
  settleGraceMs?: number;
}

type Outcome = { ok: true; result: Record<string, unknown> } | { ok: false; error: string; aborted: boolean };

const DEFAULT_SETTLE_GRACE_MS = 10_000;

export class TaskRunner {
  constructor(private readonly opts: TaskRunnerOptions) {}

  /**
   * Runs `msg` to its report. `shutdown` aborting means: stop, report "worker shutting down", stay
   * out of IDLE. `entry` (v2) is the message as it sits in the processing list, removed with the report.
   * `giveUp` (v2) aborting means the orchestrator gave the attempt up (a control message): stop at
   * once, report the failure with the signal's reason (the orchestrator ignores it), turn IDLE.
   */
  async run(msg: DispatchMessage, shutdown: AbortSignal, entry?: string, giveUp?: AbortSignal): Promise<void> {
    const { protocol, log } = this.opts;
    const taskId = msg.task_id;
    const task = isPlainObject(msg.task) ? msg.task : {};
    const spec = isPlainObject(task.spec) ? task.spec : {};
    const taskType = typeof spec.taskType === 'string' ? spec.taskType : String(msg.task_type ?? '');
    const fields = { taskId, taskType, attempt: msg.attempt, name: isPlainObject(task.metadata) ? task.metadata.name : undefined };

    await protocol.acknowledge(msg);
    log.info('task started', fields);
    const startedMs = Date.now();
    // v2: output lines and progress go to Redis (task-log.ts); a v1 worker sends none.
    const output = protocol.protocol === PROTOCOL_V2 ? new TaskLog(protocol, taskId, msg.attempt, log) : undefined;
    const { outcome, settled } = await this.execute(msg, task, spec, taskType, shutdown, output, giveUp);
    // Every line and the last progress are written before the report, so a reader that sees the task end has them all.
    await output?.close();
    // Our RUNNING above may have landed after the worker's STOPPING: restore it before reporting,
    // or the orchestrator would turn us IDLE on the report and place new work here.
    if (shutdown.aborted) await protocol.setStatus(STOPPING_STATUS);
    await protocol.report(
      outcome.ok ? { taskId, attempt: msg.attempt, entry, ok: true, result: outcome.result } : { taskId, attempt: msg.attempt, entry, ok: false, error: outcome.error },
    );
    const ms = Date.now() - startedMs;
    if (outcome.ok) log.info('task succeeded', { ...fields, ms });
    else log.warn('task failed', { ...fields, ms, error: outcome.error });

    if (!outcome.ok && outcome.aborted) {
      // Reported already, so the orchestrator can retry elsewhere while this executor winds down.
      // The grace timer is cleared once the executor settles: left running, it kept the process alive.
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([settled, new Promise((resolve) => (grace = setTimeout(resolve, this.opts.settleGraceMs ?? DEFAULT_SETTLE_GRACE_MS)))]);
      clearTimeout(grace);
    }
    if (!shutdown.aborted) await protocol.setStatus('IDLE', { last_task: taskId });
  }

  private async execute(
    msg: DispatchMessage,
    task: Record<string, unknown>,
    spec: Record<string, unknown>,
    taskType: string,
    shutdown: AbortSignal,
    taskLog: TaskLog | undefined,
    giveUp?: AbortSignal,
  ): Promise<{ outcome: Outcome; settled: Promise<unknown> }> {
    const controller = new AbortController();
    const onShutdown = () => controller.abort(new WorkerShutdownError());
    const onGiveUp = () => controller.abort(giveUp!.reason);
    shutdown.addEventListener('abort', onShutdown, { once: true });
    giveUp?.addEventListener('abort', onGiveUp, { once: true });
    if (shutdown.aborted) onShutdown();
    else if (giveUp?.aborted) onGiveUp();
    let timer: NodeJS.Timeout | undefined;
    let work: Promise<ExecutorOutput> = Promise.resolve({});
    try {
      const executor = this.opts.registry.get(taskType);
      if (!executor) throw new TaskError(noExecutorError(taskType || '(none)'));
      const timeoutSec = parseTimeoutSec(spec.timeoutSec);
      if (timeoutSec !== null) timer = setTimeout(() => controller.abort(new TaskTimeoutError(timeoutSec)), timeoutSec * 1000);
      const outputDir = outputDirFor(msg.task_id, spec, this.opts.resultsDir);
      await mkdir(outputDir, { recursive: true });
      const ctx: ExecutionContext = {
        taskId: msg.task_id,
        attempt: msg.attempt,
        task,
        spec,
        outputDir,
        signal: controller.signal,
        log: this.opts.log,
        output: taskLog,
        settings: this.opts.settings,
      };
      // Shutdown may have come while we acknowledged: never start an executor that is already stopped.
      controller.signal.throwIfAborted();
      work = Promise.resolve().then(() => executor.run(ctx));
      const output = await untilAborted(work, controller.signal);
      await writeResponses(outputDir, output);
      return { outcome: { ok: true, result: summarizeResult({ ...output, output_dir: outputDir }) }, settled: work };
    } catch (err) {
      // Whatever the executor threw after an abort, the abort is the reason the task failed.
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : err;
      return { outcome: { ok: false, error: errorMessage(reason), aborted: controller.signal.aborted }, settled: work.catch(() => undefined) };
    } finally {
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
      giveUp?.removeEventListener('abort', onGiveUp);
    }
  }
}

/** `spec.timeoutSec`: absent means no limit; a positive number (or numeric string) of seconds. */
function parseTimeoutSec(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new TaskError(`spec.timeoutSec must be a positive number of seconds, got ${JSON.stringify(value)}`);
  }
  return n;
}
