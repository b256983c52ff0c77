import type { Socket } from 'node:net';
import { Redis } from 'ioredis';

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
 */
export class CorkingRedis extends Redis {
  private corked: Socket | null = null;
  private readonly uncork = () => {
    const s = this.corked;
    this.corked = null;
    s?.uncork();
  };

  override sendCommand(...args: Parameters<Redis['sendCommand']>): ReturnType<Redis['sendCommand']> {
    const socket = this.stream as Socket | undefined;
    // args[1] is set for commands of an explicit pipeline (which writes once itself).
    if (this.corked === null && args[1] === undefined && socket && this.status === 'ready' && socket.writable) {
      this.corked = socket;
      socket.cork();
      process.nextTick(this.uncork);
    }
    return super.sendCommand(...args);
  }
}
