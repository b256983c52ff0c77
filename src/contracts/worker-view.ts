/**
 * A worker as the registry stores it (PROTOCOL.md section 1) and as placement sees it, and the one
 * staleness rule (PROTOCOL.md section 3). Shared by the workers module (the API's `stale`, cleanup)
 * and the scheduler (its worker index). Workers are written by others and any field may be
 * missing, null or malformed: parsing never throws, it treats bad data as unknown. Pure.
 */
import { parseMemoryQuantity } from './quantities';

/** One registry entry as read from Redis (the workers module's repository reads it). */
export interface StoredWorker {
  id: string;
  hash: Record<string, string>;
  heartbeatAlive: boolean;
  /**
   * When the heartbeat key expires, on this process's clock (the key's PTTL added to the time the
   * read was sent); null when the key is gone or has no expiry. The orchestrator's own view of the
   * worker's liveness, whatever the worker's clock says in `last_seen`.
   */
  heartbeatExpiresAtMs: number | null;
  /** The task this worker holds for us, if any. */
  heldTask: string | null;
  /** It let a dispatch time out and has not been heard from since. */
  suspect: boolean;
  /** Drained by an operator (POST /workers/{id}/drain): no new task until undrained. Absent: not drained. */
  draining?: boolean;
}

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
  /**
   * The task types it runs, as advertised in `env_json.executors` (WORKER_EXECUTORS); null or absent
   * when it advertises none (the v1 fleet): then a candidate for every type. Set by the worker index.
   */
  executors?: string[] | null;
  /** Task types it reported it has no executor for (learned from its failure reports; the index keeps them). */
  refused?: string[];
}

export interface WorkerViewOptions {
  /** Whether the `worker:{id}:hb` key still exists. */
  heartbeatAlive: boolean;
  nowMs: number;
  heartbeatTtlSec: number;
  /** Registration order, the stable tiebreak. */
  order: number;
}

export function toWorkerView(id: string, hash: Record<string, string>, opts: WorkerViewOptions): WorkerView {
  const hardware = asObject(parseJson(hash.hardware_json));
  return {
    id,
    status: hash.status ?? '',
    stale: isStale(hash.last_seen, opts.heartbeatAlive, opts.nowMs, opts.heartbeatTtlSec),
    cores: parseCores(asObject(hardware.cpu).logical_cores),
    memoryBytes: parseMemoryQuantity(asObject(hardware.memory).total_bytes),
    gpus: parseGpus(asObject(hardware.gpu).gpus),
    tags: parseTags(parseJson(hash.tags_json)),
    order: opts.order,
  };
}

/**
 * PROTOCOL.md section 3: stale when the heartbeat key is gone, or `last_seen`
 * is missing, unparseable or older than the TTL. A `last_seen` in the future
 * (clock skew between hosts) is not stale.
 */
export function isStale(lastSeenIso: string | undefined, heartbeatAlive: boolean, nowMs: number, ttlSec: number): boolean {
  if (!heartbeatAlive || !lastSeenIso) return true;
  const lastSeenMs = Date.parse(lastSeenIso);
  if (Number.isNaN(lastSeenMs)) return true;
  return nowMs - lastSeenMs > ttlSec * 1000;
}

type Json = Record<string, unknown>;

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The value if it is a JSON object, else `{}` so that property reads below stay simple. */
function asObject(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function parseCores(value: unknown): number | null {
  const cores = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof cores === 'number' && Number.isFinite(cores) && cores >= 0 ? cores : null;
}

function parseGpus(value: unknown): WorkerView['gpus'] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry) => {
    // A bare string still says a GPU is there; anything else is not a GPU entry.
    if (typeof entry === 'string') return [{ name: entry, memoryBytes: null }];
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return [];
    const gpu = entry as Json;
    return [{ name: typeof gpu.name === 'string' ? gpu.name : '', memoryBytes: parseGpuMemory(gpu) }];
  });
}

/** The first of the memory fields of PROTOCOL.md section 1 that parses, else null (unknown). */
function parseGpuMemory(gpu: Json): number | null {
  const memory = asObject(gpu.memory);
  const variants = [memory.total_bytes, gpu.memory_bytes, gpu.vram_bytes, memory.total, gpu.vram];
  for (const variant of variants) {
    const bytes = parseMemoryQuantity(variant);
    if (bytes !== null) return bytes;
  }
  return null;
}

function parseTags(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((t): t is string => typeof t === 'string') : [];
}
