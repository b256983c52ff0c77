export type { WorkerView } from '../../contracts/worker-view';

export interface SchedulerWeights {
  cpuOnlyWeight: number; // CPU_ONLY_WEIGHT, 0.6
  gpuWeight: number; // GPU_WEIGHT, 1.0
  highAvailRatio: number; // HIGH_AVAIL_RATIO, 2.0
  lowAvailRatio: number; // LOW_AVAIL_RATIO, 0.6
  maxAutoShards: number; // MAX_AUTO_SHARDS, 8
}

export type Strategy = 'data-parallel' | 'first-fit' | 'best-fit';
