import type { TaskDocument } from '../../contracts/stored-task';
import { aggregateShardResults, carveList, carveSplit, shardCount, shardDocument } from './shards';

describe('shardCount', () => {
  it.each([
    // replicas, candidates, maxShards, maxAutoShards, expected
    [1, 4, null, 8, 4],
    [1, 12, null, 8, 8],
    [1, 12, 3, 8, 3],
    [1, 12, 20, 8, 12],
    [6, 4, 2, 8, 4], // replicas above the cap, but never more than the candidates
    [3, 4, 2, 8, 3],
    [1, 1, null, 8, 1], // fewer than two: the caller runs the task as one
    [1, 0, null, 8, 0],
    [2, 5, 0, 8, 2],
  ])('replicas %p, %p candidates, max_shards %p, auto %p → %p', (replicas, candidates, maxShards, auto, expected) => {
    expect(shardCount(replicas, candidates, maxShards, auto)).toBe(expected);
  });
});

describe('carveSplit', () => {
  describe('TASK-SPEC 5 table', () => {
    it.each([
      ['train[:1%]', 2, 'train[0%:0.5%]', 'train[0.5%:1%]'],
      ['train[10%:20%]', 4, 'train[10%:12.5%]', 'train[12.5%:15%]'],
      ['train', 2, 'train[0%:50%]', 'train[50%:100%]'],
    ])('%s over %p → %s, %s', (split, total, shard0, shard1) => {
      expect(carveSplit(split, 0, total)).toBe(shard0);
      expect(carveSplit(split, 1, total)).toBe(shard1);
    });
  });

  it.each([
    ['train[10%:20%]', 4, ['train[10%:12.5%]', 'train[12.5%:15%]', 'train[15%:17.5%]', 'train[17.5%:20%]']],
    ['train[:1%]', 3, ['train[0%:0.333333%]', 'train[0.333333%:0.666667%]', 'train[0.666667%:1%]']],
    ['train[10%:]', 3, ['train[10%:40%]', 'train[40%:70%]', 'train[70%:100%]']],
    ['train[0.1%:0.3%]', 2, ['train[0.1%:0.2%]', 'train[0.2%:0.3%]']],
    ['train[:]', 2, ['train[0%:50%]', 'train[50%:100%]']],
    ['validation_matched', 4, ['validation_matched[0%:25%]', 'validation_matched[25%:50%]', 'validation_matched[50%:75%]', 'validation_matched[75%:100%]']],
    ['test-v1.2[ 0% : 10% ]', 2, ['test-v1.2[0%:5%]', 'test-v1.2[5%:10%]']],
    ['train', 1, ['train[0%:100%]']],
  ])('percent: %s over %p', (split, total, expected) => {
    expect(expected.map((_, i) => carveSplit(split, i, total))).toEqual(expected);
  });

  it.each([
    ['train[:100]', 3, ['train[0:34]', 'train[34:67]', 'train[67:100]']],
    ['train[10:20]', 4, ['train[10:13]', 'train[13:16]', 'train[16:18]', 'train[18:20]']],
    ['train[0:2]', 3, ['train[0:1]', 'train[1:2]', 'train[2:2]']],
    ['train[:10]', 2, ['train[0:5]', 'train[5:10]']],
  ])('absolute: %s over %p', (split, total, expected) => {
    expect(expected.map((_, i) => carveSplit(split, i, total))).toEqual(expected);
  });

  it.each([
    ['train[50:]', 'absolute range without an end'],
    ['train[10%:100]', 'mixed units'],
    ['train[20%:10%]', 'start after end'],
    ['train[20:10]', 'start after end'],
    ['train[:150%]', 'beyond 100%'],
    ['train[-10%:]', 'negative'],
    ['train[:10%]+test[:10%]', 'a concatenation'],
    ['train[:33%](pct1_dropremainder)', 'a rounding option'],
    ['train[abc:def]', 'not numbers'],
    ['train[]', 'empty brackets'],
    ['', 'empty'],
    ['tr ain', 'a space in the name'],
  ])('%p (%s) is returned unchanged', (split) => {
    expect(carveSplit(split, 0, 2)).toBe(split);
    expect(carveSplit(split, 1, 2)).toBe(split);
  });

  it.each([
    [2, 2],
    [-1, 2],
    [0, 0],
    [0.5, 2],
  ])('rejects index %p of %p', (index, total) => {
    expect(() => carveSplit('train', index, total)).toThrow(RangeError);
  });
});

describe('carveList', () => {
  const ten = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  it.each<[unknown[], number, unknown[][]]>([
    [
      ten,
      3,
      [
        [0, 1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
      ],
    ],
    [
      ten,
      2,
      [
        [0, 1, 2, 3, 4],
        [5, 6, 7, 8, 9],
      ],
    ],
    [
      ten,
      4,
      [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7],
        [8, 9],
      ],
    ],
    [[1, 2], 3, [[1], [2], []]],
    [[], 2, [[], []]],
    [['a'], 1, [['a']]],
  ])('%j over %p', (items, total, expected) => {
    const chunks = expected.map((_, i) => carveList(items, i, total));
    expect(chunks).toEqual(expected);
    expect(chunks.flat()).toEqual(items);
  });
});

