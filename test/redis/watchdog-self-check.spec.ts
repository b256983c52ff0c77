import { Redis } from 'ioredis';
import { watchdogInternalsPresent } from '../../src/redis/redis.service';

/** The command watchdog reads ioredis internals; the start-up self-check must notice when they go. */
describe('command watchdog self-check', () => {
  it('finds the internals in the pinned ioredis', () => {
    const conn = new Redis({ lazyConnect: true });
    expect(watchdogInternalsPresent(conn)).toBe(true);
    conn.disconnect();
  });

  it('says no when the command queue is not what it reads', () => {
    const conn = new Redis({ lazyConnect: true });
    Object.defineProperty(conn, 'commandQueue', { value: { length: 0 } });
    expect(watchdogInternalsPresent(conn)).toBe(false);
    conn.disconnect();
  });
});
