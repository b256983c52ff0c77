import { Injectable } from '@nestjs/common';
import { TASKS_EVENTS_CHANNEL, WORKERS_EVENTS_CHANNEL } from '../contracts/protocol';
import { RedisService } from '../redis/redis.service';

/** The v1 pub/sub channels (tasks.events, workers.events) on the subscriber connection. */
@Injectable()
export class EventChannelsRepository {
  constructor(private readonly redis: RedisService) {}

  /**
   * Calls `onMessage` for every message on the two channels. The subscription resolves when Redis
   * answers: with Redis down at start-up, when it comes back (the connection resubscribes after a gap).
   */
  listen(onMessage: (channel: string, raw: string) => void): Promise<unknown> {
    this.redis.sub.on('message', onMessage);
    return this.redis.sub.subscribe(TASKS_EVENTS_CHANNEL, WORKERS_EVENTS_CHANNEL);
  }

  /** Calls `onGap` each time the subscriber connects again after having been connected: messages sent meanwhile were lost. */
  onGap(onGap: () => void): void {
    let connectedBefore = false;
    this.redis.sub.on('ready', () => {
      if (connectedBefore) onGap();
      connectedBefore = true;
    });
  }
}
