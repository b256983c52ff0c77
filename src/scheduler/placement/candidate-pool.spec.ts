import type { Requirements } from '../../tasks/spec/task-draft';
import { CandidatePool } from './candidate-pool';
import { bestFit, candidatesFor, chooseStrategy, chooseStrategyFor, firstFit } from './place';
import type { SchedulerWeights, WorkerView } from './types';

const weights: SchedulerWeights = { cpuOnlyWeight: 0.6, gpuWeight: 1, highAvailRatio: 2, lowAvailRatio: 0.6, maxAutoShards: 8 };
const req = (cpu: number, gpus = 0): Requirements => ({ replicas: 1, cpu, memoryBytes: 0, gpu: gpus ? { type: 'any', count: gpus, memoryBytes: null } : null, enforceCpu: false, tags: [] });
const worker = (id: string, order: number, cores: number, gpus = 0): WorkerView => ({
  id, order, status: 'IDLE', stale: false, cores, memoryBytes: null, gpus: Array.from({ length: gpus }, () => ({ name: 'NVIDIA L4', memoryBytes: null })), tags: [],
});

describe('CandidatePool', () => {
  const fleet = [worker('big', 0, 64, 8), worker('mid', 1, 16, 1), worker('cpu', 2, 8), worker('tiny', 3, 2)];

  it.each([
    ['a CPU task', req(4), ['big']],
    ['a GPU task', req(4, 1), []],
    ['a large task', req(32), []],
  ])('agrees with candidatesFor/bestFit/firstFit for %s, also after workers are taken', (_t, r, takeFirst) => {
    const pool = new CandidatePool(fleet, weights);
    const g = pool.group(r, []);
    for (const id of takeFirst) pool.take(fleet.find((w) => w.id === id)!);
    const free = fleet.filter((w) => !takeFirst.includes(w.id));
    const expected = candidatesFor({ id: 't', requirements: r, parallel: false, maxShards: null, excludeWorkers: [] }, free);
    expect(g.count).toBe(expected.length);
    expect(g.best()?.id).toBe(expected.length ? bestFit(r, expected).id : undefined);
    expect(g.first()?.id).toBe(expected.length ? firstFit(expected).id : undefined);
    const a = chooseStrategy({ parallel: true, candidates: expected, demand: 1, weights });
    const b = chooseStrategyFor({ parallel: true, available: g.available, count: g.count, demand: 1, weights });
    expect(b.strategy).toBe(a.strategy);
    expect(b.ratio).toBeCloseTo(a.ratio);
  });

  it('a worker taken through one group disappears from every group', () => {
    const pool = new CandidatePool(fleet, weights);
    const cpuTasks = pool.group(req(4), []);
    const gpuTasks = pool.group(req(1, 1), []);
    pool.take(gpuTasks.best()!); // mid
    expect(cpuTasks.count).toBe(2);
    expect(cpuTasks.bestN(5).map((w) => w.id)).toEqual(['cpu', 'big']);
    expect(pool.free).toBe(3);
  });

  it('honours exclusions', () => {
    const pool = new CandidatePool(fleet, weights);
    expect(pool.group(req(4), ['cpu']).best()?.id).toBe('mid');
  });
});
