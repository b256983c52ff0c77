/**
 * What the demo submits: a sharded inference job, a three-stage pipeline and a graph. Every task
 * asks for the demo's tag, so on a shared Redis (REDIS_URL set) it can only land on demo workers.
 */
import YAML from 'yaml';

export const DEMO_TAG = 'mloc-demo';

const resources = (extra: Record<string, unknown> = {}) => ({ replicas: 1, hardware: { cpu: '1', memory: '256Mi', ...extra }, tags: [DEMO_TAG] });

const doc = (kind: string, name: string, spec: Record<string, unknown>) => YAML.stringify({ apiVersion: 'mloc/v1', kind, metadata: { name, owner: 'demo' }, spec });

/**
 * Data-parallel needs idle capacity of at least twice the demand: with nothing else queued,
 * 1 GPU worker (weight 1.0) + 2 CPU-only ones (0.6 each) = 2.2, so no GPU is asked for here.
 */
export function shardedInferenceJob(): string {
  return doc('InferenceTask', 'demo-answers', {
    taskType: 'inference',
    resources: resources(),
    parallel: { enabled: true, max_shards: 3 },
    model: { name: 'stub-llm' },
    data: {
      prompts: [
        'What does a scheduler do?',
        'Why shard an inference job?',
        'What is a heartbeat?',
        'Name a prime number.',
        'What is 2 + 2?',
        'What is Redis pub/sub?',
        'Why retry on another worker?',
        'What is best-fit placement?',
        'What is a pipeline stage?',
      ],
    },
    inference: { max_tokens: 64, temperature: 0, concurrency: 2, system_prompt: 'Answer in one sentence.' },
  });
}

/** Three stages, strictly in order; the middle one needs the (simulated) L4 GPU. */
export function pipelineJob(): string {
  return doc('TrainingTask', 'demo-pipeline', {
    taskType: 'echo',
    resources: resources(),
    stages: [
      { name: 'prepare', spec: { data: { items: ['raw/2026-11-27.csv', 'raw/2026-11-28.csv'] }, echo: { delaySec: 1 } } },
      { name: 'train', spec: { resources: { hardware: { gpu: { type: 'L4', count: 1 } } }, data: { items: ['checkpoint-1'] }, echo: { delaySec: 1.5 } } },
      { name: 'evaluate', spec: { taskType: 'inference', model: { name: 'stub-llm' }, data: { prompts: ['Summarise the training run.'] } } },
    ],
  });
}

/** fetch → (tokenize ‖ stats) → publish; `tokenize` runs a real command (argv, no shell). */
export function graphJob(nodeBinary: string): string {
  return doc('RetrievalTask', 'demo-graph', {
    taskType: 'echo',
    resources: resources(),
    graph: {
      nodes: [
        { name: 'fetch', spec: { data: { items: ['doc-1', 'doc-2', 'doc-3'] }, echo: { delaySec: 0.5 } } },
        {
          name: 'tokenize',
          dependsOn: ['fetch'],
          spec: { taskType: 'command', command: [nodeBinary, '-e', 'console.log("tokenized 3 documents in", process.cwd())'] },
        },
        { name: 'stats', dependsOn: ['fetch'], spec: { data: { items: [{ documents: 3 }] }, echo: { delaySec: 1 } } },
        { name: 'publish', dependsOn: ['tokenize', 'stats'], spec: { data: { items: ['index-v1'] } } },
      ],
    },
  });
}
