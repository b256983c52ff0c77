import type { Requirements } from '../../contracts/stored-task';
import { CandidatePool } from './candidate-pool';
import { bestFit, candidatesFor, chooseStrategy, firstFit } from '../../../test/oracles/place';
import { chooseStrategyFor, compareFit } from './place';
import type { SchedulerWeights, WorkerView } from './types';

const weights: SchedulerWeights = { cpuOnlyWeight: 0.6, gpuWeight: 1, highAvailRatio: 2, lowAvailRatio: 0.6, maxAutoShards: 8 };
const GiB = 1024 ** 3;
const req = (cpu: number, gpus = 0, memoryBytes = 0): Requirements => ({
  replicas: 1,
  cpu,
  memoryBytes,
  gpu: gpus ? { type: 'any', count: gpus, memoryBytes: null } : null,
  enforceCpu: false,
  tags: [],
});
const worker = (id: string, order: number, cores: number | null, gpus = 0, memoryBytes: number | null = null): WorkerView => ({
  id,
  order,
  status: 'IDLE',
  stale: false,
  cores,
  memoryBytes,
  gpus: Array.from({ length: gpus }, () => ({ name: 'NVIDIA L4', memoryBytes: 24 * GiB })),
  tags: [],
});

/** What brute-force placement (test/oracles/place.ts) says for `r` over the workers in the pool. */
function expected(pool: CandidatePool, r: Requirements, exclude?: string) {
  const cands = candidatesFor({ id: 't', requirements: r, parallel: false, maxShards: null, excludeWorkers: exclude ? [exclude] : [] }, [...pool.values()]);
  return {
    count: cands.length,
    best: cands.length ? bestFit(r, cands).id : undefined,
    first: cands.length ? firstFit(cands).id : undefined,
    bestN: [...cands]
      .sort(compareFit(r))
      .slice(0, 3)
      .map((w) => w.id),
    strategy: chooseStrategy({ parallel: true, candidates: cands, demand: 1, weights }),
  };
}

function actual(pool: CandidatePool, r: Requirements, exclude?: string) {
  const g = pool.group(r, 0);
  return {
    count: g.count(exclude),
    best: g.best(exclude)?.id,
    first: g.first(exclude)?.id,
    bestN: g.bestN(3, exclude).map((w) => w.id),
    strategy: chooseStrategyFor({ parallel: true, available: g.available(exclude), count: g.count(exclude), demand: 1, weights }),
  };
}

function expectSame(pool: CandidatePool, r: Requirements, exclude?: string) {
  const a = actual(pool, r, exclude);
  const e = expected(pool, r, exclude);
  expect({ ...a, strategy: a.strategy.strategy }).toEqual({ ...e, strategy: e.strategy.strategy });
  expect(a.strategy.ratio).toBeCloseTo(e.strategy.ratio);
}

