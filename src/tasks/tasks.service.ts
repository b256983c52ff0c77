import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { DomainError } from '../common/errors';
import { MULTI_WORKER } from '../contracts/task-states';
import { LeadershipService } from '../leadership/leadership.service';
import { MetricsService } from '../metrics/metrics.service';
import { SchedulerService } from '../scheduler/scheduler.service';
import { parseSubmissionWith } from './spec/parse-submission';
import { SpecError, TaskDraft, TooManyTasksError } from './spec/task-draft';
import { DEFAULT_LIST_LIMIT, ListTasksQuery } from './dto/list-tasks.query';
import { isTaskId } from '../contracts/ids';
import type { StoredPlacement } from '../contracts/stored-task';
import { SubmittedTask, TaskResponse, toSubmittedTask, toTaskResponse } from './task-record';
import { encodeNewTask } from '../redis/task-codec';
import { ListFilter, NewTaskRow, SubmitOutcome, TasksRepository } from './tasks.repository';
import { YamlThread } from './yaml-thread';

export { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from './dto/list-tasks.query';

/** Orders drafts so that every draft comes after the drafts it depends on (the parser refused cycles). */
export function dependencyOrder(drafts: TaskDraft[]): TaskDraft[] {
  const byKey = new Map(drafts.map((d) => [d.key, d]));
  const done = new Set<string>();
  const out: TaskDraft[] = [];
  const visit = (d: TaskDraft) => {
    if (done.has(d.key)) return;
    done.add(d.key);
    for (const k of d.dependsOnKeys) {
      const dep = byKey.get(k);
      if (dep) visit(dep);
    }
    out.push(d);
  };
  drafts.forEach(visit);
  return out;
}

@Injectable()
export class TasksService {
  private readonly log = new Logger('Tasks');

  constructor(
    private readonly repo: TasksRepository,
    private readonly scheduler: SchedulerService,
    private readonly metrics: MetricsService,
    private readonly leadership: LeadershipService,
    private readonly yamlThread: YamlThread,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Parses, validates and creates every task of a submission atomically (all or none), then gives
   * the scheduler one pass so the answer already shows where ready tasks went.
   */
  async submit(text: string): Promise<{ ok: true; count: number; tasks: SubmittedTask[] }> {
    let drafts: TaskDraft[];
    try {
      drafts = await parseSubmissionWith(text, this.yamlThread.load, { maxTasks: this.config.maxTasksPerSubmission, maxNameLength: this.config.maxNameLength });
    } catch (err) {
      if (err instanceof TooManyTasksError) throw new DomainError('too_many_tasks', err.message);
      if (err instanceof SpecError) throw new DomainError('invalid_task', err.message, err.path || undefined);
      throw err;
    }
    // An id that is not a task id would reach the submit script as part of a key name.
    for (const d of drafts) {
      const bad = d.dependsOnIds.find((id) => !isTaskId(id));
      if (bad !== undefined) throw unknownDependency(bad, d.name);
    }
    const maxRetention = this.config.taskRetentionMaxSec;
    const keptTooLong = drafts.find((d) => (d.retentionSec ?? 0) > maxRetention);
    if (keptTooLong) {
      throw new DomainError('invalid_task', `spec.retention.seconds: must be at most ${maxRetention} (TASK_RETENTION_MAX_SEC), got ${keptTooLong.retentionSec} (task ${keptTooLong.name})`, 'spec.retention.seconds');
    }
    const ids = new Map(drafts.map((d) => [d.key, randomUUID()]));
    const rows = dependencyOrder(drafts).map((d) => this.toRow(d, ids));
    // One task with no dependency (the usual request at low load): the leader picks its worker now and
    // the submit script dispatches it in the same step when it can (SchedulerService.reserveFor).
    const single = rows.length === 1 && rows[0].deps.length === 0 ? rows[0] : null;
    const reservation = single ? this.scheduler.reserveFor({ id: single.id, req: single.fields.req, name: single.fields.name }) : null;
    let outcome: SubmitOutcome;
    try {
      outcome = await this.repo.createBatch(rows, reservation?.nowMs ?? Date.now(), this.leadership.instanceId, reservation ?? undefined);
    } catch (err) {
      if (reservation) await this.scheduler.settleReservation(reservation, 'not_created');
      throw err;
    }
    if (!outcome.ok) {
      if (reservation) await this.scheduler.settleReservation(reservation, 'not_created');
      throw unknownDependency(outcome.dependency, drafts.find((d) => d.key === outcome.key)?.name);
    }
    this.metrics.tasksSubmitted.inc(drafts.length);
    this.log.log(`accepted ${drafts.length} task(s)`, { taskIds: [...ids.values()].slice(0, 20) });
    const direct = reservation ? await this.scheduler.settleReservation(reservation, outcome.tasks[0]?.dispatch ?? 'not_created') : false;
    const placed = direct
      ? new Map([[reservation!.dispatch.id, [reservation!.dispatch.worker]]])
      : await this.scheduler.runPassFor(outcome.tasks.filter((t) => t.status === 'PENDING' && t.waiting_on.length === 0).map((t) => t.id));
    // Answer in document order, with the state the first scheduling pass left: what the submit
    // script returned, and where that pass sent each task (no read back).
    const created = new Map(outcome.tasks.map((t) => [t.id, t]));
    const rowOf = new Map(rows.map((r) => [r.id, r]));
    const tasks = drafts.map((d) => {
      const id = ids.get(d.key)!;
      const t = created.get(id)!;
      const row = rowOf.get(id)!.fields;
      const workers = placed.get(id);
      // A single task is DISPATCHED to its worker; a fanned-out parent is RUNNING on MULTI (its shards hold the workers).
      const status = workers ? (workers.length === 1 ? 'DISPATCHED' : 'RUNNING') : t.status;
      const worker = workers ? (workers.length === 1 ? workers[0] : MULTI_WORKER) : '';
      return toSubmittedTask({ ...row, status, assigned_worker: worker, waiting_on: JSON.stringify(t.waiting_on) });
    });
    return { ok: true, count: tasks.length, tasks };
  }

  private toRow(d: TaskDraft, ids: Map<string, string>): NewTaskRow {
    const id = ids.get(d.key)!;
    const deps = [...new Set([...d.dependsOnKeys.map((k) => ids.get(k)!), ...d.dependsOnIds])];
    const placement: StoredPlacement = { requirements: d.requirements, parallel: d.parallel, maxShards: d.maxShards };
    // Only a task whose spec references upstream results: the scheduler resolves them at dispatch.
    if (d.upstream) placement.upstream = { tasks: Object.fromEntries(Object.entries(d.upstream.stages).map(([name, key]) => [name, ids.get(key)!])), direct: d.upstream.direct };
    return {
      id,
      key: d.key,
      owner: d.owner,
      deps,
      fields: encodeNewTask({
        id,
        name: d.name,
        owner: d.owner,
        kind: d.doc.kind,
        taskType: d.taskType,
        topic: this.config.taskTopic,
        doc: d.doc,
        placement,
        priority: d.priority,
        maxRetries: d.maxRetries ?? this.config.maxRetries,
        backoffSec: d.backoffSec ?? 0,
        dependsOn: deps,
        retentionSec: d.retentionSec ?? this.config.taskRetentionSec,
      }),
    };
  }

  async get(id: string): Promise<TaskResponse> {
    const h = isTaskId(id) ? await this.repo.get(id) : null;
    if (!h) throw taskNotFound(id);
    return toTaskResponse(h);
  }

  /** `q` has passed the ValidationPipe (dto/list-tasks.query.ts): each value is absent, empty or good. */
  async list(q: ListTasksQuery): Promise<{ tasks: TaskResponse[]; nextCursor: number | null }> {
    const filter: ListFilter = {};
    if (q.status) filter.status = q.status.toUpperCase();
    if (q.owner) filter.owner = q.owner;
    if (q.name) filter.name = q.name;
    const limit = q.limit ? Number(q.limit) : DEFAULT_LIST_LIMIT;
    const cursor = q.cursor ? Number(q.cursor) : null;
    const { records, nextCursor } = await this.repo.list(filter, limit, cursor);
    return { tasks: records.map(toTaskResponse), nextCursor };
  }

  async cancel(id: string): Promise<TaskResponse> {
    if (!isTaskId(id)) throw taskNotFound(id);
    const r = await this.repo.cancel(id, Date.now());
    if (r === 'not_found') throw taskNotFound(id);
    if (r.startsWith('final:')) throw new DomainError('conflict', `Task ${id} already finished (${r.slice(6)}); only unfinished tasks can be cancelled`);
    this.log.log(`cancelled task`, { taskId: id, root: r.slice('cancelled:'.length) });
    this.scheduler.kick();
    return this.get(id);
  }
}

function unknownDependency(id: string, taskName: string | undefined): DomainError {
  const shown = id.length > 80 ? `${id.slice(0, 76)}...` : id;
  return new DomainError('invalid_task', `Unknown task id in dependsOn: ${JSON.stringify(shown)}${taskName ? ` (task ${taskName})` : ''}; no task was created`, 'spec.dependsOn');
}

function taskNotFound(id: string): DomainError {
  return new DomainError('not_found', `Task ${id.length > 80 ? `${id.slice(0, 76)}...` : id} not found`);
}
