import { QueryText, shown } from '../dto/list-tasks.query';

export const DEFAULT_LOG_TAIL = 100;
export const MAX_LOG_TAIL = 10_000;

/**
 * Query of GET /api/v1/tasks/{id}/logs, validated by the global ValidationPipe
 * (src/common/validation.ts): a bad value is 400 naming the field. Values stay text here.
 */
export class TaskLogsQuery {
  // Digits only: Number() would also take "0x10", "1e3" and " 5 ".
  @QueryText((v) => (/^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= MAX_LOG_TAIL ? null : `expected an integer from 1 to ${MAX_LOG_TAIL}, got ${shown(v)}`))
  tail?: string;

  @QueryText((v) => (v === 'true' || v === 'false' ? null : `expected true or false, got ${shown(v)}`))
  follow?: string;
}
