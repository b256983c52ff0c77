import type { Requirements } from '../../contracts/stored-task';
import { bestFit, candidatesFor, chooseStrategy, firstFit, isSchedulable, pickWorker, type PlacementTask } from '../../../test/oracles/place';
import { CandidatePool } from './candidate-pool';
import { checkFit, compareFit, formatBytes, unschedulableReason, workerWeight } from './place';
import type { SchedulerWeights, WorkerView } from './types';

const GiB = 1024 ** 3;

const WEIGHTS: SchedulerWeights = {
  cpuOnlyWeight: 0.6,
  gpuWeight: 1.0,
  highAvailRatio: 2.0,
  lowAvailRatio: 0.6,
  maxAutoShards: 8,
};

function worker(overrides: Partial<WorkerView> = {}): WorkerView {
  return {
    id: 'w1',
    status: 'IDLE',
    stale: false,
    cores: 16,
    memoryBytes: 64 * GiB,
    gpus: [],
    tags: [],
    order: 0,
    ...overrides,
  };
}

function req(overrides: Partial<Requirements> = {}): Requirements {
  return { replicas: 1, cpu: 1, memoryBytes: 1 * GiB, gpu: null, enforceCpu: false, tags: [], ...overrides };
}

const gpus = (n: number, name = 'NVIDIA A100-SXM4-80GB', memoryBytes: number | null = 80 * GiB) => Array.from({ length: n }, () => ({ name, memoryBytes }));

/** The candidates of `r` as production keeps them (CandidatePool), over `workers`. */
function groupOf(r: Requirements, workers: WorkerView[]) {
  const pool = new CandidatePool(WEIGHTS);
  workers.forEach((w) => pool.add(w));
  return pool.group(r, 0);
}

function task(requirements: Requirements, excludeWorkers: string[] = []): PlacementTask {
  return { id: 't1', requirements, parallel: false, maxShards: null, excludeWorkers };
}

describe('checkFit', () => {
  it.each<[string, Partial<Requirements>, Partial<WorkerView>, string | null]>([
    // cores
    ['enough cores', { cpu: 8 }, { cores: 8 }, null],
    ['too few cores', { cpu: 8 }, { cores: 4 }, 'needs 8 cores, has 4'],
    ['unknown cores are not enforced', { cpu: 64 }, { cores: null }, null],
    // memory
    ['enough memory', { memoryBytes: 32 * GiB }, { memoryBytes: 32 * GiB }, null],
    ['too little memory', { memoryBytes: 32 * GiB }, { memoryBytes: 16 * GiB }, 'needs 32 GiB memory, has 16 GiB'],
    ['unknown memory is not enforced', { memoryBytes: 1024 * GiB }, { memoryBytes: null }, null],
    // gpu count and type
    ['any GPU', { gpu: { type: 'any', count: 1, memoryBytes: null } }, { gpus: gpus(1, 'Tesla T4') }, null],
    ['no GPU at all', { gpu: { type: 'any', count: 1, memoryBytes: null } }, { gpus: [] }, 'needs 1 GPU(s), has 0'],
    ['too few GPUs', { gpu: { type: 'a100', count: 2, memoryBytes: null } }, { gpus: gpus(1) }, 'needs 2 GPU(s) matching "a100", has 1'],
    ['type is a case-insensitive substring', { gpu: { type: 'a100', count: 2, memoryBytes: null } }, { gpus: gpus(2) }, null],
    ['upper-case type matches too', { gpu: { type: 'A100-SXM4', count: 1, memoryBytes: null } }, { gpus: gpus(1) }, null],
    ['wrong type', { gpu: { type: 'h100', count: 1, memoryBytes: null } }, { gpus: gpus(4) }, 'needs 1 GPU(s) matching "h100", has 0'],
    ['only matching GPUs count', { gpu: { type: 'a100', count: 2, memoryBytes: null } }, { gpus: [...gpus(1), ...gpus(3, 'Tesla T4')] }, 'needs 2 GPU(s) matching "a100", has 1'],
    // gpu memory
    ['GPU memory enough', { gpu: { type: 'any', count: 1, memoryBytes: 40 * GiB } }, { gpus: gpus(1, 'A100', 80 * GiB) }, null],
    ['GPU memory too small', { gpu: { type: 'any', count: 1, memoryBytes: 40 * GiB } }, { gpus: gpus(2, 'T4', 16 * GiB) }, 'needs 1 GPU(s) with >= 40 GiB, has 0'],
    [
      'only GPUs with enough memory count',
      { gpu: { type: 'a100', count: 2, memoryBytes: 60 * GiB } },
      { gpus: [...gpus(1, 'A100', 40 * GiB), ...gpus(1, 'A100', 80 * GiB)] },
      'needs 2 GPU(s) matching "a100" with >= 60 GiB, has 1',
    ],
    ['unknown GPU memory is not enforced', { gpu: { type: 'any', count: 1, memoryBytes: 80 * GiB } }, { gpus: gpus(1, 'A100', null) }, null],
    // enforce_cpu
    ['enforce_cpu on a CPU worker', { enforceCpu: true }, { gpus: [] }, null],
    ['enforce_cpu on a GPU worker', { enforceCpu: true }, { gpus: gpus(1) }, 'enforce_cpu: worker has GPUs'],
    ['a CPU task may use a GPU worker', {}, { gpus: gpus(1) }, null],
    // tags
    ['all tags present', { tags: ['a100', 'eu'] }, { tags: ['eu', 'a100', 'spot'] }, null],
    ['a tag missing', { tags: ['a100', 'eu'] }, { tags: ['a100'] }, 'missing tags: eu'],
    ['tags are case-sensitive', { tags: ['EU', 'us'] }, { tags: ['eu'] }, 'missing tags: EU, us'],
    // first failure wins
    ['several failures report the first', { cpu: 8, memoryBytes: 32 * GiB }, { cores: 4, memoryBytes: 16 * GiB }, 'needs 8 cores, has 4'],
  ])('%s', (_, r, w, expected) => {
    expect(checkFit(req(r), worker(w))).toBe(expected);
  });
});

