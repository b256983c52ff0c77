/**
 * Task ids are minted by the orchestrator (crypto.randomUUID, lower-case). Anything else in a path
 * or in `spec.dependsOn` names no task: checking the form first keeps such text from becoming part
 * of a Redis key, where `<id>:dependents` would name another task's set of dependents.
 */
const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isTaskId = (id: string): boolean => TASK_ID.test(id);
