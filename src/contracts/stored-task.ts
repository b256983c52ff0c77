/**
 * The stored task as more than one module reads it: the task document (as stored and sent to
 * workers), the placement requirements derived from it at submission, and what the submit script
 * takes to dispatch a new task itself. Pure shapes, Nest-free.
 */
import type { UpstreamRefs } from './upstream-refs';

/** A task document as stored and sent to workers (after stage merging). */
export interface TaskDocument {
  apiVersion: string;
  kind: string;
  metadata: { name: string; owner?: string; annotations?: Record<string, unknown>; [k: string]: unknown };
  spec: Record<string, unknown>;
  [k: string]: unknown;
}

export interface GpuRequirement {
  /** "any" or a lower-cased substring of the GPU name. */
  type: string;
  /** >= 1 (a gpu block with count 0 becomes `gpu: null`). */
  count: number;
  /** Optional per-GPU memory requirement (`gpu.memory`), bytes. */
  memoryBytes: number | null;
}

/** The placement-relevant part of a task, derived from `spec` once at submission. */
export interface Requirements {
  replicas: number;
  cpu: number;
  memoryBytes: number;
  gpu: GpuRequirement | null;
  enforceCpu: boolean;
  /** `spec.resources.tags`: a worker must carry every one of them. */
  tags: string[];
  /**
   * `spec.taskType`: a worker that advertises its executors must have one for it (TASK-SPEC
   * section 4). Absent in records written before it was stored: then any worker runs it.
   */
  taskType?: string;
}

/** What placement needs of a queued task, stored once at submission in the `req` field. */
export interface StoredPlacement {
  requirements: Requirements;
  parallel: boolean;
  maxShards: number | null;
  /** Only for a task whose spec references upstream results (`${prev.result.x}`): which tasks, resolved at dispatch. */
  upstream?: UpstreamRefs;
}

/** What the submit script needs to dispatch a new task itself (submit-tasks.lua, `dispatch`). */
export interface DirectDispatch {
  id: string;
  worker: string;
  topic: string;
  strategy: string;
  reason: string;
  cutoff: string;
  ack_deadline_ms: number;
}
