/**
 * How a list is cut into shards (numpy.array_split style): shared by the orchestrator, which carves
 * a sharded job's data, and our worker, which carves what the orchestrator could not. Pure.
 */

/**
 * Bounds `[start, end)` of chunk `index` when `length` items are cut into `total`
 * contiguous chunks the way numpy.array_split does: sizes differ by at most one,
 * the larger chunks first.
 */
export function chunkBounds(length: number, index: number, total: number): [number, number] {
  assertShardIndex(index, total);
  const base = Math.floor(length / total);
  const extra = length % total;
  const start = index * base + Math.min(index, extra);
  const size = base + (index < extra ? 1 : 0);
  return [start, start + size];
}

/** Contiguous chunk `index` of `total`, in order, array_split style. */
export function carveList<T>(items: T[], index: number, total: number): T[] {
  const [start, end] = chunkBounds(items.length, index, total);
  return items.slice(start, end);
}

export function assertShardIndex(index: number, total: number): void {
  if (!Number.isInteger(total) || total < 1) throw new RangeError(`shard total must be an integer >= 1, got ${total}`);
  if (!Number.isInteger(index) || index < 0 || index >= total) {
    throw new RangeError(`shard index must be an integer in [0, ${total}), got ${index}`);
  }
}
