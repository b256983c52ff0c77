/**
 * The task documents the bench submits, as block YAML (what users write). Each is small but
 * realistic: resources, a model, data and an output destination are carried to the worker.
 * Several documents in one request are joined with `---` (created together, all or none).
 */

export interface DocOptions {
  name: string;
  priority?: number;
  taskType?: string;
  cpu?: number;
  memory?: string;
  gpu?: boolean;
  /** Data-parallel fan-out with this many shards at most. */
  maxShards?: number;
  /** Inline prompts (carved per shard when the job fans out). */
  prompts?: number;
  /** Three chained stages named s1, s2, s3: the tasks are `<name>:s1`, ... */
  stages?: number;
}

const q = (s: string) => JSON.stringify(s);

export function taskYaml(o: DocOptions): string {
  const prompts = Array.from({ length: o.prompts ?? 2 }, (_, i) => `      - ${q(`Question ${i + 1}: what is ${i} + ${i}?`)}`).join('\n');
  const lines = ['apiVersion: mloc/v1', 'kind: InferenceTask', 'metadata:', `  name: ${q(o.name)}`, '  owner: bench', 'spec:', `  taskType: ${o.taskType ?? 'echo'}`];
  if (o.priority !== undefined) lines.push(`  priority: ${o.priority}`);
  if (o.maxShards) lines.push('  parallel:', '    enabled: true', `    max_shards: ${o.maxShards}`);
  lines.push('  resources:', '    replicas: 1', '    hardware:', `      cpu: "${o.cpu ?? 1}"`, `      memory: ${o.memory ?? '1Gi'}`);
  if (o.gpu) lines.push('      gpu: {type: any, count: 1}');
  lines.push(
    '  model:',
    '    source: {type: huggingface, identifier: meta-llama/Llama-3.2-1B-Instruct}',
    '  inference: {max_tokens: 64, temperature: 0.2}',
    '  data:',
    '    prompts:',
    prompts,
    '  output:',
    '    destination: {type: local, path: /tmp/mloc-bench-results}',
  );
  if (o.stages) {
    lines.push('  stages:');
    for (let s = 1; s <= o.stages; s++) lines.push(`    - name: s${s}`, `      spec: {inference: {temperature: 0.${s}}}`);
  }
  return lines.join('\n') + '\n';
}

export function multiDoc(docs: string[]): string {
  return docs.join('---\n');
}

/** Stage number of a pipeline task name `<base>:s<k>`, or null. */
export function stageOf(name: string): { base: string; stage: number } | null {
  const m = /^(.*):s(\d+)$/.exec(name);
  return m ? { base: m[1], stage: Number(m[2]) } : null;
}
