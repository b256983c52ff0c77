import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkersService } from '../workers/workers.service';
import { LeadershipService } from '../leadership/leadership.service';
import { DomainError } from '../common/errors';
import { isPlainObject } from '../contracts/plain-data';
import { isFinal } from '../contracts/task-states';
import { PRUNE_MAX_LIMIT, PruneAnswer, PruneRequest, TaskRetentionService } from '../tasks/retention/retention.service';

/** Stale-worker cleanup, on demand (POST /admin/cleanup) and every CLEANUP_INTERVAL_SEC. */
@Injectable()
export class AdminService implements OnApplicationBootstrap {
  private readonly log = new Logger('Cleanup');

  constructor(
    private readonly workers: WorkersService,
    private readonly scheduler: SchedulerService,
    private readonly registry: SchedulerRegistry,
    private readonly leadership: LeadershipService,
    private readonly retention: TaskRetentionService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap() {
    // The periodic job runs on the leader only; POST /admin/cleanup works on any replica.
    const timer = setInterval(() => {
      if (this.leadership.isLeader) void this.cleanup().catch((err) => this.log.warn(`cleanup failed: ${String(err)}`));
    }, this.config.cleanupIntervalSec * 1000);
    timer.unref();
    this.registry.addInterval('stale-worker-cleanup', timer);
  }

  /** POST /admin/prune: `body` checked field by field (400 naming the field), then TaskRetentionService.prune. */
  prune(body: unknown): Promise<PruneAnswer> {
    return this.retention.prune(readPruneRequest(body));
  }

  async cleanup(): Promise<{ removed: number }> {
    const r = await this.workers.cleanup();
    if (r.removed > 0) this.scheduler.kick();
    return r;
  }
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const PRUNE_FIELDS = ['before', 'status', 'owner', 'limit', 'cursor'];

function readPruneRequest(body: unknown): PruneRequest {
  if (!isPlainObject(body)) throw new DomainError('invalid_request', 'The body must be a JSON object {before, status?, owner?, limit?, cursor?}');
  const unknown = Object.keys(body).find((k) => !PRUNE_FIELDS.includes(k));
  if (unknown !== undefined)
    throw new DomainError('invalid_request', `Unknown field ${JSON.stringify(unknown.slice(0, 64))}: expected before, status, owner, limit, cursor`, unknown.slice(0, 64));
  const { before, status, owner, limit, cursor } = body;
  const at = typeof before === 'string' && ISO_TIME.test(before) ? new Date(before) : null;
  if (!at || Number.isNaN(at.getTime())) throw new DomainError('invalid_request', 'before must be an ISO-8601 time with a time zone, e.g. 2026-01-31T00:00:00Z', 'before');
  if (status !== undefined && (typeof status !== 'string' || !isFinal(status.toUpperCase())))
    throw new DomainError('invalid_request', 'status must be DONE, FAILED or CANCELLED', 'status');
  if (owner !== undefined && (typeof owner !== 'string' || owner === '' || owner.length > 1024))
    throw new DomainError('invalid_request', 'owner must be a non-empty string', 'owner');
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > PRUNE_MAX_LIMIT))
    throw new DomainError('invalid_request', `limit must be an integer from 1 to ${PRUNE_MAX_LIMIT}`, 'limit');
  if (cursor !== undefined && (typeof cursor !== 'string' || !/^-?\d{1,20}$/.test(cursor)))
    throw new DomainError('invalid_request', 'cursor must be the cursor of an earlier answer', 'cursor');
  return {
    before: at,
    status: (status as string | undefined)?.toUpperCase(),
    owner: owner as string | undefined,
    limit: limit as number | undefined,
    cursor: cursor as string | undefined,
  };
}
