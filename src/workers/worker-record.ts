import { isStale, type StoredWorker } from '../contracts/worker-view';

export interface WorkerResponse {
  worker_id: string;
  status: string;
  last_seen: string | null;
  started_at: string | null;
  pid: number | null;
  env: unknown;
  hardware: unknown;
  tags: unknown;
  stale: boolean;
  /** Drained by an operator (POST /workers/{id}/drain): gets no new task; `status` stays what the worker says. */
  draining: boolean;
  /** `extra_*` fields of the hash (task_id, last_task, ...). */
  extra: Record<string, string>;
  /** The task the orchestrator has this worker hold, if any. */
  current_task: string | null;
}

function parseJson(raw: string | undefined): unknown {
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

/** Maps a registry entry to the API shape. Pure. */
export function toWorkerResponse(w: StoredWorker, nowMs: number, heartbeatTtlSec: number): WorkerResponse {
  const h = w.hash;
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (k.startsWith('extra_')) extra[k.slice(6)] = v;
  const pid = h.pid !== undefined && /^\d+$/.test(h.pid) ? Number(h.pid) : null;
  return {
    worker_id: h.worker_id || w.id,
    status: h.status ?? 'UNKNOWN',
    last_seen: h.last_seen ?? null,
    started_at: h.started_at ?? null,
    pid,
    env: parseJson(h.env_json),
    hardware: parseJson(h.hardware_json),
    tags: parseJson(h.tags_json) ?? [],
    stale: isStale(h.last_seen, w.heartbeatAlive, nowMs, heartbeatTtlSec),
    draining: w.draining === true,
    extra,
    current_task: w.heldTask,
  };
}
