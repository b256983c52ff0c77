/**
 * Domain errors with a stable code. Services throw these (they also run under cron and event
 * handlers, where HTTP means nothing); ErrorFilter maps the code to an HTTP status.
 */
export type ErrorCode =
  | 'invalid_task' // 400
  | 'invalid_request' // 400
  | 'unauthorized' // 401
  | 'forbidden' // 403
  | 'not_found' // 404
  | 'method_not_allowed' // 405
  | 'conflict' // 409
  | 'idempotency_key_reused' // 422: an Idempotency-Key sent again with another body
  | 'payload_too_large' // 413
  | 'too_many_tasks' // 413
  | 'unsupported_media_type' // 415
  | 'redis_unavailable' // 503
  | 'storage_full'; // 503: Redis is at maxmemory and refuses writes

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Field path of the offending input, when there is one. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const HTTP_STATUS_OF: Record<ErrorCode, number> = {
  invalid_task: 400,
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  idempotency_key_reused: 422,
  payload_too_large: 413,
  too_many_tasks: 413,
  unsupported_media_type: 415,
  redis_unavailable: 503,
  storage_full: 503,
};

/** The one JSON error body of the API: every key is always there (`field` null when no input is to blame). */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  code: string;
  field: string | null;
  requestId: string | null;
}
