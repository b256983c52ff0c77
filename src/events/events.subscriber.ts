import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { ORCHESTRATOR_SOURCE, PROTOCOL_V2, TASKS_EVENTS_CHANNEL, WORKERS_EVENTS_CHANNEL, WorkerEvent } from '../contracts/protocol';
import { LeadershipService } from '../leadership/leadership.service';
import { SchedulerService } from '../scheduler/scheduler.service';
import { WorkerIndex } from '../scheduler/worker-index';
import { TaskProgressService } from '../tasks/task-progress.service';
import { isTransientRedisError } from '../redis/redis-errors';
import { DeadLetters } from './dead-letters.service';
import { EventChannelsRepository } from './event-channels.repository';
import { readTaskEvent, parseWorkerEvent } from './event-parsing';
import { TaskEventsService } from './task-events.service';

/**
 * Worker report types, compared case-insensitively (docs/protocol.md), and the later MLOC worker's
 * TASK_STARTED (quoted, so that our own ORCH_TASK_STARTED is not parsed for nothing).
 */
const REPORT_TYPE = /task_(succeeded|failed)|"task_started"/i;

/**
 * The subscriber on tasks.events and workers.events. Every message is handled on its own: a report
 * that cannot be applied is set aside with its reason (DeadLetters) after ending its attempt, other
 * unknown messages are dropped, and an error in one handler never stops the loop. Handlers issue
 * their Redis commands in arrival order on one connection, so Redis applies them in that order.
 */
@Injectable()
export class EventsSubscriber implements OnApplicationBootstrap {
  private readonly log = new Logger('Events');

  constructor(
    private readonly channels: EventChannelsRepository,
    private readonly taskEvents: TaskEventsService,
    private readonly tasks: TaskProgressService,
    private readonly index: WorkerIndex,
    private readonly scheduler: SchedulerService,
    private readonly leadership: LeadershipService,
    private readonly deadLetters: DeadLetters,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.ownSubmission = `"instance":${JSON.stringify(leadership.instanceId)}`;
  }

  /** How this instance's own ORCH_TASK_SUBMITTED events name it. */
  private readonly ownSubmission: string;

  onApplicationBootstrap() {
    // Not awaited: with Redis down at start-up the subscription completes when it comes back.
    this.channels.listen((channel, raw) => this.onMessage(channel, raw)).catch((err) => this.log.warn(`subscribe failed: ${String(err)}`));
  }

  onMessage(channel: string, raw: string) {
    try {
      if (channel === TASKS_EVENTS_CHANNEL) this.onTaskMessage(raw);
      else if (channel === WORKERS_EVENTS_CHANNEL) this.onWorkerMessage(raw);
    } catch (err) {
      this.log.warn(`handler error on ${channel}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private onTaskMessage(raw: string) {
    // A submission on another replica: the leader places it (a false match costs one pass). Our own
    // submissions already ran a pass (TasksService.submit), so they need none.
    if (raw.includes('"ORCH_TASK_SUBMITTED"') && !raw.includes(this.ownSubmission)) this.scheduler.kick();
    // Most of the traffic is our own lifecycle events: only text that can be a report is parsed.
    // (Matching on our own markers instead could drop a real report whose result quotes them.)
    if (!REPORT_TYPE.test(raw)) return;
    const reading = readTaskEvent(raw, this.config.maxEventBytes);
    if (!reading) return;
    if ('rejected' in reading) {
      void this.deadLetters.setAside('tasks.events', raw, reading.rejected);
      return;
    }
    const ev = reading.ev;
    // A v2 worker's mirror: the same event arrives durably on the stream (StreamConsumer).
    if (ev.protocol === PROTOCOL_V2) return;
    // The later MLOC worker acknowledges with TASK_STARTED; the script applies it only from the holder.
    if (ev.type === 'TASK_STARTED') return this.acknowledge(ev.task_id, ev.worker_id);
    this.taskEvents.onReport(ev).catch((err) => {
      // Redis down or full: the report is lost with the moment (pub/sub); the holder's IDLE is
      // reconciled later. Anything else would fail again: the attempt ends with the reason.
      if (isTransientRedisError(err)) this.log.warn(`could not apply ${ev.type}: ${String(err)}`, { taskId: ev.task_id, workerId: ev.worker_id });
      else void this.taskEvents.setAsideUnappliable('tasks.events', raw, ev, err);
    });
  }

  private onWorkerMessage(raw: string) {
    const ev = parseWorkerEvent(raw, this.config.maxEventBytes);
    if (!ev) return this.noteDropped('workers.events', raw);
    if (ev.type === 'STATUS' && ev.source !== ORCHESTRATOR_SOURCE) this.onWorkerStatus(ev);
    this.index
      .apply(ev)
      .then((mayPlace) => mayPlace && this.scheduler.kick('worker-free'))
      .catch((err) => this.log.warn(`could not apply ${ev.type} of ${ev.worker_id}: ${String(err)}`));
  }

  /** v1 acknowledgement: the worker's own STATUS RUNNING naming the task (in `extra` or `payload`). */
  private onWorkerStatus(ev: Extract<WorkerEvent, { type: 'STATUS' }>) {
    if (ev.status === 'RUNNING' && ev.task_id) this.acknowledge(ev.task_id, ev.worker_id);
  }

  /** DISPATCHED -> RUNNING when the worker holds the task (ack-task.lua checks); else nothing. */
  private acknowledge(taskId: string, workerId: string) {
    this.tasks.ack(taskId, workerId, Date.now()).catch((err) => this.log.warn(`could not apply acknowledgement: ${String(err)}`, { taskId, workerId }));
  }

  private noteDropped(channel: string, raw: string) {
    this.log.debug(`ignored a message on ${channel} that is not a known event (${raw.length} bytes): ${raw.slice(0, 200)}`);
  }
}
