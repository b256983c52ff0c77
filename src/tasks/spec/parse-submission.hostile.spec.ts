/**
 * The parser under generated hostile input (fast-check): every text gives drafts or a SpecError
 * naming a path, never another exception; what it accepts holds only finite, exact numbers and
 * names within the rules; the task count limit holds for any mix of documents, stages and nodes.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { parseSubmission } from './parse-submission';
import { parseCpuQuantity } from '../../contracts/quantities';
import { SpecError, TaskDraft, TooManyTasksError } from './task-draft';

const MAX_NAME = 32;
const OPTS = { maxTasks: 40, maxNameLength: MAX_NAME };

/** Drafts, or the SpecError it threw; any other exception fails the property. */
function outcome(text: string, opts = OPTS): TaskDraft[] | SpecError {
  try {
    return parseSubmission(text, opts);
  } catch (err) {
    if (err instanceof SpecError) return err;
    throw err;
  }
}

const NAME_RULE = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]+$/u;

/** Every number in an accepted document is finite; the placement fields are exact integers. */
function expectSound(d: TaskDraft) {
  const stack: unknown[] = [d.doc, d.requirements];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
    else if (v && typeof v === 'object') stack.push(...Object.values(v));
  }
  expect(Number.isSafeInteger(d.requirements.replicas)).toBe(true);
  expect(d.requirements.cpu).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
  if (d.requirements.gpu) expect(Number.isSafeInteger(d.requirements.gpu.count)).toBe(true);
  if (d.maxRetries !== null) expect(Number.isSafeInteger(d.maxRetries)).toBe(true);
  if (d.maxShards !== null) expect(Number.isSafeInteger(d.maxShards)).toBe(true);
  // metadata.name as written is within the rule; a stage's effective name is `<base>:<stage>`.
  for (const part of d.name.split(':')) expect(part.length).toBeLessThanOrEqual(MAX_NAME);
  expect(d.name).toMatch(NAME_RULE);
  if (d.owner !== null) {
    expect(d.owner.length).toBeLessThanOrEqual(MAX_NAME);
    expect(d.owner).toMatch(NAME_RULE);
  }
}

const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom('a', ' ', '\n', '\r', '\t', '\u0000', '\u007f', '\u0085', '\u200b', '\u200e', '\u202e', '\u2028', '\u2066', '\ufeff', '\ud800', '日'),
    maxLength: 40,
  }),
  fc.constantFrom('9'.repeat(400), '1e400', '-1', '0.5', '500m', '.inf', 'NaN', '9007199254740993'),
);
const hostileNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 2 ** 53, 2 ** 53 + 2, -(2 ** 64), 1e308, Number.MAX_VALUE, -0),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 3, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}) },
  { weight: 1, arbitrary: fc.array(fc.oneof(hostileString, hostileNumber), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(hostileString, hostileNumber), { maxKeys: 4 }) },
);

const PATHS = [
  ['metadata', 'name'],
  ['metadata', 'owner'],
  ['spec', 'taskType'],
  ['spec', 'priority'],
  ['spec', 'resources', 'replicas'],
  ['spec', 'resources', 'tags'],
  ['spec', 'resources', 'hardware', 'cpu'],
  ['spec', 'resources', 'hardware', 'memory'],
  ['spec', 'resources', 'hardware', 'gpu', 'count'],
  ['spec', 'resources', 'hardware', 'gpu', 'memory'],
  ['spec', 'retry', 'maxRetries'],
  ['spec', 'retry', 'backoffSec'],
  ['spec', 'parallel', 'max_shards'],
  ['spec', 'dependsOn'],
  ['spec', 'data', 'prompts'],
  ['spec', 'stages', 0, 'name'],
  ['spec', 'stages', 1, 'spec', 'resources', 'replicas'],
  ['spec', 'graph', 'nodes', 0, 'name'],
] as const;

function baseDocument(withUnits: 'stages' | 'graph' | 'none'): Record<string, any> {
  const doc: Record<string, any> = {
    apiVersion: 'mloc/v1',
    kind: 'InferenceTask',
    metadata: { name: 'base', owner: 'alice' },
    spec: { taskType: 'inference', resources: { replicas: 1, hardware: { cpu: '1', memory: '1Gi', gpu: { type: 'any', count: 1 } } }, parallel: { enabled: true } },
  };
  if (withUnits === 'stages') doc.spec.stages = [{ name: 's1' }, { name: 's2', spec: {} }];
  if (withUnits === 'graph') doc.spec.graph = { nodes: [{ name: 'n1' }, { name: 'n2', dependsOn: ['n1'] }] };
  return doc;
}

