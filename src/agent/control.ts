/**
 * v2 control messages (docs/protocol.md, "Control"): the orchestrator gave an attempt up (cancel,
 * ack timeout, lost worker) and tells the worker that holds it to stop it.
 */
import type { Redis } from 'ioredis';
import { ControlMessage, DispatchMessage, workerControlKey } from '../contracts/protocol';
import { isPlainObject, PlainObject } from '../contracts/plain-data';
import { TaskError } from './executors/executor';

/**
 * Waits up to `timeoutSec` for the next control message of worker `workerId` and takes it
 * (`BLPOP mloc:worker:<id>:control`). `conn` is a connection of its own: the command blocks.
 */
export async function takeControl(conn: Redis, workerId: string, timeoutSec: number): Promise<string | null> {
  const popped = await conn.blpop(workerControlKey(workerId), timeoutSec);
  return popped ? popped[1] : null;
}

/** The report of an attempt stopped because the orchestrator gave it up. */
export class AttemptGivenUpError extends TaskError {
  constructor(readonly reason: string) {
    super(`stopped: the orchestrator gave this attempt up (${reason})`);
  }
}

export const givenUpError = (m: ControlMessage): AttemptGivenUpError => new AttemptGivenUpError(m.reason);

/** The JSON object `raw` holds, or null (not JSON, or not an object). */
export function parseJsonObject(raw: string): PlainObject | null {
  try {
    const v: unknown = JSON.parse(raw);
    return isPlainObject(v) ? v : null;
  } catch {
    return null;
  }
}

/** A control message, or null for anything that is not one (dropped with a warning by the caller). */
export function parseControl(raw: string): ControlMessage | null {
  const m = parseJsonObject(raw) as Partial<ControlMessage> | null;
  if (!m) return null;
  if (m.type !== 'CANCEL' || typeof m.task_id !== 'string' || m.task_id === '' || !Number.isInteger(m.attempt)) return null;
  return { type: 'CANCEL', task_id: m.task_id, attempt: m.attempt!, reason: typeof m.reason === 'string' ? m.reason : 'no reason given', ts: typeof m.ts === 'string' ? m.ts : '' };
}

/** How many given-up attempts a worker remembers (the newest). */
const REMEMBERED = 256;

/**
 * Attempts the orchestrator gave up, the newest REMEMBERED of them: a control message can be read a
 * moment before the worker takes the dispatch it names (it took it from the inbox, the cancel came,
 * and the control loop ran first), and that dispatch must then not run.
 */
export class GivenUpAttempts {
  private readonly seen = new Map<string, ControlMessage>();

  /** Whether `m` names the attempt of `msg`. */
  static names(m: ControlMessage, msg: DispatchMessage): boolean {
    return m.task_id === msg.task_id && (msg.attempt === undefined || m.attempt === msg.attempt);
  }

  add(m: ControlMessage): void {
    const key = `${m.attempt}:${m.task_id}`;
    this.seen.delete(key);
    this.seen.set(key, m);
    if (this.seen.size > REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
  }

  find(msg: DispatchMessage): ControlMessage | undefined {
    return msg.attempt === undefined ? undefined : this.seen.get(`${msg.attempt}:${msg.task_id}`);
  }
}
