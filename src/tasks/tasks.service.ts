import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { DomainError } from '../common/errors';
import { MULTI_WORKER } from '../contracts/task-states';
import { LeadershipService } from '../leadership/leadership.service';
import { MetricsService } from '../metrics/metrics.service';
import { SchedulerService } from '../scheduler/scheduler.service';
import { dryRunPlan, type DryRunPlacement, unschedulableReasons } from '../scheduler/pass/dry-run';
import { WorkerIndex } from '../scheduler/worker-index';
import { parseSubmissionWith } from './spec/parse-submission';
import { SpecError, TaskDraft, TooManyTasksError } from './spec/task-draft';
import { DEFAULT_LIST_LIMIT, ListTasksQuery } from './dto/list-tasks.query';
import { isTaskId } from '../contracts/ids';
import type { StoredPlacement } from '../contracts/stored-task';
import { SubmittedTask, TaskResponse, toSubmittedTask, toTaskResponse } from './task-record';
import { encodeNewTask, TASK_FIELDS } from '../redis/task-codec';
import { ListFilter, NewTaskRow, SubmitOutcome, TasksRepository } from './tasks.repository';
import { YamlThread } from './yaml-thread';
import { rawDocumentOf } from './spec/raw-documents';
import { maskSecrets } from '../contracts/secrets';
import { listShape, pick } from './list-shape';

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
    private readonly index: WorkerIndex,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The drafts of a submission, validated (400/413 with the field otherwise); nothing is written. */
  private async drafts(text: string): Promise<TaskDraft[]> {
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
    return drafts;
  }

  /**
   * `?dryRun=true`: validates the submission as `submit` does (dependencies on earlier tasks must
   * exist) and says where each task would go now, or why no registered worker ever could, without
   * creating anything (reads only). A replica that does not place tasks reads the registry first.
   */
  async dryRun(text: string): Promise<{ ok: true; dry_run: true; count: number; tasks: (DryRunPlacement & { name: string; waiting_on: string[] })[] }> {
    const drafts = await this.drafts(text);
    const earlier = [...new Set(drafts.flatMap((d) => d.dependsOnIds))];
    const statuses = await this.repo.getFields(earlier, ['status']);
    const unfinished = new Set<string>();
    earlier.forEach((id, i) => {
      const status = statuses[i]?.[0];
      if (!status) throw unknownDependency(id, drafts.find((d) => d.dependsOnIds.includes(id))?.name);
      if (status !== 'DONE') unfinished.add(id);
    });
    const nameOf = new Map(drafts.map((d) => [d.key, d.name]));
    const waitingOn = (d: TaskDraft) => [...d.dependsOnKeys.map((k) => nameOf.get(k) ?? k), ...d.dependsOnIds.filter((id) => unfinished.has(id))];
    if (!this.leadership.isLeader) await this.index.resync(true);
    const nowMs = Date.now();
    const ordered = dependencyOrder(drafts);
    const planned = dryRunPlan(
      this.index.snapshot(nowMs),
      this.index.schedulable(nowMs).values(),
      ordered.map((d) => ({ id: d.key, name: d.name, placement: placementOf(d), waits: waitingOn(d).length > 0 })),
      this.config.scheduler,
      nowMs,
    );
    const byKey = new Map(ordered.map((d, i) => [d.key, planned[i]]));
    const tasks = drafts.map((d) => ({ name: d.name, waiting_on: waitingOn(d), ...byKey.get(d.key)! }));
    return { ok: true, dry_run: true, count: tasks.length, tasks };
  }

  /**
   * Parses, validates and creates every task of a submission atomically (all or none), then gives
   * the scheduler one pass so the answer already shows where ready tasks went.
   */
  async submit(text: string): Promise<{ ok: true; count: number; tasks: SubmittedTask[] }> {
    const drafts = await this.drafts(text);
    const maxRetention = this.config.taskRetentionMaxSec;
    const keptTooLong = drafts.find((d) => (d.retentionSec ?? 0) > maxRetention);
    if (keptTooLong) {
      throw new DomainError(
        'invalid_task',
        `spec.retention.seconds: must be at most ${maxRetention} (TASK_RETENTION_MAX_SEC), got ${keptTooLong.retentionSec} (task ${keptTooLong.name})`,
        'spec.retention.seconds',
      );
    }
    const ids = new Map(drafts.map((d) => [d.key, randomUUID()]));
    const rows = dependencyOrder(drafts).map((d) => this.toRow(d, ids));
    addRawYaml(rows, drafts, ids, text);
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
    this.markUnschedulable(drafts, tasks);
    return { ok: true, count: tasks.length, tasks };
  }

  /**
   * Sets `unschedulable` on the answer's tasks that no registered worker could ever run, waiting
   * ones included (the placement code's reason, from the leader's worker index). Only for tasks the
   * first pass did not place, and only on the leader: a follower's index may not know every worker.
   */
  private markUnschedulable(drafts: TaskDraft[], tasks: SubmittedTask[]) {
    const open = tasks.flatMap((t, i) => (t.status === 'PENDING' ? [i] : []));
    if (open.length === 0 || !this.leadership.isLeader) return;
    const reasons = unschedulableReasons(
      this.index.snapshot(Date.now()),
      open.map((i) => placementOf(drafts[i])),
    );
    open.forEach((i, k) => (tasks[i].unschedulable = reasons[k]));
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
    await this.repo.resolveRawYaml([h]);
    return toTaskResponse(h);
  }

  /**
   * Re-submits a FAILED or CANCELLED task as a new task with the same document (no dependencies:
   * it runs on its own), `retry_of` naming the old one and `retried_by` on the old one naming it.
   * 409 for a task not finished that way, a shard (retry its parent), or one already retried.
   */
  async retry(id: string): Promise<TaskResponse> {
    const old = isTaskId(id) ? await this.repo.get(id) : null;
    if (!old) throw taskNotFound(id);
    if (old.status !== 'FAILED' && old.status !== 'CANCELLED') throw new DomainError('conflict', `Task ${id} is ${old.status}; only a FAILED or CANCELLED task can be retried`);
    if (old.parent_id) throw new DomainError('conflict', `Task ${id} is a shard of ${old.parent_id}; retry its parent`);
    const newId = randomUUID();
    const taken = await this.repo.linkRetry(id, newId);
    if (taken !== null) throw new DomainError('conflict', `Task ${id} was already retried as ${taken}; retry that one`);
    const fields: Record<string, string> = { ...retryFields(old), id: newId, topic: this.config.taskTopic, retry_of: id };
    let outcome: SubmitOutcome;
    try {
      outcome = await this.repo.createBatch([{ id: newId, key: 'retry', owner: old.owner || null, deps: [], fields }], Date.now(), this.leadership.instanceId);
    } catch (err) {
      await this.repo.unlinkRetry(id, newId).catch(() => undefined);
      throw err;
    }
    if (!outcome.ok) throw new Error(`retry of ${id} was refused: ${outcome.error}`);
    this.metrics.tasksSubmitted.inc();
    this.log.log(`retried task as a new task`, { taskId: newId, retryOf: id });
    await this.scheduler.runPassFor([newId]);
    return this.get(newId);
  }

  /**
   * `q` has passed the ValidationPipe (dto/list-tasks.query.ts): each value is absent, empty or good.
   * A summary per record by default (no document: listRecordFields); `include=task` gives the full
   * records, `fields=` the fields named (task_id always).
   */
  async list(q: ListTasksQuery): Promise<{ tasks: Partial<TaskResponse>[]; nextCursor: number | null }> {
    const filter: ListFilter = {};
    if (q.status) filter.status = q.status.toUpperCase();
    if (q.owner) filter.owner = q.owner;
    if (q.name) filter.name = q.name;
    const limit = q.limit ? Number(q.limit) : DEFAULT_LIST_LIMIT;
    const cursor = q.cursor ? Number(q.cursor) : null;
    const shape = listShape(q.include, q.fields);
    const { records, nextCursor } = await this.repo.list(filter, limit, cursor, shape.hashFields);
    if (shape.fields.includes('raw_yaml')) await this.repo.resolveRawYaml(records);
    return { tasks: records.map((h) => pick(toTaskResponse(h), shape.fields)), nextCursor };
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

/**
 * Stores each document's YAML text once (dd27001 `raw_yaml`): on the first task of the document;
 * its other tasks (stages, graph nodes) name that task in `raw_of`. A document that holds a secret
 * (a key maskSecrets masks) keeps no text: the API never shows a secret's value.
 */
function addRawYaml(rows: NewTaskRow[], drafts: TaskDraft[], ids: Map<string, string>, text: string) {
  const rawOf = rawDocumentOf(
    text,
    drafts.map((d) => d.key),
  );
  // The drafts of each document, in order (one pass: a submission may hold thousands).
  const byDocument = new Map<string, TaskDraft[]>();
  const secret = new Set<string>();
  for (const d of drafts) {
    const doc = d.key.split('/')[0];
    const group = byDocument.get(doc);
    if (group) group.push(d);
    else byDocument.set(doc, [d]);
    if (!secret.has(doc) && maskSecrets(d.doc) !== d.doc) secret.add(doc);
  }
  const byKey = new Map(rows.map((r) => [r.key, r]));
  for (const [doc, [holder, ...others]] of byDocument) {
    if (secret.has(doc)) continue;
    byKey.get(holder.key)!.fields.raw_yaml = rawOf(holder.key);
    for (const d of others) byKey.get(d.key)!.fields.raw_of = ids.get(holder.key)!;
  }
}

/** Fields a retry does not copy: its own identity and fresh state, dependencies, shard fields. */
const NOT_RETRIED = new Set(['id', 'topic', 'depends_on', 'retries', 'attempt', 'attempts', 'parent_id', 'shard_index', 'shard_total']);

/** What a retry copies from the task it re-submits: every field it was created with (task-codec.ts `new`) but NOT_RETRIED; its raw_yaml by reference. */
function retryFields(old: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { retries: '0', attempt: '0', attempts: '[]', depends_on: '[]', parent_id: '' };
  for (const [f, { by }] of Object.entries(TASK_FIELDS)) if (by === 'new' && !NOT_RETRIED.has(f) && old[f] !== undefined) out[f] = old[f];
  if (old.raw_yaml) out.raw_of = old.id;
  else if (old.raw_of) out.raw_of = old.raw_of;
  return out;
}

/** What placement reads of a draft (the requirements; unschedulable reasons and dry runs only). */
function placementOf(d: TaskDraft): StoredPlacement {
  return { requirements: d.requirements, parallel: d.parallel, maxShards: d.maxShards };
}

function unknownDependency(id: string, taskName: string | undefined): DomainError {
  const shown = id.length > 80 ? `${id.slice(0, 76)}...` : id;
  return new DomainError('invalid_task', `Unknown task id in dependsOn: ${JSON.stringify(shown)}${taskName ? ` (task ${taskName})` : ''}; no task was created`, 'spec.dependsOn');
}

function taskNotFound(id: string): DomainError {
  return new DomainError('not_found', `Task ${id.length > 80 ? `${id.slice(0, 76)}...` : id} not found`);
}