describe('formatBytes', () => {
  it.each([
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [16 * GiB, '16 GiB'],
    [7.5 * GiB, '7.5 GiB'],
    [1e9, '953.67 MiB'],
    [2 * 1024 * GiB, '2 TiB'],
  ])('%p → %p', (bytes, expected) => {
    expect(formatBytes(bytes)).toBe(expected);
  });
});

describe('isSchedulable', () => {
  it.each([
    ['IDLE', false, true],
    ['IDLE', true, false],
    ['RUNNING', false, false],
    ['STARTING', false, false],
    ['DRAINING', false, false],
    ['', false, false],
  ])('status %p, stale %p → %p', (status, stale, expected) => {
    expect(isSchedulable(worker({ status, stale }))).toBe(expected);
  });
});

describe('candidatesFor', () => {
  const fleet = [
    worker({ id: 'late', order: 5 }),
    worker({ id: 'busy', order: 1, status: 'RUNNING' }),
    worker({ id: 'stale', order: 2, stale: true }),
    worker({ id: 'small', order: 3, cores: 2 }),
    worker({ id: 'failed-before', order: 4 }),
    worker({ id: 'early', order: 0 }),
  ];

  it('keeps idle, live, fitting, non-excluded workers in registration order', () => {
    const ids = candidatesFor(task(req({ cpu: 4 }), ['failed-before']), fleet).map((w) => w.id);
    expect(ids).toEqual(['early', 'late']);
  });

  it('accepts any iterable', () => {
    const byId = new Map(fleet.map((w) => [w.id, w]));
    expect(candidatesFor(task(req({ cpu: 4 })), byId.values()).map((w) => w.id)).toEqual(['early', 'failed-before', 'late']);
  });
});

describe('unschedulableReason', () => {
  const needsTwoGpus = req({ gpu: { type: 'a100', count: 2, memoryBytes: null } });

  it.each<[string, Requirements, WorkerView[], string | null]>([
    ['no workers', req(), [], 'no workers registered'],
    ['only stale workers', req(), [worker({ stale: true }), worker({ id: 'w2', stale: true })], 'no live workers registered (2 stale)'],
    ['a busy worker fits: just wait', needsTwoGpus, [worker({ status: 'RUNNING', gpus: gpus(2) })], null],
    ['a starting worker fits: just wait', needsTwoGpus, [worker({ status: 'STARTING', gpus: gpus(8) })], null],
    [
      'nothing live fits',
      needsTwoGpus,
      [worker({ id: 'w2', order: 1, gpus: gpus(1) }), worker({ id: 'w1', order: 0 }), worker({ id: 'gone', order: 2, stale: true, gpus: gpus(8) })],
      'no registered worker fits: w1: needs 2 GPU(s) matching "a100", has 0; w2: needs 2 GPU(s) matching "a100", has 1',
    ],
    [
      'the listing is capped',
      req({ cpu: 32 }),
      Array.from({ length: 8 }, (_, i) => worker({ id: `w${i}`, order: i, cores: 4 })),
      'no registered worker fits: w0: needs 32 cores, has 4; w1: needs 32 cores, has 4; w2: needs 32 cores, has 4; ' +
        'w3: needs 32 cores, has 4; w4: needs 32 cores, has 4; and 3 more',
    ],
  ])('%s', (_, r, workers, expected) => {
    expect(unschedulableReason(r, workers)).toBe(expected);
  });
});

