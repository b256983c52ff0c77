import * as fs from 'fs';
import * as path from 'path';
import { stringify } from 'yaml';
import { deepMerge } from '../../contracts/plain-data';
import { parseSubmission } from './parse-submission';
import { SpecError, TaskDraft } from './task-draft';

const EXAMPLES_DIR = path.resolve(__dirname, '../../../examples');
const Gi = 1024 ** 3;

type Doc = Record<string, unknown>;

/** A minimal valid task document; tests change one field at a time. */
const BASE: Doc = {
  apiVersion: 'mloc/v1',
  kind: 'InferenceTask',
  metadata: { name: 'base', owner: 'alice' },
  spec: {
    taskType: 'inference',
    resources: { replicas: 1, hardware: { cpu: '4', memory: '8Gi' } },
  },
};

const REMOVE = Symbol('remove');

/** A copy of `doc` with the dotted `field` set to `value` (or removed), creating mappings on the way. */
function withField(doc: Doc, field: string, value: unknown): Doc {
  const copy = structuredClone(doc);
  const keys = field.split('.');
  const last = keys.pop() as string;
  let target = copy;
  for (const key of keys) {
    target[key] = typeof target[key] === 'object' && target[key] !== null ? target[key] : {};
    target = target[key] as Doc;
  }
  if (value === REMOVE) delete target[last];
  else target[last] = value;
  return copy;
}

function withSpec(extra: Doc, doc: Doc = BASE): Doc {
  return deepMerge(doc, { spec: extra });
}

function yamlOf(...docs: Doc[]): string {
  return docs.map((doc) => stringify(doc)).join('---\n');
}

function parseDocs(...docs: Doc[]): TaskDraft[] {
  return parseSubmission(yamlOf(...docs));
}

/** The SpecError that `run` throws, as plain data so that a failing assertion shows both fields. */
function refusal(run: () => unknown): { path: string; message: string } {
  try {
    run();
  } catch (err) {
    if (err instanceof SpecError) return { path: err.path, message: err.message };
    throw err;
  }
  throw new Error('expected a SpecError, but the document was accepted');
}

function readExample(relative: string): string {
  const file = path.join(EXAMPLES_DIR, relative);
  if (!fs.existsSync(file)) {
    throw new Error(`Example ${relative} not found: expected it in ${EXAMPLES_DIR}`);
  }
  return fs.readFileSync(file, 'utf8');
}

function summary(drafts: TaskDraft[]): Array<[string, string, string[]]> {
  return drafts.map((draft) => [draft.key, draft.name, draft.dependsOnKeys]);
}

