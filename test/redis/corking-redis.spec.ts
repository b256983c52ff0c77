import type { Socket } from 'node:net';
import { Redis } from 'ioredis';
import { checkCorking, CorkingRedis } from '../../src/redis/corking-redis';
import { TestRedisServer } from '../support/redis-server';

describe('CorkingRedis: the commands of one turn of the event loop leave in one write', () => {
  const server = new TestRedisServer();
  let r: CorkingRedis;
  const verdicts: (string | null)[] = [];
  let observer: ReturnType<TestRedisServer['client']>;
  /** How many read events Redis has processed (INFO stats, Redis 6+); each call adds its own one. */
  const readsProcessed = async () => Number(/total_reads_processed:(\d+)/.exec(await observer.info('stats'))?.[1]);

  beforeAll(async () => {
    await server.start();
    observer = server.client();
    r = new CorkingRedis(server.url, { enableAutoPipelining: false, enableOfflineQueue: false, maxRetriesPerRequest: 1 }, (c) => {
      verdicts.push(checkCorking(c));
      return verdicts[verdicts.length - 1];
    });
    await new Promise((res) => r.once('ready', res));
  });
  afterAll(async () => {
    r.disconnect();
    observer.disconnect();
    await server.destroy();
  });

  it('passed its start-up self-check once, and corks', () => {
    expect(verdicts).toEqual([null]);
    expect(r.corking).toBe(true);
  });

  it('50 commands issued together are buffered until the turn ends, reach Redis in one read, and apply in order', async () => {
    const socket = r.stream as Socket;
    const before = await readsProcessed();
    const sets = Array.from({ length: 50 }, (_, i) => r.set('corked:k', String(i + 1)));
    const last = r.get('corked:k');
    // Nothing has left yet: the socket is corked and holds every command.
    expect(socket.writableCorked).toBe(1);
    expect(socket.writableLength).toBeGreaterThan(50 * 'SET corked:k 1'.length);
    expect(await Promise.all(sets)).toEqual(Array(50).fill('OK'));
    expect(await last).toBe('50');
    expect(socket.writableCorked).toBe(0);
    // Our 51 commands took one read; the second INFO took another (uncorked, they take ~51).
    expect((await readsProcessed()) - before).toBe(2);
  });

  it('a command issued in a later turn (after an await) is sent too: nothing stays corked', async () => {
    await r.set('corked:a', '1');
    await new Promise((res) => setImmediate(res));
    expect(await r.incr('corked:a')).toBe(2);
    expect((r.stream as Socket).writableCorked).toBe(0);
  });

  it('explicit pipelines and scripts work as before', async () => {
    const res = await r.pipeline().set('corked:p', 'x').get('corked:p').exec();
    expect(res).toEqual([
      [null, 'OK'],
      [null, 'x'],
    ]);
    expect(await r.eval("return redis.call('GET', KEYS[1])", 1, 'corked:p')).toBe('x');
  });
});

describe('CorkingRedis start-up self-check', () => {
  const server = new TestRedisServer();
  const opts = { enableAutoPipelining: false, enableOfflineQueue: false, maxRetriesPerRequest: 1 };
  const ready = (c: Redis) => new Promise((res) => c.once('ready', res));
  beforeAll(() => server.start());
  afterAll(() => server.destroy());

  it('fails on a stream that is not a corkable socket (a doctored connection)', () => {
    expect(checkCorking({ stream: {} } as unknown as Redis)).toMatch(/not a socket that can be corked/);
    expect(checkCorking({ stream: undefined } as unknown as Redis)).toMatch(/not a socket that can be corked/);
  });

  it('fails when the commands of one turn are not held back (plain ioredis, whose sendCommand does not cork)', async () => {
    const plain = new Redis(server.url, opts);
    try {
      await ready(plain);
      expect(checkCorking(plain)).toMatch(/did not wait in the corked socket/);
    } finally {
      plain.disconnect();
    }
  });

  it('after a failed check the client writes as plain ioredis: nothing corked, every command answered in order', async () => {
    const verdicts: (string | null)[] = [];
    const c = new CorkingRedis(server.url, opts, (conn) => {
      // Doctored for the check only: a socket whose cork() does nothing.
      const socket = conn.stream as Socket & { cork: () => void };
      socket.cork = () => undefined;
      verdicts.push(checkCorking(conn));
      delete (socket as Partial<typeof socket>).cork;
      return verdicts[0];
    });
    try {
      await ready(c);
      expect(verdicts).toEqual([expect.stringMatching(/did not wait/)]);
      expect(c.corking).toBe(false);
      const sets = Array.from({ length: 20 }, (_, i) => c.set('plain:k', String(i + 1)));
      const last = c.get('plain:k');
      expect((c.stream as Socket).writableCorked).toBe(0);
      expect(await Promise.all(sets)).toEqual(Array(20).fill('OK'));
      expect(await last).toBe('20');
    } finally {
      c.disconnect();
    }
  });
});