describe('workerWeight', () => {
  it.each([
    ['GPU worker', gpus(8), 1.0],
    ['CPU-only worker', [], 0.6],
  ])('%s', (_, g, expected) => {
    expect(workerWeight(worker({ gpus: g }), WEIGHTS)).toBe(expected);
  });
});

describe('chooseStrategy', () => {
  const fleet = (gpuWorkers: number, cpuWorkers: number): WorkerView[] => [
    ...Array.from({ length: gpuWorkers }, (_, i) => worker({ id: `g${i}`, order: i, gpus: gpus(1) })),
    ...Array.from({ length: cpuWorkers }, (_, i) => worker({ id: `c${i}`, order: 100 + i })),
  ];

  it.each([
    // parallel, gpu workers, cpu workers, demand, strategy, ratio
    [true, 2, 0, 1, 'data-parallel', 2.0], // exactly HIGH_AVAIL_RATIO
    [true, 4, 0, 2, 'data-parallel', 2.0],
    [true, 2, 1, 1, 'data-parallel', 2.6],
    [true, 0, 10, 3, 'data-parallel', 2.0], // 0.6 × 10 / 3 is 2.0 only up to float error
    [true, 3, 0, 2, 'best-fit', 1.5], // just below the high ratio
    [true, 1, 2, 1, 'data-parallel', 2.2],
    [true, 2, 0, 0, 'data-parallel', 2.0], // demand 0 counts as 1
    [false, 4, 0, 1, 'best-fit', 4.0], // not parallel: never data-parallel
    [true, 2, 0, 4, 'first-fit', 0.5],
    [false, 0, 1, 1, 'first-fit', 0.6], // exactly LOW_AVAIL_RATIO
    [false, 0, 3, 3, 'first-fit', 0.6], // 0.6 × 3 / 3 is 0.6 only up to float error
    [false, 1, 0, 1, 'best-fit', 1.0],
    [false, 0, 2, 2, 'first-fit', 0.6],
    [false, 0, 0, 1, 'first-fit', 0],
  ] as const)('parallel %p, %p GPU + %p CPU workers, demand %p → %s', (parallel, g, c, demand, strategy, ratio) => {
    const choice = chooseStrategy({ parallel, candidates: fleet(g, c), demand, weights: WEIGHTS });
    expect(choice.strategy).toBe(strategy);
    expect(choice.ratio).toBeCloseTo(ratio, 9);
  });

  it('parallel with a high ratio but one candidate is best-fit', () => {
    const weights = { ...WEIGHTS, gpuWeight: 3 };
    expect(chooseStrategy({ parallel: true, candidates: fleet(1, 0), demand: 1, weights })).toEqual({
      strategy: 'best-fit',
      ratio: 3,
      reason: 'ratio 3.00 = available 3.00 / demand 1 >= 2.0 but only 1 candidate(s)',
    });
  });

  it.each([
    [true, 3, 1, 1, 'ratio 3.60 = available 3.60 / demand 1 >= 2.0 with 4 candidates'],
    [false, 0, 1, 1, 'ratio 0.60 = available 0.60 / demand 1 <= 0.6'],
    [false, 1, 0, 1, 'ratio 1.00 = available 1.00 / demand 1 between 0.6 and 2.0'],
    [false, 3, 0, 1, 'ratio 3.00 = available 3.00 / demand 1 >= 2.0 but the task is not parallel'],
  ] as const)('reason: parallel %p, %p GPU + %p CPU, demand %p', (parallel, g, c, demand, reason) => {
    expect(chooseStrategy({ parallel, candidates: fleet(g, c), demand, weights: WEIGHTS }).reason).toBe(reason);
  });
});

