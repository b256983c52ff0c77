import type { StoredPlacement, TaskDocument } from '../../src/contracts/stored-task';

/** A minimal task document and placement for tasks the script tests create through the codec. */
export const TEST_DOC: TaskDocument = { apiVersion: 'v1', kind: 'K', metadata: { name: 'test' }, spec: {} };
export const TEST_PLACEMENT: StoredPlacement = {
  requirements: { replicas: 1, cpu: 0, memoryBytes: 0, gpu: null, enforceCpu: false, tags: [] },
  parallel: false,
  maxShards: null,
};
