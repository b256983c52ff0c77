import { Logger } from '@nestjs/common';
import type { Socket } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * An ioredis client whose commands issued in one turn of the event loop leave in one socket write.
 *
 * Without auto-pipelining (off for GC reasons, see RedisService) ioredis writes every command to
 * the socket at once: one system call, and on a loopback connection one wake-up of Redis, per
 * command. At low load that was the orchestrator's largest single cost: a CPU profile of the
 * latency bench put 30% of its busy time in those writes. Here the socket is corked at the first
 * command of a turn and uncorked on `process.nextTick`, that is before any I/O, timer or promise
 * continuation of a later turn runs, so no command waits for anything but the code already running.
 * Commands queued while corked go out together (Node's writev), in the order they were issued,
 * which is all Redis needs to apply them in order. Explicit pipelines are left as they are: they
 * already write once.
 *
 * This overrides ioredis's `sendCommand` and relies on its `stream` being a Node socket: at the first
 * `ready`, a self-check (`checkCorking`) sends two PINGs in one turn and looks that both wait in the
 * corked socket. When they do not, one warning, and the client writes as plain ioredis does.
 */
export class CorkingRedis extends Redis {
  /** False once the start-up self-check has failed: commands are then written as plain ioredis writes them. */
  corking = true;
  private corked: Socket | null = null;
  private readonly uncork = () => {
    const s = this.corked;
    this.corked = null;
    s?.uncork();
  };

  constructor(url: string, options: RedisOptions & { replyMapping?: 'legacy' }, selfCheck: (conn: CorkingRedis) => string | null = checkCorking) {
    super(url, options);
    const onReady = () => {
      // ioredis announces `ready` a tick late; a connection lost meanwhile checks at its next one.
      if (this.status !== 'ready') return void this.once('ready', onReady);
      const failure = selfCheck(this);
      if (failure === null) return;
      this.corking = false;
      new Logger('Redis').warn(`commands are written one by one (plain ioredis): ${failure}`);
    };
    this.once('ready', onReady);
  }

  override sendCommand(...args: Parameters<Redis['sendCommand']>): ReturnType<Redis['sendCommand']> {
    const socket = this.stream as Socket | undefined;
    // args[1] is set for commands of an explicit pipeline (which writes once itself).
    if (this.corked === null && this.corking && args[1] === undefined && socket && this.status === 'ready' && socket.writable) {
      this.corked = socket;
      socket.cork();
      process.nextTick(this.uncork);
    }
    return super.sendCommand(...args);
  }
}

/** What one PING takes on the wire (RESP): `*1\r\n$4\r\nPING\r\n`. */
const PING_BYTES = 14;

/**
 * Start-up self-check of a ready CorkingRedis: its stream is a socket that can be corked, and two
 * commands issued in one turn both wait in the corked socket (so they leave in one write when the
 * turn ends). Costs two PINGs, once. Null when so, else the reason.
 */
export function checkCorking(conn: Redis): string | null {
  const s = conn.stream as Partial<Socket> | undefined;
  if (!s || typeof s.cork !== 'function' || typeof s.uncork !== 'function' || typeof s.writableCorked !== 'number' || typeof s.writableLength !== 'number') {
    return "the connection's stream is not a socket that can be corked";
  }
  const before = s.writableLength;
  for (let i = 0; i < 2; i++) conn.ping().catch(() => undefined);
  if (s.writableCorked === 0 || s.writableLength - before < 2 * PING_BYTES) return 'two commands of one turn did not wait in the corked socket';
  return null;
}
