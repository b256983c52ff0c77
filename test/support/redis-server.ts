import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../src/common/free-port';
import { assertNotUnitTier, Supervised } from './process';

export { freePort };

/** One PING on a fresh socket: null when the server answered +PONG, else why not. */
function pingOnce(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    const done = (why: string | null) => {
      sock.destroy();
      resolve(why);
    };
    sock.setTimeout(1000, () => done('no answer to PING'));
    sock.on('error', (e) => done(e.message));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG') ? null : `answered ${answer.trim()}`);
    });
  });
}

export function redisServerBinary(): string {
  const bin = process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `redis-server not found (${bin}). The tests need a real Redis: install the Debian package ` + `"redis-server" (apt-get install -y redis-server) or set REDIS_SERVER_BIN.`,
    );
  }
  return bin;
}

export interface RedisServerOptions {
  /** AOF on, kept across restarts. */
  persistence?: boolean;
  /** Its folder (default: a new temporary one, removed by destroy()). */
  dir?: string;
  /** Its log file (default: none). */
  logFile?: string;
  /** Its own process group, killed if this process exits (the bench, the demo). */
  group?: boolean;
}

/**
 * A throwaway redis-server on a free loopback port, in its own folder, so a test can stop, kill,
 * pause or restart it. With `persistence`, AOF is on and survives restarts. The tests, the fault
 * suite, the bench and the demo all start their Redis with this class.
 */
export class TestRedisServer {
  port = 0;
  private proc: Supervised | null = null;
  readonly dir: string;
  private readonly ownDir: boolean;

  constructor(private readonly opts: RedisServerOptions = {}) {
    this.ownDir = !opts.dir;
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'mloc-redis-'));
    if (opts.dir) mkdirSync(opts.dir, { recursive: true });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** The running process (for its pid, or to notice it dying), null when stopped. */
  get process(): Supervised | null {
    return this.proc;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<this> {
    assertNotUnitTier('starts a redis-server');
    if (!this.port) this.port = await freePort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--logfile', this.opts.logFile ?? ''];
    args.push('--appendonly', this.opts.persistence ? 'yes' : 'no');
    this.proc = new Supervised({ name: `redis-server on port ${this.port}`, command: redisServerBinary(), args, quiet: true, group: this.opts.group });
    // Left for the global teardown, which stops a server a hung test leaves behind.
    const runDir = process.env.MLOC_TEST_RUN_DIR;
    if (runDir && this.proc.pid) writeFileSync(join(runDir, `${this.port}.pid`), JSON.stringify({ pid: this.proc.pid, dir: this.dir }));
    await this.waitUntilAnswering();
    return this;
  }

  /**
   * Polls with a bare socket (PING, +PONG) rather than an ioredis client: a client whose connection
   * is refused leaves a timer behind for seconds, which kept Jest from exiting.
   */
  private async waitUntilAnswering(): Promise<void> {
    const proc = this.proc!;
    let last: string | null = null;
    await proc
      .waitUntil(async () => (last = await pingOnce(this.port)) === null, 'answer PING', 10_000)
      .catch((err: Error) => {
        throw new Error(`redis-server on port ${this.port} did not start: ${last ?? ''} ${err.message}${this.opts.logFile ? ` (log: ${this.opts.logFile})` : ''}`);
      });
  }

  /** Stops the server: SIGKILL when `kill`, else a clean SIGTERM (SIGKILL after 10 s). */
  async stop(kill = false): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p) return;
    await (kill ? p.kill('SIGKILL') : p.stop(10_000));
  }

  /** SIGSTOP: the server keeps its connections open but answers nothing until resume(). */
  pause(): void {
    this.proc?.signal('SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.proc?.signal('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Kills the server and removes its folder when it made it. */
  async destroy(): Promise<void> {
    await this.stop(true);
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }

  client(): Redis {
    const c = new Redis(this.url, { maxRetriesPerRequest: 1 });
    // Tests restart or kill the server on purpose; the reconnect errors are expected.
    c.on('error', () => undefined);
    return c;
  }
}
