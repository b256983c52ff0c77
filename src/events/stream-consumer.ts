import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { LeadershipService } from '../leadership/leadership.service';
import { TaskProgressService } from '../tasks/task-progress.service';
import { isTransientRedisError } from '../redis/redis-errors';
import { DeadLetters } from './dead-letters.service';
import { EventStreamRepository, StreamEntry } from './event-stream.repository';
import { readTaskEvent } from './event-parsing';
import { TaskEventsService } from './task-events.service';

const BATCH = 200;
const BLOCK_MS = 1000;
/** Entries a dead replica read but never acknowledged are taken over after this long. */
const CLAIM_IDLE_MS = 30_000;
const CLAIM_EVERY_MS = 10_000;
/** Consumers (dead replicas) with nothing pending and idle this long are removed from the group. */
const FORGET_CONSUMER_IDLE_MS = 3_600_000;
/**
 * An entry whose application fails this many times in a row (for a reason other than Redis being
 * down or full) is set aside in the dead-letter stream and acknowledged, so the entries behind it
 * are applied.
 */
export const MAX_APPLY_TRIES = 3;

/**
 * The v2 event stream (docs/protocol.md): every replica reads `mloc:events` through one consumer
 * group, applies each entry (the same idempotent scripts as v1 reports), and XACKs it only after the
 * state change is committed. A replica that dies with entries in hand leaves them pending; another
 * takes them over after CLAIM_IDLE_MS. Nothing is lost when no orchestrator runs: the stream keeps it.
 */
@Injectable()
export class StreamConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly log = new Logger('StreamConsumer');
  private stopped = false;
  private lastClaimMs = 0;
  private loopDone: Promise<void> = Promise.resolve();
  /** Failed tries of the entries that failed to apply, by entry id. */
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly stream: EventStreamRepository,
    private readonly tasks: TaskProgressService,
    private readonly taskEvents: TaskEventsService,
    private readonly deadLetters: DeadLetters,
    private readonly leadership: LeadershipService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap() {
    this.loopDone = this.loop();
  }

  async beforeApplicationShutdown() {
    this.stopped = true;
    // The loop is most likely blocked in XREADGROUP for up to BLOCK_MS: end that read now.
    await this.stream.unblockReader();
    await Promise.race([this.loopDone, new Promise((r) => setTimeout(r, BLOCK_MS + 500).unref())]);
  }

  private get consumer(): string {
    return this.leadership.instanceId;
  }

  private async loop(): Promise<void> {
    let backlog = true; // first our own pending entries (a restart under the same name), then new ones
    let groupReady = false;
    while (!this.stopped) {
      try {
        if (!groupReady) groupReady = await this.ensureGroup();
        const entries = await this.stream.read(this.consumer, backlog ? '0' : '>', BATCH, BLOCK_MS);
        if (backlog && entries.length === 0) backlog = false;
        await this.applyAll(entries);
        if (Date.now() - this.lastClaimMs > CLAIM_EVERY_MS) await this.claimAbandoned();
      } catch (err) {
        if (this.stopped) break;
        groupReady = false;
        backlog = true; // entries read but not acknowledged are ours to apply again
        this.log.warn(`stream read failed: ${err instanceof Error ? err.message : String(err)}; retrying`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Creates the group at the start of the stream, so entries written before any orchestrator ran are read. */
  private async ensureGroup(): Promise<boolean> {
    await this.stream.ensureGroup();
    return true;
  }

  private async claimAbandoned() {
    this.lastClaimMs = Date.now();
    const entries = await this.stream.claimIdle(this.consumer, CLAIM_IDLE_MS, BATCH);
    if (entries.length) this.log.warn(`took over ${entries.length} event(s) a dead replica left unacknowledged`);
    await this.applyAll(entries);
    await this.forgetIdleConsumers(FORGET_CONSUMER_IDLE_MS);
  }

  /** Every restart adds a consumer to the group; the empty ones of dead replicas are removed. */
  async forgetIdleConsumers(idleMs: number): Promise<string[]> {
    const forgotten: string[] = [];
    for (const c of await this.stream.consumers()) {
      if (c.name === this.consumer || c.pending !== 0 || c.idleMs < idleMs) continue;
      await this.stream.deleteConsumer(c.name);
      forgotten.push(c.name);
    }
    return forgotten;
  }

  private async applyAll(entries: StreamEntry[]) {
    if (entries.length === 0) return;
    // Entries of one batch are applied in order: an acknowledgement before the result of its task.
    for (const [id, fields] of entries) {
      await this.applyOrSetAside(id, fields);
      await this.stream.ack(id);
    }
  }

  /**
   * Applies one entry, or sets it aside: at once when it is no worker report of a task of ours, and
   * after MAX_APPLY_TRIES failures otherwise. Throws (so the batch is read again later) only while
   * it has tries left or Redis is down or full: then nothing is set aside that could still apply.
   */
  private async applyOrSetAside(id: string, fields: string[]) {
    const at = fields.indexOf('event');
    const raw = at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
    const reading = typeof raw === 'string' ? readTaskEvent(raw, this.config.maxEventBytes) : { rejected: 'no `event` field' };
    if (!reading || 'rejected' in reading) {
      await this.deadLetters.setAside(
        'stream',
        raw ?? JSON.stringify(fields),
        reading ? reading.rejected : 'not a worker report (TASK_STARTED, TASK_SUCCEEDED or TASK_FAILED)',
        id,
      );
      return;
    }
    const ev = reading.ev;
    try {
      if (ev.type === 'TASK_STARTED') await this.tasks.ack(ev.task_id, ev.worker_id, Date.now(), ev.attempt ?? null);
      else await this.taskEvents.onReport(ev);
      this.failures.delete(id);
    } catch (err) {
      if (isTransientRedisError(err)) throw err;
      const tries = (this.failures.get(id) ?? 0) + 1;
      if (tries < MAX_APPLY_TRIES) {
        if (this.failures.size > 10_000) this.failures.clear(); // entries another replica took over
        this.failures.set(id, tries);
        this.log.warn(`could not apply stream entry ${id} (try ${tries} of ${MAX_APPLY_TRIES})`, { taskId: ev.task_id, workerId: ev.worker_id });
        throw err;
      }
      this.failures.delete(id);
      await this.taskEvents.setAsideUnappliable('stream', raw!, ev, err, id);
    }
  }
}
