import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { RedisService } from '../redis/redis.service';

type Listener = () => void;

/**
 * One leader among the replicas on a Redis: a lease key with a TTL, renewed by its holder, whose
 * value is the fencing token every scheduling write passes (and every fenced script checks).
 * The key lives 2/3 of LEADER_LEASE_SEC and followers try to take it every LEADER_LEASE_SEC/20,
 * so a dead leader is replaced within LEADER_LEASE_SEC.
 */
@Injectable()
export class LeadershipService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('Leadership');
  readonly instanceId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private token: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly ttlMs: number;
  private readonly onElected: Listener[] = [];
  private stopped = false;

  constructor(
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.ttlMs = Math.round((config.leaderLeaseSec * 1000 * 2) / 3);
  }

  get isLeader(): boolean {
    return this.token !== null;
  }

  /** The token to pass to fenced scripts; a follower's token is refused by every one of them. */
  get fence(): string {
    return this.token ?? `follower:${this.instanceId}`;
  }

  whenElected(fn: Listener) {
    this.onElected.push(fn);
  }

  onApplicationBootstrap() {
    void this.redis.waitReady().then(() => this.step());
  }

  private schedule(ms: number) {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.step(), ms);
    this.timer.unref();
  }

  /** One renewal (leader) or one attempt to take the lease (follower). */
  async step(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.token) {
        const renewed = await this.redis.run('renew-lease', Date.now(), [this.ttlMs], this.token);
        if (renewed !== 1) this.lose('the lease expired before it was renewed');
      } else if (this.redis.ready) {
        const token = await this.redis.run('acquire-lease', Date.now(), [this.instanceId, this.ttlMs]);
        if (typeof token === 'string') {
          this.token = token;
          this.log.log(`this instance is the leader`, { token });
          for (const fn of this.onElected) fn();
        }
      }
    } catch (err) {
      // Redis unreachable: a leader cannot renew, so it must assume it lost the lease.
      if (this.token) this.lose(`cannot renew the lease: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.schedule(this.token ? this.ttlMs / 3 : Math.max(100, this.ttlMs / 13));
  }

  private lose(why: string) {
    this.log.warn(`leadership lost: ${why}`, { token: this.token });
    this.token = null;
  }

  /** Gives the lease up (shutdown), so a follower takes over at once. */
  async resign(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const token = this.token;
    this.token = null;
    if (token && this.redis.ready) {
      await this.redis.run('release-lease', Date.now(), [], token).catch(() => undefined);
      this.log.log('resigned leadership');
    }
  }

  async beforeApplicationShutdown() {
    await this.resign();
  }
}