describe('the example documents (examples/)', () => {
  const exampleFiles = fs.existsSync(EXAMPLES_DIR) ? fs.readdirSync(EXAMPLES_DIR).filter((file) => file.endsWith('.yaml')) : [];

  it('finds the example documents', () => {
    expect(exampleFiles.length).toBeGreaterThan(0);
  });

  it.each(exampleFiles)('accepts %s', (file) => {
    const drafts = parseSubmission(readExample(file));
    expect(drafts.length).toBeGreaterThan(0);
    for (const draft of drafts) {
      expect(draft.doc.spec).not.toHaveProperty('stages');
      expect(draft.doc.spec).not.toHaveProperty('graph');
      expect(JSON.parse(JSON.stringify(draft.doc))).toEqual(draft.doc);
    }
  });

  it('pipeline-stages.yaml: three stages, each waiting for the previous one', () => {
    const drafts = parseSubmission(readExample('pipeline-stages.yaml'));
    expect(summary(drafts)).toEqual([
      ['d0/draft', 'draft-refine-format:draft', []],
      ['d0/refine', 'draft-refine-format:refine', ['d0/draft']],
      ['d0/format', 'draft-refine-format:format', ['d0/refine']],
    ]);
    const [draft, refine, format] = drafts;
    expect(draft.doc.metadata.name).toBe('draft-refine-format:draft');
    expect(refine.requirements).toMatchObject({ cpu: 8, memoryBytes: 32 * Gi, gpu: { type: 'any', count: 1 } });
    expect(format.requirements).toMatchObject({ cpu: 4, memoryBytes: 8 * Gi, gpu: null });
    // The stage's inference block is merged key by key over the base one.
    expect(format.doc.spec.inference).toEqual({
      max_tokens: 128,
      temperature: 0.2,
      system_prompt: 'Return strict JSON with question, answer, rationale.',
    });
    expect(drafts.every((d) => d.owner === 'alice' && d.taskType === 'inference')).toBe(true);
  });

  it('dag-graph.yaml: four nodes with their own edges only', () => {
    const drafts = parseSubmission(readExample('dag-graph.yaml'));
    expect(summary(drafts)).toEqual([
      ['d0/prepare', 'sft-then-eval:prepare', []],
      ['d0/train-lora', 'sft-then-eval:train-lora', ['d0/prepare']],
      ['d0/train-full', 'sft-then-eval:train-full', ['d0/prepare']],
      ['d0/evaluate', 'sft-then-eval:evaluate', ['d0/train-lora', 'd0/train-full']],
    ]);
    expect(drafts.map((d) => d.taskType)).toEqual(['echo', 'lora_sft', 'sft', 'inference']);
    // prepare overrides the base a100 with a count-0 block: no GPU needed.
    expect(drafts[0].requirements).toMatchObject({ cpu: 2, memoryBytes: 2 * Gi, gpu: null });
    expect(drafts[1].requirements.gpu).toEqual({ type: 'a100', count: 1, memoryBytes: null });
  });

  it('gpu-dpo-training.yaml: placement, priority and retry fields', () => {
    const [draft] = parseSubmission(readExample('gpu-dpo-training.yaml'));
    expect(draft).toMatchObject({
      key: 'd0',
      name: 'llama-1b-dpo',
      owner: 'dave',
      taskType: 'dpo',
      priority: 10,
      maxRetries: 2,
      backoffSec: 30,
      parallel: false,
      dependsOnKeys: [],
      dependsOnIds: [],
    });
    expect(draft.requirements).toEqual({
      replicas: 1,
      cpu: 16,
      memoryBytes: 64 * Gi,
      gpu: { type: 'a100', count: 2, memoryBytes: null },
      enforceCpu: false,
      tags: ['a100'],
      taskType: 'dpo',
    });
  });

  it('inference-parallel.yaml: data-parallel with max_shards', () => {
    const [draft] = parseSubmission(readExample('inference-parallel.yaml'));
    expect(draft).toMatchObject({ parallel: true, maxShards: 4, maxRetries: null, backoffSec: null, priority: 0 });
  });

  it('inference-single.yaml: CPU-only task', () => {
    const [draft] = parseSubmission(readExample('inference-single.yaml'));
    expect(draft.requirements).toEqual({
      replicas: 1,
      cpu: 4,
      memoryBytes: 8 * Gi,
      gpu: null,
      enforceCpu: true,
      tags: [],
      taskType: 'inference',
    });
    expect(draft.doc.metadata.annotations).toEqual({
      description: 'Text generation on CPU with a small instruct model',
    });
  });

  it.each([
    ['bad/alias-bomb.yaml', '', /^YAML aliases expand beyond the allowed limit/],
    ['bad/cycle.yaml', 'spec.graph.nodes', /^spec\.graph\.nodes: dependency cycle a -> c -> b -> a$/],
    ['bad/gpu-without-count.yaml', 'spec.resources.hardware.gpu.count', /^Missing required field: spec\.resources\.hardware\.gpu\.count$/],
    ['bad/missing-memory.yaml', 'spec.resources.hardware.memory', /^Missing required field: spec\.resources\.hardware\.memory$/],
  ])('refuses %s', (file, expectedPath, expectedMessage) => {
    const error = refusal(() => parseSubmission(readExample(file)));
    expect(error.path).toBe(expectedPath);
    expect(error.message).toMatch(expectedMessage);
  });
});

