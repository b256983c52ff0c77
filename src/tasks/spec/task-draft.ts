/**
 * What the YAML parser hands to the tasks service: one draft per task to create.
 * Pure data; the parser (parse-submission.ts) never touches Redis.
 */

import type { Requirements, TaskDocument } from '../../contracts/stored-task';

export type { GpuRequirement, Requirements, TaskDocument } from '../../contracts/stored-task';

export interface TaskDraft {
  /**
   * Unique within the submission: `d<docIndex>` for a plain document,
   * `d<docIndex>/<stage or node name>` for a stage or graph node.
   */
  key: string;
  /** Effective `metadata.name` (`<base>:<stage>` for stages and nodes). */
  name: string;
  owner: string | null;
  taskType: string;
  /** Effective document: base without `stages`/`graph`, the stage's spec deep-merged over the base spec. */
  doc: TaskDocument;
  requirements: Requirements;
  /** `spec.priority`, integer, default 0; higher runs first. */
  priority: number;
  /** `spec.retry.maxRetries` when given, else null (the service applies MAX_RETRIES). */
  maxRetries: number | null;
  /** `spec.retry.backoffSec` when given, else null (no delay). */
  backoffSec: number | null;
  /** `spec.retention.seconds` when given (a positive integer), else null (the service applies TASK_RETENTION_SEC and checks TASK_RETENTION_MAX_SEC). */
  retentionSec?: number | null;
  /** True when taskType is `inference` and `spec.parallel.enabled` is true. */
  parallel: boolean;
  /** `spec.parallel.max_shards` when given. */
  maxShards: number | null;
  /** Keys of other drafts in this submission that must finish first (stage chaining, stage/node names). */
  dependsOnKeys: string[];
  /** Ids of tasks from earlier submissions (the service checks they exist). */
  dependsOnIds: string[];
  /**
   * Only when the spec references upstream results (`${prev.result.x}`): the stages it names and its
   * direct upstream stages, by name → draft key (the service turns keys into task ids: StoredPlacement.upstream).
   */
  upstream?: { stages: Record<string, string>; direct: string[] };
}

/** A refusal: `path` is the field path (`spec.resources.hardware.memory`), `message` is the full sentence. */
export class SpecError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'SpecError';
  }
}

/**
 * A submission that would create more tasks than allowed (documents × stages × graph nodes). Counted
 * before anything is expanded, so a document of 60,000 empty stages costs nothing but its count.
 */
export class TooManyTasksError extends SpecError {
  constructor(
    readonly count: number,
    readonly limit: number,
  ) {
    super('', `Too many tasks: this submission would create ${count} tasks (documents × stages × graph nodes); at most ${limit} are accepted (MAX_TASKS_PER_SUBMISSION)`);
    this.name = 'TooManyTasksError';
  }
}
