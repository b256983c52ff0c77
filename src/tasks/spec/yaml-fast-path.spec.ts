/**
 * Differential tests of the js-yaml fast path (yaml-fast-path.ts) against the
 * `yaml` path (loadWithYaml): whenever the fast path returns documents, they
 * must equal the `yaml` path's, and whatever the `yaml` path refuses, the fast
 * path must leave to it. No Redis needed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { dump } from 'js-yaml';
import { stringify } from 'yaml';
import { multiDoc, taskYaml } from '../../../bench/lib/docs';
import { loadDocuments, loadWithYaml, MAX_NESTING_DEPTH, parseSubmission, yamlPathCounts } from './parse-submission';
import { SpecError } from './task-draft';
import { loadWithJsYaml } from './yaml-fast-path';

const EXAMPLES_DIR = path.resolve(__dirname, '../../../examples');

type Outcome = { documents: unknown[] } | { refusal: string };

function outcome(load: () => unknown[]): Outcome {
  try {
    return { documents: load() };
  } catch (err) {
    if (err instanceof SpecError) return { refusal: err.message };
    throw err;
  }
}

/**
 * Runs both paths on `text`, fails if the fast path returns anything but what
 * the `yaml` path returns (a refusal there included), and says which path
 * loadDocuments takes. Also checks loadDocuments' outcome (documents or refusal
 * message) is the `yaml` path's.
 */
function compare(text: string): 'fast' | 'yaml' {
  const reference = outcome(() => loadWithYaml(text));
  const fast = loadWithJsYaml(text, MAX_NESTING_DEPTH);
  if (fast !== null) expect({ documents: fast }).toStrictEqual(reference);
  expect(outcome(() => loadDocuments(text))).toStrictEqual(reference);
  return fast === null ? 'yaml' : 'fast';
}

