import { Injectable } from '@nestjs/common';
import { TasksRepository } from './tasks.repository';

/**
 * The tasks module's door for the events module: what a worker's reports do to task records
 * (acknowledge, finish an attempt, finalize a sharded parent) and the few fields read for that.
 * Thin: each call is one repository call (the same script, the same round trip), nothing more.
 */
@Injectable()
export class TaskProgressService {
  constructor(private readonly repo: TasksRepository) {}

  /** DISPATCHED -> RUNNING when `workerId` holds the task (ack-task.lua checks); false otherwise. */
  ack(id: string, workerId: string, nowMs: number, attempt: number | null = null): Promise<boolean> {
    return this.repo.ack(id, workerId, nowMs, attempt);
  }

  /** Ends the attempt (finish-task.lua): 'done', 'retry', 'failed', 'parent_ready:<id>', 'ignored:<why>', ... */
  finish(id: string, workerId: string, outcome: 'succeeded' | 'failed', payload: string, backoffCapSec: number, attempt: number | null, nowMs: number): Promise<string> {
    return this.repo.finish(id, workerId, outcome, payload, backoffCapSec, attempt, nowMs);
  }

  /** Stores the aggregated result and finishes the parent; false when it was finished already. */
  finalizeParent(parentId: string, resultJson: string, nowMs: number): Promise<boolean> {
    return this.repo.finalizeParent(parentId, resultJson, nowMs);
  }

  /** `fields` of each task, in order (nulls for a missing task). */
  getFields(ids: string[], fields: string[]): Promise<(string | null)[][]> {
    return this.repo.getFields(ids, fields);
  }

  /** Parents whose shards were fanned out and that are not finished yet. */
  runningParents(): Promise<string[]> {
    return this.repo.runningParents();
  }
}
