import { Injectable } from '@nestjs/common';
import { DomainError } from '../../common/errors';
import { IDEMPOTENCY_HEADER, sha256 } from './idempotency';
import { IdempotencyRepository } from './idempotency.repository';

/** How long a request waits for the first submission of its key to finish before a 409. */
const WAIT_FOR_FIRST_MS = 15_000;
const POLL_MS = 50;

export interface IdempotentAnswer<T> {
  status: number;
  body: T;
  /** True when this is the stored answer of an earlier request with the same key and body. */
  replayed: boolean;
}

/**
 * Runs a submission at most once per Idempotency-Key (24 h): the first request with a key takes it
 * (a pending marker, SET NX), runs the submission and stores its answer; a request with the same key
 * and body gets that answer (waiting while the first is under way), one with another body a 422.
 * A submission that fails created nothing (all or none), so its key is freed for a retry.
 */
@Injectable()
export class IdempotentSubmissions {
  constructor(private readonly repo: IdempotencyRepository) {}

  async run<T>(key: string, text: string, submit: () => Promise<T>): Promise<IdempotentAnswer<T>> {
    const keyHash = sha256(key);
    const bodyHash = sha256(text);
    const existing = await this.repo.begin(keyHash, bodyHash);
    if (existing === null) {
      let body: T;
      try {
        body = await submit();
      } catch (err) {
        await this.repo.abandon(keyHash).catch(() => undefined);
        throw err;
      }
      await this.repo.finish(keyHash, bodyHash, 200, body);
      return { status: 200, body, replayed: false };
    }
    const deadline = Date.now() + WAIT_FOR_FIRST_MS;
    let record = existing;
    for (;;) {
      if (record.h !== bodyHash) throw reused();
      if (!record.pending) return { status: record.s, body: record.b as T, replayed: true };
      if (Date.now() > deadline) throw new DomainError('conflict', `A submission with this ${IDEMPOTENCY_HEADER} is still in progress; retry later`, IDEMPOTENCY_HEADER);
      await new Promise((r) => setTimeout(r, POLL_MS));
      const next = await this.repo.read(keyHash);
      // Gone: the first submission failed (and created nothing), or the record expired: take the key.
      if (next === null) return this.run(key, text, submit);
      record = next;
    }
  }
}

function reused(): DomainError {
  return new DomainError(
    'idempotency_key_reused',
    `This ${IDEMPOTENCY_HEADER} was used in the last 24 h with another request body; use a new key for a new submission`,
    IDEMPOTENCY_HEADER,
  );
}
