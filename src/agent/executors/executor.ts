/**
 * The one interface between the worker loop and what a task actually does. To add a task type,
 * implement Executor and register it (see docs/worker.md, "Adding an executor").
 */
import type { Logger } from '../logger';
import type { TaskOutput } from '../task-log';

/** What an executor gets for one task. */
export interface ExecutionContext {
  taskId: string;
  /** The dispatch's attempt number when the orchestrator sent one (1 = first dispatch). */
  attempt: number | undefined;
  /** The effective task document (`apiVersion`, `kind`, `metadata`, `spec`). */
  task: Record<string, unknown>;
  /** `task.spec`, always an object. */
  spec: Record<string, unknown>;
  /** This task's output directory (PROTOCOL section 4); it exists. The worker writes responses.json there. */
  outputDir: string;
  /**
   * Aborted on `spec.timeoutSec` or worker shutdown. An executor must stop promptly when it fires
   * (kill child processes, cancel requests); the worker reports the failure itself.
   */
  signal: AbortSignal;
  log: Logger;
  /**
   * The task's output lines and progress, sent to Redis in batches (v2 only: absent for a v1
   * worker, which sends no logs). An executor writes what it knows; writing never fails the task.
   */
  output?: TaskOutput;
  /** Worker-wide settings executors may need. */
  settings: ExecutorSettings;
}

export interface ExecutorSettings {
  /** OPENAI_BASE_URL: the inference endpoint when the task names none. */
  openaiBaseUrl: string | null;
  openaiApiKey: string | null;
}

/**
 * What an executor returns: written to responses.json in full, and sent (cut to a sane size) as
 * TASK_SUCCEEDED.result. By convention `items` holds one entry per input, `usage` token counters
 * (summed across shards by the orchestrator) and `model` the model that answered.
 */
export interface ExecutorOutput {
  items?: unknown[];
  usage?: Record<string, number>;
  model?: string;
  [field: string]: unknown;
}

export interface Executor {
  run(ctx: ExecutionContext): Promise<ExecutorOutput>;
}

/** Executors by `spec.taskType` (case-insensitive). */
export class ExecutorRegistry {
  private readonly byType = new Map<string, Executor>();

  /** Registers `executor` under one or more task types; a later registration replaces an earlier one. */
  register(executor: Executor, ...taskTypes: string[]): this {
    for (const type of taskTypes) this.byType.set(type.toLowerCase(), executor);
    return this;
  }

  get(taskType: string): Executor | undefined {
    return this.byType.get(taskType.toLowerCase());
  }

  /**
   * Keeps only the given task types (WORKER_EXECUTORS), so that, for example, a worker can refuse
   * `command` tasks. Returns the names that are not registered, for the caller to report.
   */
  restrictTo(taskTypes: string[]): string[] {
    const wanted = new Set(taskTypes.map((t) => t.toLowerCase()));
    const unknown = [...wanted].filter((t) => !this.byType.has(t));
    for (const type of [...this.byType.keys()]) if (!wanted.has(type)) this.byType.delete(type);
    return unknown;
  }

  /** Registered task types, sorted (reported in the worker's env_json). */
  types(): string[] {
    return [...this.byType.keys()].sort();
  }
}

/** A task failure with a message meant for the user (no stack trace needed). */
export class TaskError extends Error {
  override name = 'TaskError';
}
