import { createServer, Server, Socket, connect } from 'node:net';
import type { Redis } from 'ioredis';

interface Pair {
  client: Socket;
  upstream: Socket;
  frozen: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a redis-server, so a test can make one connection go silent
 * the way a NAT or proxy that dropped it would: nothing is delivered either way, nothing is closed.
 * Connections opened later are forwarded normally.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      const pair: Pair = { client, upstream, frozen: false };
      this.pairs.add(pair);
      client.on('data', (d) => pair.frozen || upstream.write(d));
      upstream.on('data', (d) => pair.frozen || client.write(d));
      // A frozen connection passes on nothing, not even its close (a half-open connection).
      const end = () => {
        if (pair.frozen) return;
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        s.on('close', end);
        s.on('error', end);
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as { port: number }).port;
    return this;
  }

  /** Silences the connection Redis sees at `addr` (the `addr=` of CLIENT LIST). True when found. */
  freeze(addr: string): boolean {
    for (const p of this.pairs) {
      if (`${p.upstream.localAddress}:${p.upstream.localPort}` === addr) {
        p.frozen = true;
        return true;
      }
    }
    return false;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The `addr`, `id` and `sub` (channels subscribed) of each client connection named `name`, from CLIENT LIST. */
export async function clientsNamed(admin: Redis, name: string): Promise<{ id: string; addr: string; sub: string }[]> {
  const list = String(await admin.client('LIST'));
  return list
    .split('\n')
    .map((line) =>
      Object.fromEntries(
        line
          .trim()
          .split(' ')
          .map((kv) => kv.split('=', 2) as [string, string]),
      ),
    )
    .filter((f) => f.name === name)
    .map((f) => ({ id: f.id, addr: f.addr, sub: f.sub }));
}