describe('YAML handling', () => {
  it.each([
    ['syntax error', 'apiVersion: mloc/v1\nspec: [unclosed\nkind: x\n', /^Invalid YAML: .*\(line \d+, column \d+\)$/],
    ['duplicate key', 'a: 1\na: 2\n', /^Invalid YAML: .*unique.*\(line 2, column 1\)$/],
    ['unresolved alias', 'a: *nowhere\n', /^Invalid YAML: /],
    ['empty text', '', /^Empty task document$/],
    ['only comments', '# nothing here\n', /^Empty task document$/],
    ['only separators', '---\n---\n', /^Empty task document$/],
    ['a list', '- a\n- b\n', /^Task document must be a mapping$/],
    ['a scalar', 'hello\n', /^Task document must be a mapping$/],
  ])('refuses %s', (_name, text, expectedMessage) => {
    const error = refusal(() => parseSubmission(text));
    expect(error.path).toBe('');
    expect(error.message).toMatch(expectedMessage);
  });

  // Our linear duplicate-key check must refuse exactly what yaml's own (quadratic) one refused,
  // at the same position: these expectations are what yaml reported before the change.
  it.each([
    ['a: 1\na: 2\n', '(line 2, column 1)'],
    ['x: {a: 1, a: 2}\n', '(line 1, column 11)'],
    ['x:\n  - {b: 1}\n  - c: 1\n    c: 2\n', '(line 4, column 5)'],
    ['~: 1\nnull: 2\n', '(line 2, column 1)'],
    ['a:\n  b: 1\n  b: 2\na: 3\n', '(line 3, column 3)'],
    ['anchored: &x {p: 1, p: 2}\n', '(line 1, column 21)'],
  ])('refuses the duplicate key in %j where yaml did', (text, where) => {
    expect(refusal(() => parseSubmission(text))).toEqual({ path: '', message: `Invalid YAML: Map keys must be unique ${where}` });
  });

  it.each([['? [a]\n: 1\n? [a]\n: 2\n'], ['.nan: 1\n.nan: 2\n'], ['1: a\n"1": b\n'], ['&k a: 1\nb: *k\n']])('does not call %j a duplicate, as yaml did not', (text) => {
    expect(refusal(() => parseSubmission(text)).message).toBe('Missing required field: spec');
  });

  const nested = (depth: number) => `${yamlOf(BASE).trimEnd()}\nextra: ${'['.repeat(depth)}1${']'.repeat(depth)}\n`;

  it('accepts reasonable nesting', () => {
    expect(parseSubmission(nested(90))).toHaveLength(1);
  });

  // Several very deep documents in one process used to abort node itself
  // (fatal out-of-memory in V8's RegExp compiler) rather than fail the request.
  it.each([[5000], [20000], [5000], [100000]])('refuses nesting %d deep without crashing the process', (depth) => {
    expect(refusal(() => parseSubmission(nested(depth)))).toEqual({
      path: '',
      message: 'Task document is nested too deeply (more than 100 levels) (line 13, column 107)',
    });
  });

  it('accepts a few ordinary aliases', () => {
    const text = [
      'hardware: &hw {cpu: "2", memory: 4Gi}',
      'apiVersion: mloc/v1',
      'kind: InferenceTask',
      'metadata: {name: aliased}',
      'spec:',
      '  taskType: inference',
      '  resources: {replicas: 1, hardware: *hw}',
      '  stages:',
      '    - {name: one, spec: {resources: {hardware: *hw}}}',
      '    - {name: two, spec: {resources: {hardware: *hw}}}',
    ].join('\n');
    const drafts = parseSubmission(text);
    expect(drafts.map((d) => d.requirements.memoryBytes)).toEqual([4 * Gi, 4 * Gi]);
  });

  it.each([
    ['a mapping that contains itself', 'spec: &s {taskType: echo, again: *s}'],
    ['a list that contains itself', 'spec:\n  taskType: echo\n  loop: &l [1, *l]'],
    ['a cycle through stages', 'spec: &s\n  taskType: echo\n  stages: [{name: a, spec: *s}]'],
  ])('refuses %s (an alias inside its own anchor) with a clear message', (_name, body) => {
    const text = `apiVersion: mloc/v1\nkind: InferenceTask\nmetadata: {name: cyclic}\n${body}\n`;
    const error = refusal(() => parseSubmission(text));
    expect(error).toEqual({ path: '', message: 'YAML alias refers to a node that contains it (a cycle): not task data' });
  });

  it('honours maxAliasExpansion', () => {
    const text = `${yamlOf(BASE).trimEnd()}\nextra: &x [1]\nmore: *x\n`;
    expect(parseSubmission(text)).toHaveLength(1);
    const error = refusal(() => parseSubmission(text, { maxAliasExpansion: 0 }));
    expect(error.message).toMatch(/^YAML aliases expand beyond the allowed limit/);
  });

  it('honours maxDocuments', () => {
    const text = yamlOf(BASE, BASE, BASE);
    expect(parseSubmission(text, { maxDocuments: 3 })).toHaveLength(3);
    const error = refusal(() => parseSubmission(text, { maxDocuments: 2 }));
    expect(error).toEqual({ path: '', message: 'Too many task documents: at most 2 per submission' });
  });

  it('keeps YAML 1.1 tags as plain data', () => {
    const text = `%YAML 1.1\n---\n${yamlOf(BASE).trimEnd()}\nstamp: !!timestamp 2001-12-14\nflag: yes\n`;
    const [draft] = parseSubmission(text);
    expect(draft.doc.stamp).toBe('2001-12-14');
    expect(draft.doc.flag).toBe('yes');
  });

  it('keeps a __proto__ key as data without touching prototypes', () => {
    const text = `${yamlOf(BASE).trimEnd()}\n__proto__: {polluted: true}\n`;
    const [draft] = parseSubmission(text);
    expect(Object.getPrototypeOf(draft.doc)).toBe(Object.prototype);
    expect(({} as Doc).polluted).toBeUndefined();
  });
});

