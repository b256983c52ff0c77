/**
 * What a task id looks like. The orchestrator makes every task id (`crypto.randomUUID()`, lower
 * case), so anything else named as a task, in an event, a URL or `spec.dependsOn`, is not one of
 * ours: it is refused before it reaches a key name, where `<id>:dependents` would name another key. No Nest imports: the
 * orchestrator and our worker both use this file.
 */
const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const isTaskId = (v: unknown): v is string => typeof v === 'string' && v.length === 36 && TASK_ID.test(v);
