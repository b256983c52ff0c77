import type { Requirements } from '../../tasks/spec/task-draft';

/** What placement knows of one worker: a snapshot, parsed once from the registry hash. */
export interface WorkerView {
  id: string;
  /** Registry status (IDLE, RUNNING, STARTING, anything else = not schedulable). */
  status: string;
  /** Heartbeat key missing or last_seen older than HEARTBEAT_TTL_SEC. */
  stale: boolean;
  /** Logical cores, null when the worker does not report them (then not enforced). */
  cores: number | null;
  /** Total memory in bytes, null when unknown (then not enforced). */
  memoryBytes: number | null;
  gpus: { name: string; memoryBytes: number | null }[];
  tags: string[];
  /** Registration order, a stable tiebreak (lower = registered earlier). */
  order: number;
}

/** A task as placement sees it. */
export interface PlacementTask {
  id: string;
  requirements: Requirements;
  parallel: boolean;
  maxShards: number | null;
  /** Workers excluded for this attempt (the one that just failed the task). */
  excludeWorkers: string[];
}

export interface SchedulerWeights {
  cpuOnlyWeight: number; // CPU_ONLY_WEIGHT, 0.6
  gpuWeight: number; // GPU_WEIGHT, 1.0
  highAvailRatio: number; // HIGH_AVAIL_RATIO, 2.0
  lowAvailRatio: number; // LOW_AVAIL_RATIO, 0.6
  maxAutoShards: number; // MAX_AUTO_SHARDS, 8
}

export type Strategy = 'data-parallel' | 'first-fit' | 'best-fit';
