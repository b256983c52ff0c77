/**
 * What this machine has, in the `hardware_json` shape of PROTOCOL section 1. Placement reads it:
 * cores, memory, GPUs (names and memory). WORKER_HARDWARE_JSON is deep-merged over the result so a
 * laptop can pose as a GPU machine in demos and tests.
 */
import { execFile } from 'node:child_process';
import { arch, availableParallelism, cpus, networkInterfaces, totalmem } from 'node:os';
import type { GpuInfo, HardwareInfo } from '../contracts/protocol';
import { deepMerge, PlainObject } from '../contracts/plain-data';

export interface DetectOptions {
  /** The nvidia-smi binary (tests point it at a fake one). */
  nvidiaSmi?: string;
  /** nvidia-smi can hang on a sick driver: never wait longer than this. */
  timeoutMs?: number;
}

const MIB = 1024 * 1024;
const GPU_QUERY = 'index,name,uuid,memory.total,driver_version';

export async function detectHardware(opts: DetectOptions = {}): Promise<HardwareInfo> {
  const cores = cpus();
  return {
    // cpus() can be empty in some containers; availableParallelism() always answers.
    cpu: { logical_cores: cores.length || availableParallelism(), model: cores[0]?.model?.trim() || arch() },
    memory: { total_bytes: totalmem() },
    gpu: await detectGpus(opts.nvidiaSmi ?? 'nvidia-smi', opts.timeoutMs ?? 5000),
    network: { ip: primaryIp() },
  };
}

/** The detected hardware with WORKER_HARDWARE_JSON merged over it (mappings key by key, lists replaced). */
export function applyOverride(detected: HardwareInfo, override: PlainObject | null): HardwareInfo {
  return override ? (deepMerge(detected as PlainObject, override) as HardwareInfo) : detected;
}

/**
 * GPUs from nvidia-smi. No nvidia-smi, or one that fails (no driver loaded), means no GPUs: a CPU
 * machine is normal, not an error.
 */
async function detectGpus(binary: string, timeoutMs: number): Promise<HardwareInfo['gpu']> {
  const csv = await run(binary, [`--query-gpu=${GPU_QUERY}`, '--format=csv,noheader,nounits'], timeoutMs);
  if (csv === null) return null;
  const { gpus, driverVersion } = parseGpuCsv(csv);
  if (gpus.length === 0) return null;
  // The CUDA version is only printed in nvidia-smi's banner, not available as a query field.
  const banner = await run(binary, [], timeoutMs);
  const cuda = banner ? (/CUDA Version:\s*([\d.]+)/.exec(banner)?.[1] ?? null) : null;
  return { driver_version: driverVersion, cuda_version: cuda, gpus };
}

/** Parses `index, name, uuid, memory.total [MiB], driver_version` lines. Pure. */
export function parseGpuCsv(csv: string): { gpus: GpuInfo[]; driverVersion: string | null } {
  const gpus: GpuInfo[] = [];
  let driverVersion: string | null = null;
  for (const line of csv.split('\n')) {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length < 5 || !/^\d+$/.test(cells[0])) continue;
    const [index, name, uuid, memoryMib, driver] = cells;
    const mib = Number(memoryMib);
    gpus.push({ index: Number(index), name, uuid, memory_bytes: Number.isFinite(mib) && memoryMib !== '' ? mib * MIB : null });
    driverVersion ??= driver || null;
  }
  return { gpus, driverVersion };
}

/** stdout of a command, or null when it is missing, fails or times out. */
function run(binary: string, args: string[], timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(binary, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => resolve(err ? null : stdout));
  });
}

/** The first external IPv4 address, else the first external IPv6 one, else null. */
function primaryIp(): string | null {
  const addresses = Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal);
  return (addresses.find((a) => a.family === 'IPv4') ?? addresses[0])?.address ?? null;
}
