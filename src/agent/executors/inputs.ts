/**
 * A task's inputs as executors see them: the inline list of `spec.data` (`items`, else `prompts`),
 * cut to this shard's chunk when the task is a shard whose list the orchestrator did not carve.
 */
import { carveList } from '../../contracts/shard-slices';
import { isPlainObject } from '../../contracts/plain-data';

export interface ShardInfo {
  index: number;
  total: number;
  parentTaskId: string | null;
  /** The orchestrator already cut the inline lists to this shard (`spec.shard.carved`). */
  carved: boolean;
}

/** `spec.shard` when it is well formed (integers, 0 <= index < total), else null. */
export function shardOf(spec: Record<string, unknown>): ShardInfo | null {
  const shard = spec.shard;
  if (!isPlainObject(shard)) return null;
  const { index, total } = shard;
  if (!Number.isInteger(index) || !Number.isInteger(total)) return null;
  if ((index as number) < 0 || (index as number) >= (total as number)) return null;
  return {
    index: index as number,
    total: total as number,
    parentTaskId: typeof shard.parent_task_id === 'string' ? shard.parent_task_id : null,
    carved: shard.carved === true,
  };
}

/**
 * The inline inputs of the task, or null when `spec.data` has no inline list. An orchestrator
 * that carves lists marks the shard `carved: true`; without the mark the list is the whole job's
 * and this shard takes its contiguous chunk, exactly as the orchestrator would have cut it.
 */
export function inlineInputs(spec: Record<string, unknown>): unknown[] | null {
  const data = spec.data;
  if (!isPlainObject(data)) return null;
  const list = Array.isArray(data.items) ? data.items : Array.isArray(data.prompts) ? data.prompts : null;
  if (!list) return null;
  const shard = shardOf(spec);
  return shard && !shard.carved ? carveList(list, shard.index, shard.total) : list;
}

/** "dataset openai/gsm8k split train[0%:0.5%]", for error messages about data we cannot read. */
export function describeDataSource(spec: Record<string, unknown>): string {
  const data = spec.data;
  if (!isPlainObject(data)) return 'no spec.data';
  const parts = [`${typeof data.type === 'string' ? data.type : 'data'}`];
  if (typeof data.url === 'string') parts.push(data.url);
  if (typeof data.name === 'string') parts.push(`(${data.name})`);
  if (typeof data.split === 'string') parts.push(`split ${data.split}`);
  return parts.join(' ');
}
