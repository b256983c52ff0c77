import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../src/common/free-port';

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

function redisServerBinary(): string {
  const bin = process.env.REDIS_SERVER_BIN ?? 'redis-server';
  const probe = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `redis-server not found (${bin}). The tests need a real Redis: install the Debian package ` +
        `"redis-server" (apt-get install -y redis-server) or set REDIS_SERVER_BIN.`,
    );
  }
  return bin;
}

/**
 * A throwaway redis-server on a free loopback port, in its own temporary folder, so a test can
 * stop, kill or restart it. With `persistence`, AOF is on and survives restarts.
 */
export class TestRedisServer {
  port = 0;
  private proc: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'mloc-redis-'));

  constructor(private readonly opts: { persistence?: boolean } = {}) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--logfile', ''];
    args.push('--appendonly', this.opts.persistence ? 'yes' : 'no');
    this.proc = spawn(redisServerBinary(), args, { stdio: 'ignore' });
    // Left for the global teardown, which stops a server a hung test leaves behind.
    const runDir = process.env.MLOC_TEST_RUN_DIR;
    if (runDir && this.proc.pid) writeFileSync(join(runDir, `${this.port}.pid`), JSON.stringify({ pid: this.proc.pid, dir: this.dir }));
    await this.waitUntilAnswering();
  }

  /**
   * Polls with a bare socket (PING, +PONG) rather than an ioredis client: a client whose connection
   * is refused leaves a timer behind for seconds, which kept Jest from exiting.
   */
  private async waitUntilAnswering(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const err = await pingOnce(this.port);
      if (!err) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops the server: SIGKILL when `kill`, else a clean SIGTERM. */
  async stop(kill = false): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    this.proc = null;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(kill ? 'SIGKILL' : 'SIGTERM');
      p.kill('SIGCONT'); // a paused server acts on SIGTERM only once resumed
    });
  }

  /** SIGSTOP: the server keeps its connections open but answers nothing until resume(). */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop(true);
    rmSync(this.dir, { recursive: true, force: true });
  }

  client(): Redis {
    const c = new Redis(this.url, { maxRetriesPerRequest: 1 });
    // Tests restart or kill the server on purpose; the reconnect errors are expected.
    c.on('error', () => undefined);
    return c;
  }
}
