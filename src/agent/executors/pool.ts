/**
 * `fn` over `items` with at most `limit` calls in flight, results in input order. The first
 * failure stops the rest: nothing new starts, and the calls in flight see their signal abort.
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number, signal: AbortSignal) => Promise<R>, signal: AbortSignal): Promise<R[]> {
  const failed = new AbortController();
  const combined = AbortSignal.any([signal, failed.signal]);
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length && !combined.aborted) {
      const i = next++;
      results[i] = await fn(items[i], i, combined);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  } catch (err) {
    failed.abort(err);
    throw err;
  }
  if (signal.aborted) throw signal.reason;
  return results;
}
