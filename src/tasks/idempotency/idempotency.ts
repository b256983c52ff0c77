/**
 * Idempotency-Key on POST /api/v1/tasks (issue 13): the pure parts. A key names one submission for
 * 24 h: sent again with the same body it answers the first submission's answer and creates
 * nothing; with another body it is refused (422). Keys are stored hashed (SHA-256), bodies too.
 */
import { createHash } from 'node:crypto';
import { DomainError } from '../../common/errors';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** The header a replayed answer carries. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** How long a key names its submission. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
/**
 * How long a pending marker (a submission under way) lives: a process that dies mid-submission
 * leaves a key that a retry may take again after this. A submission takes seconds at most.
 */
export const PENDING_TTL_MS = 120_000;
export const MAX_KEY_LENGTH = 255;

/** What the store holds under a key: a submission under way, or its answer. */
export type IdempotencyRecord = { h: string; pending: true } | { h: string; pending?: false; s: number; b: unknown };

/** The key as sent, checked: 1-255 printable ASCII characters (space to tilde). Else 400 naming the header. */
export function checkIdempotencyKey(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  if (Array.isArray(value)) throw new DomainError('invalid_request', `${IDEMPOTENCY_HEADER}: given more than once; give it once`, IDEMPOTENCY_HEADER);
  if (value.length === 0 || value.length > MAX_KEY_LENGTH || !/^[\x20-\x7e]+$/.test(value)) {
    throw new DomainError(
      'invalid_request',
      `${IDEMPOTENCY_HEADER}: expected 1 to ${MAX_KEY_LENGTH} printable ASCII characters, got ${value.length} character(s)${/^[\x20-\x7e]*$/.test(value) ? '' : ' with others'}`,
      IDEMPOTENCY_HEADER,
    );
  }
  return value;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The record as stored, or null when it is not one (a corrupt value counts as absent). */
export function parseIdempotencyRecord(raw: string | null): IdempotencyRecord | null {
  if (raw === null) return null;
  try {
    const r = JSON.parse(raw) as IdempotencyRecord;
    return typeof r === 'object' && r !== null && typeof r.h === 'string' ? r : null;
  } catch {
    return null;
  }
}
