import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkersService } from '../workers/workers.service';
import { LeadershipService } from '../leadership/leadership.service';

/** Stale-worker cleanup, on demand (POST /admin/cleanup) and every CLEANUP_INTERVAL_SEC. */
@Injectable()
export class AdminService implements OnApplicationBootstrap {
  private readonly log = new Logger('Cleanup');

  constructor(
    private readonly workers: WorkersService,
    private readonly scheduler: SchedulerService,
    private readonly registry: SchedulerRegistry,
    private readonly leadership: LeadershipService,
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

  async cleanup(): Promise<{ removed: number }> {
    const r = await this.workers.cleanup();
    if (r.removed > 0) this.scheduler.kick();
    return r;
  }
}
