import YAML from 'yaml';

/** A task document as YAML, with small resource requests every test worker satisfies. */
export function taskDoc(name: string, spec: Record<string, unknown>): string {
  return YAML.stringify({
    apiVersion: 'mloc/v1',
    kind: 'TestTask',
    metadata: { name },
    spec: { resources: { replicas: 1, hardware: { cpu: '1', memory: '256Mi' } }, ...spec },
  });
}

/** Simulated hardware for WORKER_HARDWARE_JSON: one NVIDIA L4, or none. */
export const GPU_L4_JSON = JSON.stringify({
  gpu: { driver_version: '550.54', cuda_version: '12.4', gpus: [{ index: 0, name: 'NVIDIA L4', uuid: 'GPU-sim-0', memory_bytes: 24 * 2 ** 30 }] },
});
export const CPU_ONLY_JSON = JSON.stringify({ gpu: null });