describe('validation of a document', () => {
  it.each<[string, unknown, string, string]>([
    ['apiVersion', REMOVE, 'apiVersion', 'Missing required field: apiVersion'],
    ['apiVersion', 3, 'apiVersion', 'apiVersion: must be a non-empty string, got 3'],
    ['kind', REMOVE, 'kind', 'Missing required field: kind'],
    ['kind', '', 'kind', 'kind: must be a non-empty string, got ""'],
    ['metadata', REMOVE, 'metadata', 'Missing required field: metadata'],
    ['metadata', 'x', 'metadata', 'metadata: must be a mapping, got "x"'],
    ['metadata.name', REMOVE, 'metadata.name', 'Missing required field: metadata.name'],
    ['metadata.name', '  ', 'metadata.name', 'metadata.name: must be a non-empty string, got "  "'],
    ['metadata.owner', 5, 'metadata.owner', 'metadata.owner: must be a non-empty string, got 5'],
    ['spec', REMOVE, 'spec', 'Missing required field: spec'],
    ['spec', ['a'], 'spec', 'spec: must be a mapping, got a list'],
    ['spec.taskType', REMOVE, 'spec.taskType', 'Missing required field: spec.taskType'],
    ['spec.taskType', null, 'spec.taskType', 'Missing required field: spec.taskType'],
    ['spec.resources', REMOVE, 'spec.resources', 'Missing required field: spec.resources'],
    ['spec.resources', 'big', 'spec.resources', 'spec.resources: must be a mapping, got "big"'],
    ['spec.resources.replicas', REMOVE, 'spec.resources.replicas', 'Missing required field: spec.resources.replicas'],
    ['spec.resources.replicas', -2, 'spec.resources.replicas', 'spec.resources.replicas: must be an integer >= 1, got -2'],
    ['spec.resources.replicas', 1.5, 'spec.resources.replicas', 'spec.resources.replicas: must be an integer >= 1, got 1.5'],
    ['spec.resources.replicas', '2', 'spec.resources.replicas', 'spec.resources.replicas: must be an integer >= 1, got "2"'],
    ['spec.resources.hardware', REMOVE, 'spec.resources.hardware', 'Missing required field: spec.resources.hardware'],
    ['spec.resources.hardware.cpu', REMOVE, 'spec.resources.hardware.cpu', 'Missing required field: spec.resources.hardware.cpu'],
    ['spec.resources.hardware.cpu', 'many', 'spec.resources.hardware.cpu', 'spec.resources.hardware.cpu: must be a non-negative number of cores (8, "0.5", "500m"), got "many"'],
    ['spec.resources.hardware.cpu', -1, 'spec.resources.hardware.cpu', 'spec.resources.hardware.cpu: must be a non-negative number of cores (8, "0.5", "500m"), got -1'],
    ['spec.resources.hardware.memory', 'lots', 'spec.resources.hardware.memory', 'spec.resources.hardware.memory: cannot parse memory quantity "lots"'],
    ['spec.resources.hardware.memory', -5, 'spec.resources.hardware.memory', 'spec.resources.hardware.memory: cannot parse memory quantity -5'],
    ['spec.resources.hardware.gpu', 'a100', 'spec.resources.hardware.gpu', 'spec.resources.hardware.gpu: must be a mapping, got "a100"'],
    ['spec.resources.hardware.gpu', { count: 1 }, 'spec.resources.hardware.gpu.type', 'Missing required field: spec.resources.hardware.gpu.type'],
    ['spec.resources.hardware.gpu', { type: 'a100' }, 'spec.resources.hardware.gpu.count', 'Missing required field: spec.resources.hardware.gpu.count'],
    ['spec.resources.hardware.gpu', { type: 'a100', count: -1 }, 'spec.resources.hardware.gpu.count', 'spec.resources.hardware.gpu.count: must be an integer >= 0, got -1'],
    [
      'spec.resources.hardware.gpu',
      { type: 'a100', count: 1, memory: 'huge' },
      'spec.resources.hardware.gpu.memory',
      'spec.resources.hardware.gpu.memory: cannot parse memory quantity "huge"',
    ],
    ['spec.resources.tags', 'a100', 'spec.resources.tags', 'spec.resources.tags: must be a list, got "a100"'],
    ['spec.resources.tags', ['a100', 3], 'spec.resources.tags[1]', 'spec.resources.tags[1]: must be a non-empty string, got 3'],
    ['spec.enforce_cpu', 'yes', 'spec.enforce_cpu', 'spec.enforce_cpu: must be true or false, got "yes"'],
    ['spec.priority', 1.5, 'spec.priority', 'spec.priority: must be an integer between -1000000 and 1000000, got 1.5'],
    ['spec.priority', 2000000, 'spec.priority', 'spec.priority: must be an integer between -1000000 and 1000000, got 2000000'],
    ['spec.retry', 3, 'spec.retry', 'spec.retry: must be a mapping, got 3'],
    ['spec.retry.maxRetries', -1, 'spec.retry.maxRetries', 'spec.retry.maxRetries: must be an integer >= 0, got -1'],
    ['spec.retry.backoffSec', '30s', 'spec.retry.backoffSec', 'spec.retry.backoffSec: must be a number >= 0, got "30s"'],
    ['spec.retry.backoffSec', -1, 'spec.retry.backoffSec', 'spec.retry.backoffSec: must be a number >= 0, got -1'],
    ['spec.parallel', true, 'spec.parallel', 'spec.parallel: must be a mapping, got true'],
    ['spec.parallel.enabled', 'true', 'spec.parallel.enabled', 'spec.parallel.enabled: must be true or false, got "true"'],
    ['spec.parallel.max_shards', 0, 'spec.parallel.max_shards', 'spec.parallel.max_shards: must be an integer >= 1, got 0'],
    ['spec.dependsOn', 'task-1', 'spec.dependsOn', 'spec.dependsOn: must be a list, got "task-1"'],
    ['spec.dependsOn', ['task-1', ''], 'spec.dependsOn[1]', 'spec.dependsOn[1]: must be a non-empty string, got ""'],
  ])('%s = %j is refused at %s', (field, value, expectedPath, expectedMessage) => {
    const error = refusal(() => parseDocs(withField(BASE, field, value)));
    expect(error).toEqual({ path: expectedPath, message: expectedMessage });
  });

  it('refuses a GPU count together with enforce_cpu', () => {
    const doc = withSpec({ enforce_cpu: true, resources: { hardware: { gpu: { type: 'any', count: 1 } } } });
    expect(refusal(() => parseDocs(doc))).toEqual({
      path: 'spec.enforce_cpu',
      message: 'spec.enforce_cpu: cannot be true when spec.resources.hardware.gpu.count > 0',
    });
  });

  it.each<[string, unknown, (draft: TaskDraft) => unknown, unknown]>([
    ['spec.enforce_cpu', true, (d) => d.requirements.enforceCpu, true],
    ['spec.resources.hardware.gpu', { type: 'any', count: 0 }, (d) => d.requirements.gpu, null],
    ['spec.resources.hardware.gpu', null, (d) => d.requirements.gpu, null],
    ['spec.resources.hardware.gpu', { type: ' A100 ', count: 2, memory: '80Gi' }, (d) => d.requirements.gpu, { type: 'a100', count: 2, memoryBytes: 80 * Gi }],
    ['spec.resources.hardware.cpu', '500m', (d) => d.requirements.cpu, 0.5],
    ['spec.resources.hardware.cpu', 0, (d) => d.requirements.cpu, 0],
    ['spec.resources.hardware.memory', 17179869184, (d) => d.requirements.memoryBytes, 16 * Gi],
    ['spec.resources.hardware.memory', '32GB', (d) => d.requirements.memoryBytes, 32e9],
    ['spec.resources.replicas', 3, (d) => d.requirements.replicas, 3],
    ['spec.resources.tags', ['a100', 'eu'], (d) => d.requirements.tags, ['a100', 'eu']],
    ['spec.priority', -1000000, (d) => d.priority, -1000000],
    ['spec.retry', { maxRetries: 0 }, (d) => [d.maxRetries, d.backoffSec], [0, null]],
    ['spec.retry', { backoffSec: 2.5 }, (d) => [d.maxRetries, d.backoffSec], [null, 2.5]],
    ['spec.parallel', { enabled: true }, (d) => [d.parallel, d.maxShards], [true, null]],
    ['spec.parallel', { enabled: false, max_shards: 3 }, (d) => [d.parallel, d.maxShards], [false, 3]],
    ['spec.dependsOn', ['t-1', 't-2', 't-1'], (d) => d.dependsOnIds, ['t-1', 't-2']],
    ['metadata.owner', REMOVE, (d) => d.owner, null],
    ['spec.unknownField', { anything: [1, 2] }, (d) => d.doc.spec.unknownField, { anything: [1, 2] }],
  ])('%s = %j is accepted', (field, value, pick, expected) => {
    const [draft] = parseDocs(withField(BASE, field, value));
    expect(pick(draft)).toEqual(expected);
  });

  it('allows data-parallel fan-out for inference only', () => {
    const [draft] = parseDocs(withSpec({ taskType: 'sft', parallel: { enabled: true, max_shards: 2 } }));
    expect([draft.parallel, draft.maxShards]).toEqual([false, 2]);
  });

  it('applies defaults for a minimal document', () => {
    const [draft] = parseDocs(BASE);
    expect(draft).toEqual({
      key: 'd0',
      name: 'base',
      owner: 'alice',
      taskType: 'inference',
      doc: BASE,
      requirements: { replicas: 1, cpu: 4, memoryBytes: 8 * Gi, gpu: null, enforceCpu: false, tags: [], taskType: 'inference' },
      priority: 0,
      maxRetries: null,
      backoffSec: null,
      retentionSec: null,
      parallel: false,
      maxShards: null,
      dependsOnKeys: [],
      dependsOnIds: [],
    });
  });
});