describe('best-fit', () => {
  const gpuTask = req({ gpu: { type: 'any', count: 1, memoryBytes: null } });

  it.each<[string, Requirements, WorkerView[], string]>([
    [
      'a GPU task prefers the 1-GPU worker over the 8-GPU one',
      gpuTask,
      [worker({ id: 'big', order: 0, gpus: gpus(8) }), worker({ id: 'small', order: 1, gpus: gpus(1) })],
      'small',
    ],
    ['a CPU task prefers a CPU-only worker over a GPU one', req(), [worker({ id: 'gpu', order: 0, gpus: gpus(1), cores: 4 }), worker({ id: 'cpu', order: 1, cores: 64 })], 'cpu'],
    ['then less GPU memory', gpuTask, [worker({ id: 'a100-80', order: 0, gpus: gpus(1, 'A100', 80 * GiB) }), worker({ id: 't4', order: 1, gpus: gpus(1, 'T4', 16 * GiB) })], 't4'],
    [
      'tighter memory wins',
      req({ memoryBytes: 16 * GiB }),
      [worker({ id: 'm128', order: 0, memoryBytes: 128 * GiB }), worker({ id: 'm32', order: 1, memoryBytes: 32 * GiB })],
      'm32',
    ],
    [
      'a known tight memory fit beats unknown memory',
      req({ memoryBytes: 16 * GiB }),
      [worker({ id: 'unknown', order: 0, memoryBytes: null }), worker({ id: 'm512', order: 1, memoryBytes: 512 * GiB })],
      'm512',
    ],
    [
      'then fewer spare cores',
      req({ cpu: 4 }),
      [worker({ id: 'c32', order: 0, cores: 32 }), worker({ id: 'c8', order: 1, cores: 8 }), worker({ id: 'cx', order: 2, cores: null })],
      'c8',
    ],
    [
      'memory before cores',
      req(),
      [worker({ id: 'small-mem', order: 0, memoryBytes: 8 * GiB, cores: 64 }), worker({ id: 'few-cores', order: 1, memoryBytes: 64 * GiB, cores: 2 })],
      'small-mem',
    ],
    ['then registration order', req(), [worker({ id: 'second', order: 1 }), worker({ id: 'first', order: 0 })], 'first'],
  ])('%s', (_, r, candidates, expected) => {
    expect(bestFit(r, candidates).id).toBe(expected);
    expect([...candidates].sort(compareFit(r))[0].id).toBe(expected);
    expect(groupOf(r, candidates).best()?.id).toBe(expected);
  });

  it('sorts a mixed fleet tightest first', () => {
    const fleet = [
      worker({ id: 'dgx', order: 0, gpus: gpus(8) }),
      worker({ id: 'cpu-big', order: 1, memoryBytes: 256 * GiB }),
      worker({ id: 'one-gpu', order: 2, gpus: gpus(1) }),
      worker({ id: 'cpu-small', order: 3, memoryBytes: 8 * GiB }),
    ];
    expect([...fleet].sort(compareFit(req())).map((w) => w.id)).toEqual(['cpu-small', 'cpu-big', 'one-gpu', 'dgx']);
  });

  it('throws without candidates', () => {
    expect(() => bestFit(req(), [])).toThrow('no candidates');
  });
});

describe('firstFit and pickWorker', () => {
  const candidates = [worker({ id: 'dgx', order: 2, gpus: gpus(8) }), worker({ id: 'early-dgx', order: 0, gpus: gpus(8) }), worker({ id: 'one-gpu', order: 1, gpus: gpus(1) })];
  const gpuTask = req({ gpu: { type: 'any', count: 1, memoryBytes: null } });

  it('firstFit takes the earliest registered', () => {
    expect(firstFit(candidates).id).toBe('early-dgx');
    expect(groupOf(gpuTask, candidates).first()?.id).toBe('early-dgx');
  });

  it.each([
    ['first-fit', 'early-dgx'],
    ['best-fit', 'one-gpu'],
    ['data-parallel', 'one-gpu'], // a parallel task with fewer than two shards runs as one, best-fit
  ] as const)('%s → %s', (strategy, expected) => {
    expect(pickWorker(strategy, gpuTask, candidates).id).toBe(expected);
  });

  it('firstFit throws without candidates', () => {
    expect(() => firstFit([])).toThrow('no candidates');
  });
});
