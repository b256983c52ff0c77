/** Task states as the API shows them (TASK-SPEC section 7). */
export const TaskStatus = {
  PENDING: 'PENDING',
  DISPATCHED: 'DISPATCHED',
  RUNNING: 'RUNNING',
  DONE: 'DONE',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export const TASK_STATUSES: readonly TaskStatus[] = Object.values(TaskStatus);
export const FINAL_STATUSES: ReadonlySet<TaskStatus> = new Set([TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.CANCELLED]);
export const isFinal = (s: string): boolean => FINAL_STATUSES.has(s as TaskStatus);

/** `assigned_worker` of a sharded parent, whose shards run on several workers. */
export const MULTI_WORKER = 'MULTI';