/** A valid document with a few fields set to hostile values, written as YAML (yaml writes .inf and .nan). */
const hostileDocument = fc
  .record({
    units: fc.constantFrom('stages', 'graph', 'none') as fc.Arbitrary<'stages' | 'graph' | 'none'>,
    changes: fc.array(fc.tuple(fc.constantFrom(...PATHS), hostileValue), { minLength: 1, maxLength: 3 }),
  })
  .map(({ units, changes }) => {
    const doc = baseDocument(units);
    for (const [path, value] of changes) {
      let at: any = doc;
      for (let i = 0; i < path.length - 1; i++) {
        const key = path[i];
        if (at[key] === null || typeof at[key] !== 'object') at[key] = typeof path[i + 1] === 'number' ? [] : {};
        at = at[key];
      }
      at[path[path.length - 1]] = value;
    }
    return stringify(doc);
  });

describe('parseSubmission under generated hostile input', () => {
  it('a hostile document gives sound drafts or a SpecError, never another exception', () => {
    fc.assert(
      fc.property(hostileDocument, (text) => {
        const r = outcome(text);
        if (r instanceof SpecError) {
          expect(typeof r.path).toBe('string');
          expect(r.message.length).toBeLessThan(1000);
        } else {
          r.forEach(expectSound);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('any text gives drafts or a SpecError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.jsonValue().map((v) => stringify(v)),
        ),
        (text) => {
          const r = outcome(text);
          expect(r instanceof SpecError || Array.isArray(r)).toBe(true);
          if (!(r instanceof SpecError)) r.forEach(expectSound);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('refuses a submission over maxTasks, whatever the mix of documents, stages and graph nodes, and accepts one within it', () => {
    const document = fc.oneof(
      fc.constant({ kind: 'plain' as const, n: 1 }),
      fc.integer({ min: 0, max: 30 }).map((n) => ({ kind: 'stages' as const, n })),
      fc.integer({ min: 1, max: 30 }).map((n) => ({ kind: 'graph' as const, n })),
    );
    fc.assert(
      fc.property(fc.array(document, { minLength: 1, maxLength: 6 }), (docs) => {
        const texts = docs.map((d, i) => {
          const doc = baseDocument('none');
          doc.metadata.name = `doc${i}`;
          if (d.kind === 'stages') doc.spec.stages = Array.from({ length: d.n }, () => ({}));
          if (d.kind === 'graph') doc.spec.graph = { nodes: Array.from({ length: d.n }, (_, j) => ({ name: `n${j}` })) };
          return stringify(doc);
        });
        const count = docs.reduce((sum, d) => sum + Math.max(1, d.n), 0);
        const r = outcome(texts.join('---\n'));
        if (count > OPTS.maxTasks) {
          expect(r).toBeInstanceOf(TooManyTasksError);
          expect((r as TooManyTasksError).count).toBe(count);
        } else {
          expect(r).toHaveLength(count);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('numbers and names: the rows of the issue', () => {
  it.each([
    ['a 400-digit string', '9'.repeat(400), null],
    ['"1e400"', '1e400', null],
    ['Infinity', Number.POSITIVE_INFINITY, null],
    ['2^60', 2 ** 60, null],
    ['"500m"', '500m', 0.5],
    ['"8"', '8', 8],
  ])('parseCpuQuantity of %s', (_what, value, cores) => {
    expect(parseCpuQuantity(value)).toBe(cores);
  });

  const doc = (patch: string) =>
    `apiVersion: mloc/v1\nkind: InferenceTask\nmetadata: {name: t, owner: o}\nspec:\n  taskType: echo\n  resources: {replicas: 1, hardware: {cpu: "1", memory: 1Gi}}\n${patch}`;
  it.each([
    ['  priority: 9007199254740993\n', 'spec.priority'],
    ['  resources: {replicas: 9007199254740993, hardware: {cpu: "1", memory: 1Gi}}\n', 'spec.resources.replicas'],
    ['  data: {seed: .nan}\n', 'spec.data.seed'],
    ['  data: {list: [1, 2, -.inf]}\n', 'spec.data.list[2]'],
  ])('%j is refused at %s', (patch, path) => {
    // A later key replaces an earlier one in YAML only when it is unique: rebuild instead.
    const text = patch.includes('resources:') ? doc('').replace(/ {2}resources: .*\n/, patch) : doc(patch);
    const r = outcome(text);
    expect(r).toBeInstanceOf(SpecError);
    expect((r as SpecError).path).toBe(path);
  });

  it('names the document of a bad value in a multi-document submission', () => {
    const r = outcome(`${doc('')}---\n${doc('').replace('name: t', `name: "a\\u202eb"`)}`);
    expect((r as SpecError).path).toBe('documents[1].metadata.name');
    expect(r).toBeInstanceOf(SpecError);
  });

  it('allows a name of exactly maxNameLength and refuses one more character', () => {
    expect(outcome(doc('').replace('name: t', `name: ${'n'.repeat(MAX_NAME)}`))).toHaveLength(1);
    expect((outcome(doc('').replace('name: t', `name: ${'n'.repeat(MAX_NAME + 1)}`)) as SpecError).path).toBe('metadata.name');
  });
});
