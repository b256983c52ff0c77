/**
 * Polls `predicate` until it returns a truthy value (returned) or the timeout passes (throws); the
 * timeout bounds only how long a test is willing to wait, it never measures speed.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string; abort?: () => Error | null } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    // A failure elsewhere that means the condition can never come (a fake worker's report failed).
    const abort = opts.abort?.();
    if (abort) throw abort;
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}