/** Each scalar as mapping value and sequence item, and in flow collections unless it would end there. */
function inPositions(scalar: string): string[] {
  const block = [`k: ${scalar}\n`, `- ${scalar}\n`];
  return /[[\]{},#]/.test(scalar) ? block : [...block, `[${scalar}]\n`, `{k: ${scalar}}\n`, `k: [a, ${scalar}]\n`];
}

const TRICKY_SCALARS = [
  // numbers in every core-schema form, and near misses that stay strings
  '0x1F',
  '0x1f',
  '0X1F',
  '0o17',
  '0O17',
  '017',
  '0012',
  '-0',
  '+0',
  '+12',
  '-12',
  '-0x1F',
  '1_000',
  '0b101',
  '1e3',
  '1E3',
  '1e+3',
  '1e-3',
  '1.e3',
  '1.',
  '.5',
  '-.5',
  '+.5',
  '5.0',
  '-0.0',
  '1.0e-3',
  '1e',
  'e3',
  '.',
  '1.2.3',
  '9007199254740993',
  '123456789012345678901234567890',
  '0xFFFFFFFFFFFFFFFFFFFF',
  '1e400',
  '-1e400',
  '1' + '0'.repeat(400),
  '.inf',
  '-.inf',
  '+.inf',
  '.Inf',
  '.INF',
  '.iNf',
  '.nan',
  '.NaN',
  '.NAN',
  '-.nan',
  '+.nan',
  // null and booleans: YAML 1.2 core only (yes/on/y stay strings)
  '~',
  'null',
  'Null',
  'NULL',
  'nULL',
  '',
  'true',
  'True',
  'TRUE',
  'tRue',
  'false',
  'False',
  'FALSE',
  'yes',
  'no',
  'on',
  'off',
  'y',
  'n',
  'Yes',
  'ON',
  // no timestamps, no sexagesimal numbers
  '2026-01-01',
  '2026-01-01T10:00:00Z',
  '2026-01-01 10:00:00',
  '12:30:00',
  '1:20',
  // quoted forms stay strings
  '"1"',
  "'1'",
  '"true"',
  "'null'",
  '"~"',
  "''",
  '""',
  '"0x1F"',
  "'.inf'",
  // escapes
  '"a\\tb"',
  '"\\x41\\u00e9\\u263A"',
  '"\\N\\_\\L\\P\\e\\0\\/\\ \\a\\b\\v\\f"',
  '"\\"q\\""',
  "'it''s'",
  '"\\\\"',
  // plain text with indicators inside
  'a#b',
  'a # comment',
  'x-y',
  'a:b',
  'https://x.y/z?q=1&r=2',
  'train[:1%]',
  'v1.2.3',
  "it's",
  'a "b" c',
  'héllo wörld ✓ 日本語 🎉',
  'x\u00a0y',
  'a\u2028b',
  'a\u0085b',
];

const TRICKY_DOCUMENTS: string[] = [
  // block scalars
  'a: |\n  line1\n  line2\n',
  'a: |-\n  x\n\n',
  'a: >\n  x\n  y\n\n  z\n',
  'a: >-\n  x\n    more\n  y\n',
  'a: |\n\n  x\n',
  'a: |\n  x\n \n',
  'a: |\n  x',
  'a: >\n  # not a comment\n  x\n',
  '- |\n x\n- >\n y\n',
  'a: |\n  x\nb: >\n  y\n\n',
  'a: |\n  first\n    more indented\n  back\n',
  // multi-line plain and quoted scalars
  'a: b\n  c\n\n  d\n',
  'a: "b\n  c"\n',
  'a: "b\n\n  c"\n',
  "a: 'b\n  c'\n",
  'a: "tr  \n   lead"\n',
  '- multi\n  line\n',
  // flow collections
  'a: [1, 2, {b: c}]\n',
  'a: {b: [c, d], e: f}\n',
  'a: [a: b]\n',
  'a: [? x : y]\n',
  'a: {b}\n',
  'a: {b, c: d}\n',
  'a: [1,]\n',
  'a: [\n    1,\n    2\n  ]\n',
  '{"a":b, "c": [1]}\n',
  'a: []\nb: {}\n',
  // comments
  'a: b # comment\n# full line\nc: d\n',
  'spec:\n  # same indentation\n  k: 1\n# less\nx: 2\n',
  'a: "b # not"\n',
  "a: 'b # not'\n",
  '# only a comment\n',
  '--- # c\na: 1\n',
  // documents, empty ones and end markers
  '',
  '---',
  '---\n',
  '---\n---\n',
  'a: 1\n---\n',
  'a: 1\n---\n---\nb: 2\n',
  'a: 1\n...\n',
  'a: 1\n...\n---\nb: 2\n',
  '--- a\n',
  '--- |\n  x\n',
  '---\n...\n',
  '--- null\n',
  '--- ~\n---\na: 1\n',
  'plain\n',
  '"str"\n',
  '1\n',
  '[1]\n',
  'a: ---\n',
  'a: ...\n',
  'a: 1\n--- \nb: 2\n',
  // keys
  '"1": a\n',
  '"": x\n',
  '? a\n: b\n',
  '__proto__: {a: 1}\n',
  'constructor: 1\ntoString: 2\nhasOwnProperty: x\n',
  'é: ü\n',
  '"\\u00e9": x\n',
  'a b: c\n',
  '"a": 1\n\'b\': 2\n',
  // layout
  'l:\n- "x" # c\n- [a, "b]"]\n- \'it\'\'s\'\n- "k": v\n- {a: [1, {b: 2}]}\n- "a\\"b"\n- - [1]\n',
  'a:\n  b:\n    c: 1\n',
  'a:\n- 1\n- 2\n',
  '- a: 1\n  b: 2\n',
  '- - a\n  - b\n',
  '-\n  a\n',
  'a:\tb\n',
  'a: b\t\n',
  'a: b\r\nc: |\r\n  x\r\n  y\r\n',
  'a:    \nb:\n',
  'a:\n  # only comment\nb: 1\n',
  // long strings
  `a: ${'x'.repeat(5000)}\n`,
  `a: "${'y'.repeat(100000)}"\n`,
  `a: ${'z '.repeat(600)}\n`,
  `- "${'x'.repeat(2000)}"\n`,
  `${'k'.repeat(900)}: v\n`,
];

/** Texts the fast path must leave to the `yaml` path (which accepts or refuses them). */
const FALLBACK_DOCUMENTS: string[] = [
  // keys that are not strings: yaml stringifies them its own way
  '1: a\n',
  '0x1F: a\n',
  '1: a\n"1": b\n',
  '~: a\n',
  'null: a\n',
  'true: a\n',
  '1e3: a\n',
  '[a, b]: c\n',
  '{a: b}: c\n',
  '? [a]\n: b\n',
  // duplicate keys (both parsers refuse)
  'a: 1\na: 2\n',
  'a: 1\n"a": 2\n',
  '{a: 1, a: 2}\n',
  'a:\n  b: 1\n  b: 2\n',
  // anchors and aliases, tags, merge keys, directives
  'a: &x 1\nb: *x\n',
  'a: *nowhere\n',
  'a: &x [1]\n',
  'a: !!str 1\n',
  'a: !!timestamp 2026-01-01\n',
  'a: !!binary aGk=\n',
  'a: !!set {x, y}\n',
  'a: !!omap [{x: 1}]\n',
  'a: !custom x\n',
  'a: !!float 1\n',
  '! a\n',
  '<<: {a: 1}\nb: 2\n',
  'base: &b {a: 1}\nx:\n  <<: *b\n',
  '%YAML 1.1\n---\na: 2026-01-01\n',
  ' %YAML 1.2\n---\na: b\n',
  // syntax errors (refused by both)
  'a: [unclosed\n',
  'a: b: c\n',
  'a: |\n    indented\n  less\n',
  '[a # comment]\n',
  '\ta: b\n',
  'a: @b\n',
  'a: "\\x"\n',
  "a: 'x\n",
  ' a: 1\nb: 2\n',
  // where js-yaml and yaml disagree (found by fuzzing; see UNUSUAL_SYNTAX and hasUnusualLines)
  ' ---\na: 1\n',
  ' ---\n- a\n',
  ' --- x\n',
  '\t---\na: 1\n',
  '... a\n',
  '\uFEFF- t\n',
  '\n\uFEFF',
  '>3\n  0\n',
  '|2\n  ',
  '|+\n\n ',
  '"\\\n\n"\n',
  '{k: "\\U00e1F600"}\n',
  'a: b\rc: d\n',
  '? ""\n\t',
  `${'x'.repeat(1100)}: v\n`,
  `"${'x'.repeat(1100)}": v\n`,
  `[${'x'.repeat(1100)}: v]\n`,
  'b:\n#L\n  n\nx: 1\n',
  '-\n#L\n  n\n- x\n',
  'a:\n  b:\n  # c\n    n\n  c: 1\n',
  'l:\n- []a:\n',
  'l:\n- [] a: 1\n',
  'l:\n- "x"a:\n',
  'l:\n- {}a: [x]\n',
  "l:\n- ''\\:\n",
  'l:\n- [a,\n  b]c:\n',
  '{k #\n:n}\n',
  '\n >\n#',
  'k:\n  |\n    x\n',
  // js-yaml refuses, yaml accepts: the `yaml` path's result is used
  'a: [\n  1,\n  2\n]\n',
  'a: "\u0007"\n',
];

describe('YAML fast path: same documents as the yaml path', () => {
  const exampleFiles = (dir: string) =>
    fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((file) => file.endsWith('.yaml'))
          .map((file) => path.join(dir, file))
      : [];
  const examples = [...exampleFiles(EXAMPLES_DIR), ...exampleFiles(path.join(EXAMPLES_DIR, 'bad'))];

  it('finds the example documents, good and bad', () => {
    expect(examples.some((file) => file.includes(`${path.sep}bad${path.sep}`))).toBe(true);
    expect(examples.some((file) => !file.includes(`${path.sep}bad${path.sep}`))).toBe(true);
  });

  it.each(examples.map((file) => [path.relative(EXAMPLES_DIR, file), file]))('example %s', (_name, file) => {
    compare(fs.readFileSync(file, 'utf8'));
  });

  it.each(TRICKY_SCALARS.flatMap(inPositions))('takes the fast path for %j', (text) => {
    expect(compare(text)).toBe('fast');
  });

  it.each(TRICKY_DOCUMENTS)('takes the fast path for %j', (text) => {
    expect(compare(text)).toBe('fast');
  });

  it.each(FALLBACK_DOCUMENTS)('leaves %j to the yaml path', (text) => {
    expect(compare(text)).toBe('yaml');
  });

  it('leaves to the yaml path whatever is nested deeper than it accepts, and agrees below that', () => {
    const flow = (depth: number) => `${'['.repeat(depth - 1)}x${']'.repeat(depth - 1)}\n`; // x at `depth`
    const block = (depth: number) => Array.from({ length: depth - 1 }, (_, i) => `${'  '.repeat(i)}k:`).join('\n') + ' x\n';
    for (const nested of [flow, block]) {
      for (let depth = MAX_NESTING_DEPTH - 2; depth <= MAX_NESTING_DEPTH + 2; depth++) {
        const path = compare(nested(depth));
        if (depth > MAX_NESTING_DEPTH) expect(path).toBe('yaml');
      }
      expect(compare(nested(5000))).toBe('yaml');
    }
  });

  it('pre-scans in linear time: no backtracking blow-up on many comment lines or long lines', () => {
    // Quadratic scanning (as a first version with a backtracking regular expression
    // had) takes minutes on these; linear takes milliseconds.
    const texts = ['#c\n'.repeat(100_000), ' #c\n'.repeat(100_000), `${'x'.repeat(1001)}\n`.repeat(1000) + 'a: b\n'];
    // No clock here (speed belongs in npm run bench): the timeout only bounds how long we wait.
    for (const text of texts) expect(() => loadWithJsYaml(text, MAX_NESTING_DEPTH)).not.toThrow();
  }, 10_000);

  it("refuses too many documents with the yaml path's message", () => {
    const text = multiDoc([taskYaml({ name: 'a' }), taskYaml({ name: 'b' }), taskYaml({ name: 'c' })]);
    expect(outcome(() => loadDocuments(text, { maxDocuments: 2 }))).toStrictEqual({
      refusal: 'Too many task documents: at most 2 per submission',
    });
    // Empty documents do not count.
    expect(loadDocuments(`---\n${text}---\n---\n`, { maxDocuments: 3 })).toHaveLength(3);
  });

  it('agrees on random data written by yaml and js-yaml in their various styles', () => {
    let seed = 42;
    const random = () => {
      // mulberry32: small, seeded, good enough to vary the cases
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const words = [
      'a',
      'x y',
      'true',
      'null',
      '1',
      '0x1F',
      '1e3',
      '- a',
      'a: b',
      '#c',
      ' lead',
      'trail ',
      'multi\nline',
      'para\n\nbreak\n',
      'tab\there',
      'é🎉',
      "'s'",
      '"d"',
      '\\',
      '',
      '.inf',
      'yes',
      '2026-01-01',
      '[x]',
      '{x}',
      'a,b',
      `${'long '.repeat(30)}text`,
    ];
    const value = (depth: number): unknown => {
      const r = random();
      if (depth > 3 || r < 0.4) return pick([pick(words), Math.round(random() * 1e6) / 1e3, -7, 0, true, false, null]);
      if (r < 0.7) return Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 4) }, () => [pick(words), value(depth + 1)]));
      return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
    };
    let fast = 0;
    const cases = 300;
    for (let i = 0; i < cases; i++) {
      const data = value(0);
      const text =
        i % 2 === 0
          ? stringify(data, {
              lineWidth: pick([0, 20, 80]),
              defaultStringType: pick(['PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE', 'BLOCK_LITERAL', 'BLOCK_FOLDED'] as const),
              collectionStyle: pick(['any', 'block', 'flow'] as const),
              indent: pick([2, 4]),
            })
          : dump(data, { lineWidth: pick([10, 40, 80]), flowLevel: pick([-1, 0, 1, 2]), quoteStyle: pick(['single', 'double'] as const) });
      if (compare(text) === 'fast') fast++;
    }
    // Most of these take the fast path; the rest (keep chomping `|+`, indentation
    // indicators, escaped line breaks, ...) are compared all the same.
    expect(fast).toBeGreaterThan(cases / 2);
  });
});