describe('stages', () => {
  const pipeline = (stages: unknown[], extra: Doc = {}) => withSpec({ ...extra, stages });

  it('names unnamed stages stage-<n> and chains them', () => {
    const drafts = parseDocs(pipeline([{ name: 'first' }, {}, { spec: { taskType: 'echo' } }]));
    expect(summary(drafts)).toEqual([
      ['d0/first', 'base:first', []],
      ['d0/stage-2', 'base:stage-2', ['d0/first']],
      ['d0/stage-3', 'base:stage-3', ['d0/stage-2']],
    ]);
    expect(drafts[2].taskType).toBe('echo');
    expect(drafts[1].doc.metadata).toEqual({ name: 'base:stage-2', owner: 'alice' });
  });

  it('resolves stage dependsOn to sibling stages and external task ids', () => {
    const drafts = parseDocs(
      pipeline([{ name: 'a' }, { name: 'b', dependsOn: ['task-42'] }, { name: 'c', dependsOn: ['a', 'task-7'], spec: { dependsOn: ['task-8'] } }], { dependsOn: ['task-1'] }),
    );
    expect(drafts.map((d) => [d.key, d.dependsOnKeys, d.dependsOnIds])).toEqual([
      ['d0/a', [], ['task-1']],
      ['d0/b', ['d0/a'], ['task-1', 'task-42']],
      ['d0/c', ['d0/b', 'd0/a'], ['task-1', 'task-7', 'task-8']],
    ]);
    // The effective document keeps exactly the external ids in spec.dependsOn.
    expect(drafts[2].doc.spec.dependsOn).toEqual(['task-1', 'task-7', 'task-8']);
  });

  it('leaves no expansion keys in the effective document', () => {
    const [draft] = parseDocs(pipeline([{ name: 'only', dependsOn: ['x'], spec: { note: 'kept' } }]));
    expect(draft.doc.spec).toEqual({
      taskType: 'inference',
      resources: { replicas: 1, hardware: { cpu: '4', memory: '8Gi' } },
      note: 'kept',
      dependsOn: ['x'],
    });
    expect(draft.doc).not.toHaveProperty('dependsOn');
  });

  it('deep-merges the stage spec: mappings merge, lists and scalars replace', () => {
    const base = withSpec({ resources: { tags: ['a100', 'eu'] }, data: { prompts: ['p1', 'p2'], column: 'q' } });
    const stageSpec = { resources: { tags: ['h100'], hardware: { cpu: 8 } }, data: { prompts: ['p3'] } };
    const stage = { name: 's', spec: stageSpec };
    const [draft] = parseDocs(withSpec({ stages: [stage] }, base));
    expect(draft.requirements).toMatchObject({ cpu: 8, memoryBytes: 8 * Gi, tags: ['h100'] });
    expect(draft.doc.spec.data).toEqual({ prompts: ['p3'], column: 'q' });
  });

  it('gives every stage its own copy of the document', () => {
    const [first, second] = parseDocs(pipeline([{ name: 'a' }, { name: 'b' }]));
    (first.doc.spec.resources as Doc).replicas = 99;
    expect((second.doc.spec.resources as Doc).replicas).toBe(1);
  });

  it('treats an empty stages list as a plain document', () => {
    const drafts = parseDocs(pipeline([]));
    expect(summary(drafts)).toEqual([['d0', 'base', []]]);
    expect(drafts[0].doc.spec).not.toHaveProperty('stages');
  });

  it.each<[string, unknown[], Doc, string, string]>([
    [
      'a bad value set by the stage',
      [{ name: 'a' }, { name: 'b', spec: { resources: { hardware: { memory: 'lots' } } } }],
      {},
      'spec.stages[1].spec.resources.hardware.memory',
      'spec.stages[1].spec.resources.hardware.memory: cannot parse memory quantity "lots"',
    ],
    [
      'a bad value inherited from the base',
      [{ name: 'a', spec: { resources: { hardware: { cpu: '2' } } } }],
      { resources: { hardware: { memory: 'lots' } } },
      'spec.resources.hardware.memory',
      'spec.resources.hardware.memory: cannot parse memory quantity "lots"',
    ],
    [
      "a stage's gpu block without count",
      [{ name: 'a', spec: { resources: { hardware: { gpu: { type: 'a100' } } } } }],
      {},
      'spec.stages[0].spec.resources.hardware.gpu.count',
      'Missing required field: spec.stages[0].spec.resources.hardware.gpu.count',
    ],
    ['a field missing everywhere', [{ name: 'a', spec: { resources: { hardware: { cpu: '1' } } } }], { taskType: null }, 'spec.taskType', 'Missing required field: spec.taskType'],
    ['a duplicate stage name', [{ name: 'a' }, { name: 'b' }, { name: 'a' }], {}, 'spec.stages[2].name', 'spec.stages[2].name: duplicate stage name "a"'],
    ['an explicit name clashing with a default one', [{ name: 'stage-2' }, {}], {}, 'spec.stages[1].name', 'spec.stages[1].name: duplicate stage name "stage-2"'],
    ['a stage depending on itself', [{ name: 'a', dependsOn: ['a'] }], {}, 'spec.stages', 'spec.stages: dependency cycle a -> a'],
    ['a stage depending on a later one', [{ name: 'a', dependsOn: ['c'] }, { name: 'b' }, { name: 'c' }], {}, 'spec.stages', 'spec.stages: dependency cycle a -> c -> b -> a'],
    ['a stage that is not a mapping', ['a'], {}, 'spec.stages[0]', 'spec.stages[0]: must be a mapping, got "a"'],
    ['a numeric stage name', [{ name: 2 }], {}, 'spec.stages[0].name', 'spec.stages[0].name: must be a non-empty string, got 2'],
    ['a stage spec that is not a mapping', [{ name: 'a', spec: 'x' }], {}, 'spec.stages[0].spec', 'spec.stages[0].spec: must be a mapping, got "x"'],
    ['a stage dependsOn that is not a list', [{ name: 'a', dependsOn: 'b' }], {}, 'spec.stages[0].dependsOn', 'spec.stages[0].dependsOn: must be a list, got "b"'],
  ])('refuses %s', (_name, stages, extra, expectedPath, expectedMessage) => {
    const doc = withSpec({ ...extra, stages });
    const error = refusal(() => parseDocs(doc));
    expect(error).toEqual({ path: expectedPath, message: expectedMessage });
  });

  it('refuses stages that are not a list', () => {
    expect(refusal(() => parseDocs(withSpec({ stages: 'a' })))).toEqual({
      path: 'spec.stages',
      message: 'spec.stages: must be a list, got "a"',
    });
  });
});

