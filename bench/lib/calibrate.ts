/**
 * How fast the machine is right now, so that runs on different days can be compared. The bench's
 * machines (small VMs) change speed between sessions, up to 2-3× for the same code, which no
 * figure of the orchestrator alone can tell apart from a change in the code.
 *
 * - `calibrate()` times a fixed single-threaded workload shaped like the orchestrator's own work
 *   (JSON encode and decode of task records, string building, Map churn): the median of 5 rounds,
 *   in ms, in a fresh Node process (the runner's own heap would otherwise weigh on it). Lower is
 *   faster; the ratio of two runs' calibrations is their machines' speed ratio.
 * - `cpuTimes()` reads /proc/stat, and `stolenShare()` says what share of the CPU time between two
 *   readings the hypervisor gave to someone else (steal), when the kernel reports it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const ROUNDS = 5;
const ITERATIONS = 20_000;

function workload(): number {
  const byId = new Map<string, { id: string; status: string; doc: string }>();
  let checksum = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const id = `task-${i.toString(36)}-${(i * 2654435761) % 1e9}`;
    const doc = JSON.stringify({
      apiVersion: 'mloc/v1',
      kind: 'Task',
      metadata: { name: `bench-${i}`, labels: { team: 'perf', run: String(i & 15) } },
      spec: { task_type: 'inference', priority: i % 7, resources: { cpu: 1, memory: '1Gi', gpus: 0 }, data: { prompts: ['a', 'b', 'c'] } },
    });
    const back = JSON.parse(doc) as { spec: { priority: number } };
    byId.set(id, { id, status: back.spec.priority > 3 ? 'PENDING' : 'DISPATCHED', doc });
    if (byId.size > 1000) byId.delete(byId.keys().next().value as string);
    checksum += doc.length + back.spec.priority;
  }
  return checksum;
}

/** Median wall time of the workload in a fresh Node process, in ms (NaN if that process fails). */
export function calibrate(): number {
  const r = spawnSync(process.execPath, [__filename], { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? Number(r.stdout.trim()) : NaN;
}

/** Median wall time of the workload in this process, in ms (after one warm-up round). */
function calibrateHere(): number {
  workload();
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    workload();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(ROUNDS / 2)] * 10) / 10;
}

export interface CpuTimes {
  total: number;
  steal: number;
}

/** All CPUs' jiffies from /proc/stat, or null where there is none. */
export function cpuTimes(): CpuTimes | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
  } catch {
    return null;
  }
}

/** Share (0..1) of the CPU time between two readings that was stolen, or null. */
export function stolenShare(a: CpuTimes | null, b: CpuTimes | null): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return (b.steal - a.steal) / (b.total - a.total);
}

if (require.main === module) process.stdout.write(`${calibrateHere()}\n`);
