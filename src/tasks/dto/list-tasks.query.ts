import { ValidateBy } from 'class-validator';
import { TASK_STATUSES } from '../../contracts/task-states';
import { fieldsProblem } from '../list-shape';

export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;
/** Longest `owner` or `name` filter: longer than any name or owner MAX_NAME_LENGTH allows. */
export const MAX_FILTER_LENGTH = 2048;

/** An offending query value for a message: quoted, bounded. */
export function shown(value: string): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 56)}..."` : text;
}

/**
 * A query parameter given at most once, as text that `problem` accepts (it returns null for a good
 * value, else what is wrong). Absent and empty mean "not given". Express gives a repeated parameter
 * as an array, which is refused here instead of reaching code that expects a string.
 */
export function QueryText(problem: (value: string) => string | null): PropertyDecorator {
  const check = (value: unknown): string | null => {
    if (value === undefined || value === '') return null;
    if (Array.isArray(value)) return 'given more than once; give it at most once';
    if (typeof value !== 'string') return 'expected a single value';
    return problem(value);
  };
  return ValidateBy({
    name: 'queryText',
    validator: {
      validate: (value) => check(value) === null,
      defaultMessage: (args) => `${args?.property}: ${check(args?.value)}`,
    },
  });
}

const maxLength = (value: string) => (value.length > MAX_FILTER_LENGTH ? `at most ${MAX_FILTER_LENGTH} characters, got ${value.length}` : null);

/**
 * Query of GET /api/v1/tasks, validated by the global ValidationPipe (src/common/validation.ts).
 * Values stay text here; TasksService.list reads them once they are known to be good.
 */
export class ListTasksQuery {
  @QueryText((v) => (TASK_STATUSES.includes(v.toUpperCase() as never) ? null : `expected one of ${TASK_STATUSES.join(', ')}, got ${shown(v)}`))
  status?: string;

  @QueryText(maxLength)
  owner?: string;

  @QueryText(maxLength)
  name?: string;

  // Digits only: Number() would also take "0x10", "1e3" and " 5 ".
  @QueryText((v) => (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= MAX_LIST_LIMIT ? null : `expected an integer from 1 to ${MAX_LIST_LIMIT}, got ${shown(v)}`))
  limit?: string;

  @QueryText((v) => (/^\d{1,15}$/.test(v) ? null : `expected the X-Next-Cursor value of a previous page, got ${shown(v)}`))
  cursor?: string;

  /** `task`: the full records (with the documents); default: a summary per record (list-shape.ts). */
  @QueryText((v) => (v === 'task' ? null : `expected "task", got ${shown(v)}`))
  include?: string;

  /** Comma-separated record fields to return (task_id always). */
  @QueryText((v) => (v.length > MAX_FILTER_LENGTH ? `at most ${MAX_FILTER_LENGTH} characters, got ${v.length}` : fieldsProblem(v)))
  fields?: string;
}

/** Query of POST /api/v1/tasks. */
export class SubmitQuery {
  /** `true`: validate and explain placement, create nothing. */
  @QueryText((v) => (v === 'true' || v === 'false' ? null : `expected true or false, got ${shown(v)}`))
  dryRun?: string;
}
