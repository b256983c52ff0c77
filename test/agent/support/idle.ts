import { WorkerIndex } from '../../../src/scheduler/worker-index';
import type { TestStack } from '../../support/test-app';
import { waitFor } from '../../support/wait-for';

/**
 * Waits until every one of `count` workers is IDLE with no task, both in the registry (GET /workers)
 * and in the scheduler's in-memory index, which follows the registry through events and a periodic
 * resync and may lag behind it for a few seconds: placement decisions (data-parallel or not) come
 * from the index.
 */
export function allIdle(stack: TestStack, count: number): Promise<true> {
  return waitFor(
    async () => {
      const res = await stack.http().get('/workers');
      const registry = res.body.length === count && res.body.every((w: { status: string; current_task: string | null }) => w.status === 'IDLE' && !w.current_task);
      const index = stack.app.get(WorkerIndex).snapshot(Date.now());
      return registry && index.length === count && index.every((w) => w.status === 'IDLE' && !w.stale) ? (true as const) : null;
    },
    { what: 'every worker IDLE (registry and scheduler index)', timeoutMs: 15_000 },
  );
}
