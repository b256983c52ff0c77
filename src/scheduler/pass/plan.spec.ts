import fc from 'fast-check';
import type { Requirements, StoredPlacement } from '../../contracts/stored-task';
import { candidatesFor, chooseStrategy, pickWorker } from '../../../test/oracles/place';
import { CandidatePool } from '../placement/candidate-pool';
import { compareFit } from '../placement/place';
import type { SchedulerWeights, WorkerView } from '../placement/types';
import type { FanOutRequest } from '../scheduler.repository';
import { shardCount } from '../sharding/shards';
import { type Fleet, newPlan, type PassPlan, planTask } from './plan';

// The planning step without Redis: fleets of plain WorkerViews, queues of placement records.

const POLICY: SchedulerWeights = { cpuOnlyWeight: 0.6, gpuWeight: 1, highAvailRatio: 2, lowAvailRatio: 0.6, maxAutoShards: 8 };
const GiB = 1024 ** 3;
const TYPES = ['echo', 'inference', 'rag'];

function worker(id: string, order: number, o: Partial<WorkerView> = {}): WorkerView {
  return { id, order, status: 'IDLE', stale: false, cores: 8, memoryBytes: 32 * GiB, gpus: [], tags: [], ...o };
}
const gpus = (n: number) => Array.from({ length: n }, () => ({ name: 'NVIDIA L4', memoryBytes: 24 * GiB }));
function req(o: Partial<Requirements> = {}): Requirements {
  return { replicas: 1, cpu: 1, memoryBytes: GiB, gpu: null, enforceCpu: false, tags: [], ...o };
}
const gpuReq = (count: number, type = 'any'): Requirements['gpu'] => ({ type, count, memoryBytes: null });

/**
 * A fleet as the WorkerIndex presents it, over a plain list: the idle live workers in a pool;
 * `goneStale` ones fail `confirm` (they went stale since the last sweep).
 */
class ListFleet implements Fleet {
  readonly pool: CandidatePool;
  readonly busy: string[] = [];
  snapshots = 0;

  constructor(
    readonly workers: WorkerView[],
    private readonly goneStale = new Set<string>(),
    readonly policy = POLICY,
  ) {
    this.pool = new CandidatePool(policy);
    for (const w of workers) if (w.status === 'IDLE' && !w.stale) this.pool.add(w);
  }

  confirm(id: string): boolean {
    if (this.goneStale.has(id)) {
      this.workers.find((w) => w.id === id)!.stale = true;
      return false;
    }
    return this.pool.has(id);
  }

  markBusy(id: string): void {
    this.workers.find((w) => w.id === id)!.status = 'RUNNING';
    this.pool.remove(id);
    this.busy.push(id);
  }

  snapshot(): WorkerView[] {
    this.snapshots++;
    return this.workers;
  }
}

interface QueueEntry {
  id: string;
  placement: StoredPlacement;
  exclude?: string;
  unschedulable?: string;
}
const task = (id: string, requirements: Requirements, o: Partial<StoredPlacement> & Omit<Partial<QueueEntry>, 'placement'> = {}): QueueEntry => ({
  id,
  placement: { requirements, parallel: o.parallel ?? false, maxShards: o.maxShards ?? null, ...(o.upstream ? { upstream: o.upstream } : {}) },
  exclude: o.exclude,
  unschedulable: o.unschedulable,
});

/** Plans `queue` in order, as a pass does with the head it read; the demand is the queue's length. */
function planQueue(fleet: ListFleet, queue: QueueEntry[], demand = queue.length): PassPlan {
  const plan = newPlan(fleet, fleet.pool, fleet.policy, 1_000, demand);
  for (const t of queue) planTask(plan, { id: t.id, exclude: t.exclude ?? null, unschedulable: t.unschedulable ?? null, name: null }, t.placement);
  return plan;
}

/** [task, strategy, worker(s)] of each planned claim. */
const claims = (plan: PassPlan) => plan.planned.map((p) => [p.req.taskId, p.req.strategy, p.req.kind === 'single' ? p.req.workerId : p.workers]);

