/**
 * The shape of GET /api/v1/tasks records (issue 13): a summary by default (no document: no `task`,
 * `parsed`, `raw_yaml`, nor `result`), the full records with `include=task`, or the fields named in
 * `fields=` (task_id always). The summary reads fewer hash fields from Redis (HMGET, not HGETALL),
 * so a list of 1,000 records is not 1,000 documents. Pure.
 */
import type { TaskField } from '../redis/task-codec';
import type { TaskResponse } from './task-record';

/** Every field of a record, in the order the API shows them. */
export const RECORD_FIELDS = [
  'task_id',
  'name',
  'owner',
  'kind',
  'task_type',
  'status',
  'assigned_worker',
  'topic',
  'priority',
  'submitted_at',
  'updated_at',
  'dispatched_at',
  'started_at',
  'finished_at',
  'error',
  'retries',
  'max_retries',
  'attempt',
  'attempts',
  'depends_on',
  'waiting_on',
  'strategy',
  'reason',
  'unschedulable',
  'parent_id',
  'parent_task_id',
  'retry_of',
  'retried_by',
  'raw_yaml',
  'shard_index',
  'shard_total',
  'children',
  'shards_done',
  'progress',
  'result',
  'task',
  'parsed',
] as const satisfies readonly (keyof TaskResponse)[];
export type RecordField = (typeof RECORD_FIELDS)[number];
// Fails to compile when TaskResponse gains a field this list does not name.
const complete: Record<Exclude<keyof TaskResponse, RecordField>, never> = {};
void complete;

/** Left out of the default summary: the documents, and the result (which may be large). */
export const NOT_IN_SUMMARY: readonly RecordField[] = ['task', 'parsed', 'raw_yaml', 'result'];
export const SUMMARY_FIELDS: readonly RecordField[] = RECORD_FIELDS.filter((f) => !NOT_IN_SUMMARY.includes(f));

/** The hash fields a record field is made of, where they differ from its name. */
const HASH_FIELDS_OF: Partial<Record<RecordField, TaskField[]>> = {
  task_id: ['id'],
  parent_task_id: ['parent_id'],
  shards_done: ['children', 'shards_done'],
  task: ['doc'],
  parsed: ['doc'],
  raw_yaml: ['id', 'raw_yaml', 'raw_of'],
};
/** What every list reads: its filters match on these. */
const ALWAYS_READ: TaskField[] = ['id', 'status', 'owner', 'name'];

export interface ListShape {
  fields: readonly RecordField[];
  /** The hash fields to read (HMGET); null: all of them (HGETALL). */
  hashFields: string[] | null;
}

/** `include` and `fields` have passed the query DTO: `include` is absent or `task`, `fields` a list of RECORD_FIELDS. */
export function listShape(include: string | undefined, fields: string | undefined): ListShape {
  if (fields) {
    const named = new Set(['task_id', ...fields.split(',').map((f) => f.trim())]) as Set<RecordField>;
    const chosen = RECORD_FIELDS.filter((f) => named.has(f));
    return { fields: chosen, hashFields: hashFieldsOf(chosen) };
  }
  if (include === 'task') return { fields: RECORD_FIELDS, hashFields: null };
  return { fields: SUMMARY_FIELDS, hashFields: hashFieldsOf(SUMMARY_FIELDS) };
}

function hashFieldsOf(fields: readonly RecordField[]): string[] {
  const out = new Set<string>(ALWAYS_READ);
  for (const f of fields) for (const h of HASH_FIELDS_OF[f] ?? [f]) out.add(h);
  return [...out];
}

/** The problem with a `fields=` value, or null when every name is a record field. */
export function fieldsProblem(value: string): string | null {
  const unknown = value
    .split(',')
    .map((f) => f.trim())
    .filter((f) => !(RECORD_FIELDS as readonly string[]).includes(f));
  return unknown.length === 0
    ? null
    : `unknown field(s) ${unknown
        .slice(0, 5)
        .map((f) => JSON.stringify(f.slice(0, 40)))
        .join(', ')}; known: ${RECORD_FIELDS.join(', ')}`;
}

/** The record with only `fields`, in their order. */
export function pick(record: TaskResponse, fields: readonly RecordField[]): Partial<TaskResponse> {
  if (fields === RECORD_FIELDS) return record;
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = record[f];
  return out as Partial<TaskResponse>;
}