describe('YAML fast path: taken for typical submissions', () => {
  const benchDocuments = (count: number) =>
    multiDoc(
      Array.from({ length: count }, (_, i) =>
        taskYaml({
          name: `bench-${i}`,
          priority: i % 10,
          taskType: i % 3 === 0 ? 'inference' : undefined,
          gpu: i % 4 === 0,
          maxShards: i % 5 === 0 ? 4 : undefined,
          prompts: i % 7,
          stages: i % 6 === 0 ? 3 : undefined,
        }),
      ),
    );

  it('loads the bench documents with js-yaml, to the same data as yaml', () => {
    expect(compare(benchDocuments(500))).toBe('fast');
  });

  it('parseSubmission uses the fast path for them', () => {
    const before = { ...yamlPathCounts };
    const drafts = parseSubmission(benchDocuments(50));
    expect(drafts.length).toBeGreaterThanOrEqual(50);
    expect(yamlPathCounts).toEqual({ fast: before.fast + 1, yaml: before.yaml });
  });

  it('parseSubmission falls back for a document the fast path leaves to yaml', () => {
    const before = { ...yamlPathCounts };
    parseSubmission(`${taskYaml({ name: 'anchored' })}extra: &x 1\n`);
    expect(yamlPathCounts).toEqual({ fast: before.fast, yaml: before.yaml + 1 });
  });
});
