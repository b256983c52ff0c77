import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../common/auth.guard';
import { LivenessService } from '../events/liveness.service';
import { LeadershipService } from '../leadership/leadership.service';
import { RedisService } from '../redis/redis.service';

/** A leader whose maintenance tick has not completed for this long is not ready. */
const LEADER_TICK_STALE_MS = 5000;

export interface Readiness {
  ready: boolean;
  redis: 'up' | 'down';
  role: 'leader' | 'follower';
  instance: string;
  reasons: string[];
}

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    private readonly redis: RedisService,
    private readonly leadership: LeadershipService,
    private readonly liveness: LivenessService,
  ) {}

  @Get('healthz')
  @Public()
  @ApiOperation({ summary: 'Liveness: the process answers (never needs auth, even with Redis down)' })
  @ApiOkResponse({ schema: { example: { ok: true } } })
  healthz() {
    return { ok: true };
  }

  @Get('readyz')
  @Public()
  @ApiOperation({ summary: 'Readiness: Redis accepts writes, every Redis connection is up and, on the leader, scheduling runs (never needs auth)' })
  @ApiOkResponse({ schema: { example: { ready: true, redis: 'up', role: 'leader', instance: 'host:123:abcdef', reasons: [] } } })
  @ApiServiceUnavailableResponse({
    description: 'Not ready; `reasons` says why',
    schema: { example: { ready: false, redis: 'down', role: 'follower', instance: 'host:123:abcdef', reasons: ['Redis does not answer'] } },
  })
  async readyz(@Res({ passthrough: true }) res: Response): Promise<Readiness> {
    // Redis accepts writes (not only answers), and the subscriber and event-stream connections are up.
    const { up: redisUp, reasons } = await this.redis.health();
    const leader = this.leadership.isLeader;
    if (leader && Date.now() - this.liveness.lastTickMs > LEADER_TICK_STALE_MS) reasons.push('scheduling has not run in the last 5 s');
    const body: Readiness = { ready: reasons.length === 0, redis: redisUp ? 'up' : 'down', role: leader ? 'leader' : 'follower', instance: this.leadership.instanceId, reasons };
    if (!body.ready) res.status(503);
    return body;
  }
}