describe('planTask', () => {
  it('first-fit when idle capacity is short: the earliest registered, even a loose fit', () => {
    // 2 CPU workers (0.6 each) for 4 tasks: ratio 0.3 <= 0.6.
    const fleet = new ListFleet([worker('big', 0, { cores: 64 }), worker('tight', 1, { cores: 2 })]);
    const plan = planQueue(fleet, [task('a', req()), task('b', req()), task('c', req()), task('d', req())]);
    expect(claims(plan)).toEqual([
      ['a', 'first-fit', 'big'],
      ['b', 'first-fit', 'tight'],
    ]);
    expect(plan.planned[0].req.reason).toBe('ratio 0.30 = available 1.20 / demand 4 <= 0.6');
    expect(fleet.busy).toEqual(['big', 'tight']);
    // c and d wait: busy workers fit them, so nothing is unschedulable.
    expect(plan.unschedulable).toEqual([]);
  });

  it('best-fit in between: the tightest fit, not the earliest', () => {
    // 1 GPU worker + 1 CPU worker for 1 task: ratio 1.6.
    const fleet = new ListFleet([worker('gpu', 0, { gpus: gpus(1) }), worker('cpu', 1)]);
    const plan = planQueue(fleet, [task('a', req())]);
    expect(claims(plan)).toEqual([['a', 'best-fit', 'cpu']]);
    expect(plan.planned[0].req.reason).toBe('ratio 1.60 = available 1.60 / demand 1 between 0.6 and 2.0');
  });

  it('data-parallel with plenty of capacity: a fan-out over the tightest fits, all taken', () => {
    const fleet = new ListFleet([worker('dgx', 0, { gpus: gpus(8) }), ...[1, 2, 3].map((i) => worker(`g${i}`, i, { gpus: gpus(1) })), worker('cpu', 4)]);
    const plan = planQueue(fleet, [task('p', req({ gpu: gpuReq(1) }), { parallel: true }), task('next', req({ gpu: gpuReq(1) }))]);
    expect(claims(plan)).toEqual([['p', 'data-parallel', ['g1', 'g2', 'g3', 'dgx']]]);
    const fanOut = plan.planned[0].req as FanOutRequest;
    expect(fanOut.kind).toBe('shards');
    expect(fanOut.reason).toBe('ratio 2.00 = available 4.00 / demand 2 >= 2.0 with 4 candidates; 4 shards');
    expect(plan.planned[0].requirements).toEqual(req({ gpu: gpuReq(1) }));
    expect(fleet.busy).toEqual(['g1', 'g2', 'g3', 'dgx']);
    // The next GPU task finds every GPU worker taken: it waits.
    expect(plan.unschedulable).toEqual([]);
  });

  it('data-parallel respects max_shards and replicas', () => {
    const fleet = () => new ListFleet(Array.from({ length: 6 }, (_, i) => worker(`g${i}`, i, { gpus: gpus(1) })));
    expect(claims(planQueue(fleet(), [task('p', req({ gpu: gpuReq(1) }), { parallel: true, maxShards: 2 })]))).toEqual([['p', 'data-parallel', ['g0', 'g1']]]);
    expect(claims(planQueue(fleet(), [task('p', req({ gpu: gpuReq(1), replicas: 3 }), { parallel: true, maxShards: 1 })]))).toEqual([['p', 'data-parallel', ['g0', 'g1', 'g2']]]);
  });

  it('a parallel task that gets one shard runs on one worker, best-fit', () => {
    const fleet = new ListFleet([worker('dgx', 0, { gpus: gpus(8) }), worker('g1', 1, { gpus: gpus(1) }), worker('g2', 2, { gpus: gpus(1) })]);
    expect(claims(planQueue(fleet, [task('p', req({ gpu: gpuReq(1) }), { parallel: true, maxShards: 1 })]))).toEqual([['p', 'best-fit', 'g1']]);
  });

  it('a parallel task with a high ratio but one candidate is best-fit', () => {
    const fleet = new ListFleet([worker('cpu', 0), worker('g1', 1, { gpus: gpus(1) })], undefined, { ...POLICY, gpuWeight: 3 });
    const plan = planQueue(fleet, [task('p', req({ gpu: gpuReq(1) }), { parallel: true })], 0);
    expect(claims(plan)).toEqual([['p', 'best-fit', 'g1']]);
    expect(plan.planned[0].req.reason).toBe('ratio 3.00 = available 3.00 / demand 1 >= 2.0 but only 1 candidate(s)');
  });

  it('places a task queued behind ones that fit nobody, and says why those never will', () => {
    const fleet = new ListFleet([worker('w1', 0, { cores: 4 }), worker('w2', 1, { cores: 8 })]);
    const plan = planQueue(fleet, [
      task('huge', req({ cpu: 128 })),
      task('h100', req({ gpu: gpuReq(1, 'h100') })),
      task('huge-again', req({ cpu: 128 }), { unschedulable: 'no registered worker fits: w1: needs 128 cores, has 4; w2: needs 128 cores, has 8' }),
      task('small', req({ cpu: 2 })),
    ]);
    expect(claims(plan)).toEqual([['small', 'first-fit', 'w1']]);
    expect(plan.unschedulable).toEqual([
      { id: 'huge', reason: 'no registered worker fits: w1: needs 128 cores, has 4; w2: needs 128 cores, has 8' },
      { id: 'h100', reason: 'no registered worker fits: w1: needs 1 GPU(s) matching "h100", has 0; w2: needs 1 GPU(s) matching "h100", has 0' },
      // huge-again already says so: nothing to write.
    ]);
    expect(fleet.snapshots).toBe(1);
  });

  it('clears a stored reason once a registered worker fits (it only waits)', () => {
    const fleet = new ListFleet([worker('busy', 0, { status: 'RUNNING', cores: 64 })]);
    const plan = planQueue(fleet, [task('t', req({ cpu: 32 }), { unschedulable: 'no registered worker fits: x' })]);
    expect(plan.planned).toEqual([]);
    expect(plan.unschedulable).toEqual([{ id: 't', reason: '' }]);
  });

  it.each<[string, WorkerView[], string]>([
    ['no worker at all', [], 'no workers registered'],
    ['only stale workers', [worker('a', 0, { stale: true }), worker('b', 1, { stale: true })], 'no live workers registered (2 stale)'],
  ])('unschedulable with %s', (_, workers, reason) => {
    const plan = planQueue(new ListFleet(workers), [task('t', req())]);
    expect(plan.planned).toEqual([]);
    expect(plan.unschedulable).toEqual([{ id: 't', reason }]);
  });

  it('a worker that advertises executors gets only those task types; one that advertises none gets any', () => {
    const fleet = new ListFleet([
      worker('echo-only', 0, { executors: ['echo', 'inference', 'command'] }),
      worker('v1', 1, { executors: null }),
      worker('rag', 2, { executors: ['rag'] }),
    ]);
    const plan = planQueue(
      fleet,
      [task('r1', req({ taskType: 'rag' })), task('r2', req({ taskType: 'rag' })), task('r3', req({ taskType: 'rag' })), task('e', req({ taskType: 'echo' }))],
      9,
    );
    // first-fit (short capacity): v1 then rag; never echo-only, which stays free for the echo task.
    expect(claims(plan)).toEqual([
      ['r1', 'first-fit', 'v1'],
      ['r2', 'first-fit', 'rag'],
      ['e', 'first-fit', 'echo-only'],
    ]);
    // r3 only waits: registered workers (busy now) run rag.
    expect(plan.unschedulable).toEqual([]);
  });

  it('a task type no registered worker runs waits with a reason naming the type', () => {
    const fleet = new ListFleet([worker('a', 0, { executors: ['echo', 'inference'] }), worker('b', 1, { executors: ['echo', 'command'] }), worker('old', 2, { refused: ['rag'] })]);
    const plan = planQueue(fleet, [task('t', req({ taskType: 'rag' })), task('ok', req({ taskType: 'echo' }))]);
    expect(claims(plan)).toEqual([['ok', 'best-fit', 'a']]);
    expect(plan.unschedulable).toEqual([{ id: 't', reason: 'no registered worker runs task type "rag" (workers advertise: echo, inference, command; reported having none: old)' }]);
  });

  it('a task that reads upstream results is not fanned out', () => {
    const fleet = new ListFleet(Array.from({ length: 4 }, (_, i) => worker(`g${i}`, i, { gpus: gpus(1) })));
    const upstream = { tasks: { prev: 'id-1' }, direct: ['prev'] };
    const plan = planQueue(fleet, [task('p', req({ gpu: gpuReq(1) }), { parallel: true, upstream })]);
    expect(claims(plan)).toEqual([['p', 'best-fit', 'g0']]);
    expect(plan.planned[0].upstream).toEqual(upstream);
  });

  it('a retried task avoids the worker it failed on, unless no other fits', () => {
    const fleet = new ListFleet([worker('failed', 0, { cores: 4 }), worker('other', 1, { cores: 64 }), worker('only-gpu', 2, { gpus: gpus(1) })]);
    const plan = planQueue(fleet, [task('retry', req({ cpu: 2 }), { exclude: 'failed' }), task('gpu-retry', req({ gpu: gpuReq(1) }), { exclude: 'only-gpu' })], 1);
    expect(claims(plan)).toEqual([
      ['retry', 'best-fit', 'other'],
      ['gpu-retry', 'best-fit', 'only-gpu'],
    ]);
  });

  it('skips picked workers that went stale since the sweep, and purges them', () => {
    const fleet = new ListFleet([worker('stale-1', 0), worker('stale-2', 1), worker('live', 2)], new Set(['stale-1', 'stale-2']));
    const plan = planQueue(fleet, [task('a', req()), task('b', req())], 9);
    expect(claims(plan)).toEqual([['a', 'first-fit', 'live']]);
    expect(fleet.pool.size).toBe(0);
    expect(fleet.busy).toEqual(['live']);
  });

  it('a fan-out whose picked workers went stale is made of the live ones', () => {
    const fleet = new ListFleet(
      Array.from({ length: 4 }, (_, i) => worker(`g${i}`, i, { gpus: gpus(1) })),
      new Set(['g1']),
    );
    const plan = planQueue(fleet, [task('p', req({ gpu: gpuReq(1) }), { parallel: true, maxShards: 3 })]);
    expect(claims(plan)).toEqual([['p', 'data-parallel', ['g0', 'g2', 'g3']]]);
  });

  it('plans nothing when every candidate went stale (the next pass says why)', () => {
    const fleet = new ListFleet([worker('a', 0)], new Set(['a']));
    const plan = planQueue(fleet, [task('t', req())]);
    expect(plan.planned).toEqual([]);
    expect(plan.unschedulable).toEqual([]);
    expect(fleet.busy).toEqual([]);
  });

  it('agrees with brute-force placement (test/oracles/place.ts) over generated fleets and queues', () => {
    const shape = fc.record({
      cores: fc.option(fc.integer({ min: 1, max: 64 }), { nil: null }),
      memGiB: fc.option(fc.integer({ min: 1, max: 256 }), { nil: null }),
      gpus: fc.integer({ min: 0, max: 8 }),
      status: fc.constantFrom('IDLE', 'IDLE', 'IDLE', 'RUNNING'),
      stale: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      // null: advertises nothing (the v1 fleet), a candidate for every type it has not refused.
      executors: fc.option(fc.subarray(TYPES), { nil: null }),
      refused: fc.subarray(TYPES),
    });
    const queued = fc.record({
      taskType: fc.option(fc.constantFrom(...TYPES), { nil: undefined }),
      cpu: fc.integer({ min: 1, max: 48 }),
      memGiB: fc.integer({ min: 0, max: 128 }),
      gpus: fc.integer({ min: 0, max: 4 }),
      parallel: fc.boolean(),
      replicas: fc.integer({ min: 1, max: 3 }),
      maxShards: fc.option(fc.integer({ min: 1, max: 6 }), { nil: null }),
      exclude: fc.option(fc.nat(11), { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(shape, { maxLength: 12 }), fc.array(queued, { maxLength: 15 }), fc.nat(20), (shapes, tasks, extraDemand) => {
        const views = () =>
          shapes.map((s, i) =>
            worker(`w${i}`, i, {
              cores: s.cores,
              memoryBytes: s.memGiB === null ? null : s.memGiB * GiB,
              gpus: gpus(s.gpus),
              status: s.status,
              stale: s.stale,
              executors: s.executors,
              refused: s.refused,
            }),
          );
        const queue = tasks.map((t, i) =>
          task(`t${i}`, req({ cpu: t.cpu, memoryBytes: t.memGiB * GiB, gpu: t.gpus ? gpuReq(t.gpus) : null, replicas: t.replicas, taskType: t.taskType }), {
            parallel: t.parallel,
            maxShards: t.maxShards,
            exclude: t.exclude === null ? undefined : `w${t.exclude}`,
          }),
        );
        const demand = queue.length + extraDemand;
        const plan = planQueue(new ListFleet(views()), queue, demand);

        // The oracle: filter and sort the whole fleet for every task.
        const fleet = views();
        const expected: unknown[] = [];
        let left = demand;
        for (const t of queue) {
          const { requirements: r, parallel, maxShards } = t.placement;
          const all = candidatesFor({ id: t.id, requirements: r, parallel, maxShards, excludeWorkers: [] }, fleet);
          const others = candidatesFor({ id: t.id, requirements: r, parallel, maxShards, excludeWorkers: t.exclude ? [t.exclude] : [] }, fleet);
          const cands = others.length > 0 ? others : all;
          if (cands.length === 0) continue;
          const choice = chooseStrategy({ parallel, candidates: cands, demand: left, weights: POLICY });
          left = Math.max(1, left - 1);
          const shards = choice.strategy === 'data-parallel' ? shardCount(r.replicas, cands.length, maxShards, POLICY.maxAutoShards) : 1;
          const chosen = shards >= 2 ? [...cands].sort(compareFit(r)).slice(0, shards) : [pickWorker(choice.strategy, r, cands)];
          for (const w of chosen) w.status = 'RUNNING';
          expected.push(shards >= 2 ? [t.id, 'data-parallel', chosen.map((w) => w.id)] : [t.id, choice.strategy === 'data-parallel' ? 'best-fit' : choice.strategy, chosen[0].id]);
        }
        expect(claims(plan)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