describe('shardDocument', () => {
  const doc = (data: Record<string, unknown>): TaskDocument => ({
    apiVersion: 'mloc/v1',
    kind: 'InferenceTask',
    metadata: { name: 'gsm8k' },
    spec: {
      taskType: 'inference',
      parallel: { enabled: true, max_shards: 4 },
      data,
      inference: { max_tokens: 128 },
    },
  });

  it('sets spec.shard, carves the split and drops spec.parallel', () => {
    const parent = doc({ type: 'dataset', url: 'openai/gsm8k', split: 'train[:1%]' });
    const child = shardDocument(parent, 1, 2, 'task-1');
    expect(child.spec.shard).toEqual({ index: 1, total: 2, parent_task_id: 'task-1' });
    expect(child.spec.data).toEqual({ type: 'dataset', url: 'openai/gsm8k', split: 'train[0.5%:1%]' });
    expect(child.spec.parallel).toBeUndefined();
    expect(child.spec.inference).toEqual({ max_tokens: 128 });
    expect(child.metadata).toEqual({ name: 'gsm8k' });
  });

  it.each([['items'], ['prompts']])('carves spec.data.%s into contiguous chunks', (field) => {
    const parent = doc({ [field]: ['a', 'b', 'c', 'd', 'e'] });
    const children = [0, 1, 2].map((i) => shardDocument(parent, i, 3, 'p'));
    expect(children.map((c) => (c.spec.data as Record<string, unknown>)[field])).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    // The worker must not cut an already carved list again.
    expect(children[2].spec.shard).toEqual({ index: 2, total: 3, parent_task_id: 'p', carved: true });
  });

  it('is a deep copy: the parent is untouched', () => {
    const parent = doc({ split: 'train', items: [{ q: 1 }, { q: 2 }] });
    const before = structuredClone(parent);
    const child = shardDocument(parent, 0, 2, 'p');
    (child.spec.data as { items: { q: number }[] }).items[0].q = 99;
    expect(parent).toEqual(before);
  });

  it.each([
    ['no data', undefined],
    ['data not a mapping', 'openai/gsm8k'],
    ['split not a string', { split: 3 }],
  ])('leaves data alone when there is %s', (_, data) => {
    const parent: TaskDocument = { apiVersion: 'mloc/v1', kind: 'InferenceTask', metadata: { name: 'x' }, spec: { data } };
    expect(shardDocument(parent, 0, 2, 'p').spec.data).toEqual(data);
  });
});

describe('aggregateShardResults', () => {
  it('concatenates items in shard order, sums usage, takes the first model', () => {
    const results = [
      { items: [{ id: 0 }, { id: 1 }], usage: { prompt_tokens: 10, completion_tokens: 5 }, model: '' },
      { items: [{ id: 2 }], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }, model: 'mistral-7b' },
      { items: [{ id: 3 }], usage: { prompt_tokens: 1 }, model: 'other' },
    ];
    const { shards, merged } = aggregateShardResults(results);
    expect(shards).toEqual(results);
    expect(merged).toEqual({
      items: [{ id: 0 }, { id: 1 }, { id: 2 }, { id: 3 }],
      usage: { prompt_tokens: 18, completion_tokens: 8, total_tokens: 10 },
      model: 'mistral-7b',
    });
  });

  it('sums nested usage counters recursively', () => {
    const { merged } = aggregateShardResults([{ usage: { tokens: { in: 1, out: 2 }, requests: 1 } }, { usage: { tokens: { in: 3, out: 4, cached: 1 }, requests: 1 } }]);
    expect(merged.usage).toEqual({ tokens: { in: 4, out: 6, cached: 1 }, requests: 2 });
  });

  it.each([
    ['non-numeric counters', [{ usage: { a: 1, note: 'x' } }, { usage: { a: 2, note: 'y' } }], { a: 3 }],
    ['non-finite counters', [{ usage: { a: 1 } }, { usage: { a: Infinity } }], { a: 1 }],
    ['a counter that changes shape', [{ usage: { a: 1 } }, { usage: { a: { b: 2 } } }], { a: 1 }],
    ['usage not an object', [{ usage: 5 }, { usage: [1, 2] }, { usage: { a: 1 } }], { a: 1 }],
  ])('ignores %s', (_, results, usage) => {
    expect(aggregateShardResults(results).merged.usage).toEqual(usage);
  });

  it('keeps non-object results in shards without merging them', () => {
    const results = [null, 'oops', [1, 2], { items: ['x'] }, 42];
    const { shards, merged } = aggregateShardResults(results);
    expect(shards).toEqual(results);
    expect(merged).toEqual({ items: ['x'], usage: {} });
  });

  it('handles no results', () => {
    expect(aggregateShardResults([])).toEqual({ shards: [], merged: { items: [], usage: {} } });
  });
});