describe('graph', () => {
  const graph = (nodes: unknown[]) => withSpec({ graph: { nodes } });

  it('uses only the declared edges and external ids', () => {
    const drafts = parseDocs(graph([{ name: 'a' }, { name: 'b', dependsOn: ['task-9'] }, { name: 'c', dependsOn: ['a', 'b'], spec: { taskType: 'echo' } }]));
    expect(drafts.map((d) => [d.key, d.name, d.dependsOnKeys, d.dependsOnIds])).toEqual([
      ['d0/a', 'base:a', [], []],
      ['d0/b', 'base:b', [], ['task-9']],
      ['d0/c', 'base:c', ['d0/a', 'd0/b'], []],
    ]);
    expect(drafts[2].taskType).toBe('echo');
  });

  it('returns nodes after the nodes they wait for, otherwise in document order', () => {
    const drafts = parseDocs(graph([{ name: 'report', dependsOn: ['train'] }, { name: 'fetch' }, { name: 'train', dependsOn: ['fetch'] }, { name: 'solo' }]));
    expect(drafts.map((d) => d.key)).toEqual(['d0/fetch', 'd0/train', 'd0/report', 'd0/solo']);
  });

  it.each<[string, Doc, string, string]>([
    ['a node without name', { nodes: [{ name: 'a' }, { spec: {} }] }, 'spec.graph.nodes[1].name', 'Missing required field: spec.graph.nodes[1].name'],
    ['a duplicate node name', { nodes: [{ name: 'a' }, { name: 'b' }, { name: 'a' }] }, 'spec.graph.nodes[2].name', 'spec.graph.nodes[2].name: duplicate node name "a"'],
    ['a node depending on itself', { nodes: [{ name: 'a' }, { name: 'b', dependsOn: ['b'] }] }, 'spec.graph.nodes', 'spec.graph.nodes: dependency cycle b -> b'],
    [
      'a two-node cycle',
      {
        nodes: [
          { name: 'x', dependsOn: ['y'] },
          { name: 'y', dependsOn: ['x'] },
        ],
      },
      'spec.graph.nodes',
      'spec.graph.nodes: dependency cycle x -> y -> x',
    ],
    ['no nodes', { nodes: [] }, 'spec.graph.nodes', 'spec.graph.nodes: must be a non-empty list'],
    ['a missing nodes list', {}, 'spec.graph.nodes', 'Missing required field: spec.graph.nodes'],
    [
      'a bad value in a node',
      { nodes: [{ name: 'a', spec: { resources: { replicas: 0 } } }] },
      'spec.graph.nodes[0].spec.resources.replicas',
      'spec.graph.nodes[0].spec.resources.replicas: must be an integer >= 1, got 0',
    ],
  ])('refuses %s', (_name, graphSpec, expectedPath, expectedMessage) => {
    const error = refusal(() => parseDocs(withSpec({ graph: graphSpec })));
    expect(error).toEqual({ path: expectedPath, message: expectedMessage });
  });

  it('refuses stages and graph in one document', () => {
    const doc = withSpec({ stages: [{ name: 'a' }], graph: { nodes: [{ name: 'b' }] } });
    expect(refusal(() => parseDocs(doc))).toEqual({
      path: 'spec.graph',
      message: 'spec.graph: cannot be combined with spec.stages',
    });
  });

  it('refuses a graph that is not a mapping', () => {
    expect(refusal(() => parseDocs(withSpec({ graph: ['a'] })))).toEqual({
      path: 'spec.graph',
      message: 'spec.graph: must be a mapping, got a list',
    });
  });
});

