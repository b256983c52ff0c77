/**
 * A loop of blocking Redis reads (BLMOVE on the inbox, BLPOP on the control list) on a connection of
 * its own, which shutdown ends at once: `stop()` sends `CLIENT UNBLOCK <id> TIMEOUT` from the command
 * connection, so the read in flight returns nil as if its timeout had passed.
 */
import type { Redis } from 'ioredis';
import { sleep } from './abort';

/** Pause after a failed read (Redis answered with an error) before the next one. */
const RETRY_MS = 500;

export class BlockingReader {
  /** The server's id of the connection while it blocks (for CLIENT UNBLOCK). */
  private blockedClientId: number | null = null;
  private stopped = false;

  constructor(
    private readonly conn: Redis,
    /** Sends CLIENT UNBLOCK: a connection that is not blocked itself. */
    private readonly cmd: Redis,
  ) {
    conn.on('close', () => (this.blockedClientId = null));
  }

  /**
   * Runs `read` on the connection until `stop()` and hands each value that is not null to
   * `onValue` (awaited before the next read). A failed read is reported to `onError` once per run
   * of failures (`first`), and retried after a pause.
   */
  async loop<T>(read: (conn: Redis) => Promise<T | null>, onValue: (value: T) => Promise<void> | void, onError: (err: unknown) => void): Promise<void> {
    let failing = false;
    while (!this.stopped) {
      let value: T | null;
      try {
        // Sent first on the same connection, so answered before the read blocks.
        this.conn.client('ID').then(
          (id) => {
            this.blockedClientId = id;
            // stop() came before we knew the id (the connection was just getting ready).
            if (this.stopped) void this.unblock().catch(() => undefined);
          },
          () => undefined,
        );
        value = await read(this.conn);
        this.blockedClientId = null;
        failing = false;
      } catch (err) {
        this.blockedClientId = null;
        if (this.stopped) break;
        if (!failing) onError(err);
        failing = true;
        await sleep(RETRY_MS);
        continue;
      }
      if (value !== null) await onValue(value);
    }
  }

  /** Ends the loop: the read in flight returns nil at once (or, were CLIENT UNBLOCK refused, at its timeout). */
  stop(): Promise<void> {
    this.stopped = true;
    return this.unblock();
  }

  disconnect(): void {
    this.conn.disconnect();
  }

  private async unblock(): Promise<void> {
    const id = this.blockedClientId;
    if (id !== null) await this.cmd.client('UNBLOCK', id, 'TIMEOUT');
  }
}
