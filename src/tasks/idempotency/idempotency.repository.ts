import { Injectable } from '@nestjs/common';
import { Keys } from '../../redis/keys';
import { RedisService } from '../../redis/redis.service';
import { IDEMPOTENCY_TTL_MS, type IdempotencyRecord, parseIdempotencyRecord, PENDING_TTL_MS } from './idempotency';

/** Idempotency records (Keys.idempotency): one string per key, with a TTL. Used by this module only. */
@Injectable()
export class IdempotencyRepository {
  constructor(private readonly redis: RedisService) {}

  /**
   * Takes the key for a new submission of the body hashed `bodyHash` (SET NX of a pending marker):
   * null when taken, else the record already there (the first submission's answer, or its marker).
   * Of two requests racing with one key, exactly one takes it.
   */
  async begin(keyHash: string, bodyHash: string): Promise<IdempotencyRecord | null> {
    const key = Keys.idempotency(keyHash);
    const marker: IdempotencyRecord = { h: bodyHash, pending: true };
    const taken = await this.redis.cmd.set(key, JSON.stringify(marker), 'PX', PENDING_TTL_MS, 'NX');
    if (taken === 'OK') return null;
    return parseIdempotencyRecord(await this.redis.cmd.get(key)) ?? { h: bodyHash, pending: true };
  }

  read(keyHash: string): Promise<IdempotencyRecord | null> {
    return this.redis.cmd.get(Keys.idempotency(keyHash)).then(parseIdempotencyRecord);
  }

  /** The submission's answer, kept 24 h from now. */
  async finish(keyHash: string, bodyHash: string, status: number, body: unknown): Promise<void> {
    const record: IdempotencyRecord = { h: bodyHash, s: status, b: body };
    await this.redis.cmd.set(Keys.idempotency(keyHash), JSON.stringify(record), 'PX', IDEMPOTENCY_TTL_MS);
  }

  /** The submission failed and created nothing: the key is free again. */
  async abandon(keyHash: string): Promise<void> {
    await this.redis.cmd.del(Keys.idempotency(keyHash));
  }
}