describe('multi-document submissions', () => {
  const second = withField(withSpec({ stages: [{ name: 'x' }, { name: 'y' }] }), 'metadata.name', 'second');
  const third = withField(BASE, 'metadata.name', 'third');

  it('keys each document and its stages by document index', () => {
    const drafts = parseDocs(BASE, second, third);
    expect(summary(drafts)).toEqual([
      ['d0', 'base', []],
      ['d1/x', 'second:x', []],
      ['d1/y', 'second:y', ['d1/x']],
      ['d2', 'third', []],
    ]);
  });

  it('skips empty documents, including a trailing separator', () => {
    const text = `---\n${yamlOf(BASE)}---\n# just a comment\n---\n${yamlOf(third)}---\n`;
    expect(parseSubmission(text).map((d) => d.key)).toEqual(['d0', 'd1']);
  });

  it.each<[string, Doc[], string, string]>([
    [
      'a bad field in the third document',
      [BASE, second, withField(third, 'spec.resources.replicas', -2)],
      'documents[2].spec.resources.replicas',
      'documents[2].spec.resources.replicas: must be an integer >= 1, got -2',
    ],
    ['a missing field in the first document', [withField(BASE, 'kind', REMOVE), second], 'documents[0].kind', 'Missing required field: documents[0].kind'],
    [
      'a bad stage in the second document',
      [BASE, withSpec({ stages: [{ name: 'x', spec: { resources: { hardware: { cpu: 'x' } } } }] })],
      'documents[1].spec.stages[0].spec.resources.hardware.cpu',
      'documents[1].spec.stages[0].spec.resources.hardware.cpu: ' + 'must be a non-negative number of cores (8, "0.5", "500m"), got "x"',
    ],
  ])('prefixes paths with the document index: %s', (_name, docs, expectedPath, expectedMessage) => {
    const error = refusal(() => parseDocs(...docs));
    expect(error).toEqual({ path: expectedPath, message: expectedMessage });
  });

  it('prefixes a document that is not a mapping', () => {
    const text = `${yamlOf(BASE)}---\n- just\n- a list\n`;
    expect(refusal(() => parseSubmission(text))).toEqual({
      path: 'documents[1]',
      message: 'documents[1]: Task document must be a mapping',
    });
  });

  it('does not prefix when only one document is left after skipping empty ones', () => {
    const text = `${yamlOf(withField(BASE, 'kind', REMOVE))}---\n`;
    expect(refusal(() => parseSubmission(text))).toEqual({ path: 'kind', message: 'Missing required field: kind' });
  });
});