describe('CandidatePool', () => {
  const fleet = () => [worker('big', 0, 64, 8), worker('mid', 1, 16, 1), worker('cpu', 2, 8), worker('tiny', 3, 2)];

  function poolOf(workers: WorkerView[]) {
    const pool = new CandidatePool(weights);
    workers.forEach((w) => pool.add(w));
    return pool;
  }

  it.each([
    ['a CPU task', req(4)],
    ['a GPU task', req(4, 1)],
    ['a large task', req(32)],
    ['a task no worker fits', req(128)],
  ])('agrees with candidatesFor/bestFit/firstFit for %s', (_t, r) => {
    expectSame(poolOf(fleet()), r);
  });

  it('a worker removed after a group was built disappears from every group', () => {
    const pool = poolOf(fleet());
    const cpuTasks = pool.group(req(4), 0);
    const gpuTasks = pool.group(req(1, 1), 0);
    pool.remove(gpuTasks.best()!.id); // mid
    expect(cpuTasks.count()).toBe(2);
    expect(cpuTasks.bestN(5).map((w) => w.id)).toEqual(['cpu', 'big']);
    expect(pool.size).toBe(3);
  });

  it('a worker that becomes idle joins the groups it fits, in its place', () => {
    const pool = poolOf(fleet().filter((w) => w.id !== 'cpu'));
    const cpuTasks = pool.group(req(4), 0);
    expect(cpuTasks.best()?.id).toBe('mid');
    pool.add(worker('cpu', 2, 8));
    expect(cpuTasks.best()?.id).toBe('cpu');
    expect(cpuTasks.first()?.id).toBe('big');
    expect(cpuTasks.count()).toBe(3);
  });

  it('honours exclusions', () => {
    const pool = poolOf(fleet());
    expect(pool.group(req(4), 0).best('cpu')?.id).toBe('mid');
    expect(pool.group(req(4), 0).count('cpu')).toBe(2);
    expect(pool.group(req(4), 0).count('tiny')).toBe(3);
  });

  it('a changed worker (a new view of the same id) replaces the old one', () => {
    const pool = poolOf(fleet());
    const g = pool.group(req(32), 0);
    expect(g.count()).toBe(1);
    pool.add(worker('cpu', 2, 48));
    expect(pool.size).toBe(4);
    expect(g.best()?.id).toBe('cpu');
    expect(g.count()).toBe(2);
  });

  it('stays equal to the brute-force placement through random arrivals and departures', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const shapes = [
      () => ({ cores: 4, gpus: 0, mem: 16 * GiB }),
      () => ({ cores: 8, gpus: 0, mem: 32 * GiB }),
      () => ({ cores: 16, gpus: 1, mem: 64 * GiB }),
      () => ({ cores: 32, gpus: 4, mem: 128 * GiB }),
      () => ({ cores: 8 + rand(8), gpus: rand(3), mem: (8 + rand(64)) * GiB }),
      () => ({ cores: null, gpus: 0, mem: null }),
    ];
    const all: WorkerView[] = [];
    for (let i = 0; i < 200; i++) {
      const s = shapes[rand(shapes.length)]();
      // Some advertise executors (only those types), some refused a type, most advertise nothing.
      const executors = [null, null, ['echo'], ['echo', 'rag'], ['inference']][rand(5)];
      all.push({ ...worker(`w${i}`, i, s.cores, s.gpus, s.mem), executors, refused: rand(8) === 0 ? ['rag'] : [] });
    }
    const typed = (r: Requirements, taskType: string): Requirements => ({ ...r, taskType });
    const reqs = [req(2), req(8, 0, 20 * GiB), req(4, 1), req(16, 2), req(12), req(64), typed(req(2), 'rag'), typed(req(4, 1), 'echo'), typed(req(2), 'inference')];
    const pool = new CandidatePool(weights);
    reqs.slice(0, 3).forEach((r) => pool.group(r, 0)); // some groups exist before the workers do
    for (let step = 0; step < 2000; step++) {
      const w = all[rand(all.length)];
      if (rand(3) === 0) pool.remove(w.id);
      else pool.add(rand(10) === 0 ? { ...w } : w); // sometimes a fresh view of the same worker
      if (step % 50 === 0) {
        for (const r of reqs) expectSame(pool, r, rand(2) ? all[rand(all.length)].id : undefined);
      }
    }
  });

  it('purge takes a worker out of every group, even a view the pool no longer knows', () => {
    const pool = poolOf(fleet());
    const g = pool.group(req(4), 0);
    const stray = { ...fleet()[2] }; // a different view of 'cpu' than the one in the pool
    pool.purge('cpu');
    expect(g.best()?.id).toBe('mid');
    expect(g.count()).toBe(2);
    expect(pool.size).toBe(3);
    expect(g.available()).toBeCloseTo(2);
    pool.add(stray);
    expect(g.best()?.id).toBe('cpu');
  });

  it('drops the least recently used groups beyond its limit', () => {
    const pool = poolOf(fleet());
    for (let cpu = 1; cpu <= 300; cpu++) pool.group(req(cpu), cpu);
    expect(pool.groupCount).toBeLessThanOrEqual(256);
    // Groups unused for a minute go at the next lookup.
    pool.group(req(1), 10 * 60_000);
    expect(pool.groupCount).toBe(1);
  });
});
