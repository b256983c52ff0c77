import { randomUUID } from 'node:crypto';
import type { Requirements, StoredPlacement, TaskDocument } from '../../contracts/stored-task';
import { encodeShard } from '../../redis/task-codec';
import type { FanOutRequest } from '../scheduler.repository';
import { shardDocument } from './shards';

/**
 * The task rows of a fan-out's shards, one per worker in shard order: a new id, the parent's document
 * carved for that shard (shardDocument), the parent's requirements without `parallel` (a shard never
 * fans out again), and the fields the shard inherits from its parent (`parent`, as
 * SchedulerRepository.shardParents reads them). dispatch-shards.lua creates them.
 */
export function shardRows(parentId: string, parent: Record<string, string>, workers: string[], requirements: Requirements): FanOutRequest['shards'] {
  const doc = JSON.parse(parent.doc || '{}') as TaskDocument;
  const total = workers.length;
  return workers.map((worker, index) => {
    const id = randomUUID();
    const placement: StoredPlacement = { requirements, parallel: false, maxShards: null };
    const fields = encodeShard(parentId, parent, { id, index, total, doc: shardDocument(doc, index, total, parentId), placement });
    return { id, worker, fields };
  });
}