describe('deepMerge', () => {
  it.each<[string, Doc, Doc, Doc]>([
    ['merges nested mappings key by key', { a: { b: 1, c: 2 } }, { a: { c: 3, d: 4 } }, { a: { b: 1, c: 3, d: 4 } }],
    ['replaces lists instead of concatenating', { tags: ['a', 'b'] }, { tags: ['c'] }, { tags: ['c'] }],
    ['replaces a mapping with a scalar', { gpu: { type: 'a100' } }, { gpu: 'none' }, { gpu: 'none' }],
    ['replaces a scalar with a mapping', { gpu: 'none' }, { gpu: { count: 1 } }, { gpu: { count: 1 } }],
    ['lets null drop an inherited block', { gpu: { count: 1 }, cpu: 2 }, { gpu: null }, { gpu: null, cpu: 2 }],
    ['keeps base keys absent from the override', { a: 1, b: { c: 2 } }, {}, { a: 1, b: { c: 2 } }],
  ])('%s', (_name, base, over, expected) => {
    expect(deepMerge(base, over)).toEqual(expected);
  });

  it('neither mutates nor shares its inputs', () => {
    const base = { a: { list: [1, 2] }, keep: { x: 1 } };
    const over = { a: { more: { y: 2 } } };
    const snapshot = structuredClone({ base, over });
    const merged = deepMerge(base, over);
    expect({ base, over }).toEqual(snapshot);
    expect(merged.keep).not.toBe(base.keep);
    expect((merged.a as Doc).list).not.toBe(base.a.list);
    expect((merged.a as Doc).more).not.toBe(over.a.more);
  });

  it('merges a __proto__ key as data', () => {
    const over = JSON.parse('{"__proto__": {"polluted": true}}') as Doc;
    const merged = deepMerge({}, over);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(Object.keys(merged)).toEqual(['__proto__']);
    expect(({} as Doc).polluted).toBeUndefined();
  });
});
