import fc from 'fast-check';
import { errorToStore, MAX_RESULT_BYTES, MAX_RESULT_DEPTH, nestingDepth, resultToStore } from '../contracts/stored-result';
import { readTaskEvent, scanTopLevel } from './event-parsing';

const TASK = '3b241101-e2bb-4255-8caf-4136c566a962';
const deep = (levels: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

describe('readTaskEvent', () => {
  it('reads a report, an acknowledgement, and leaves other traffic alone', () => {
    expect(readTaskEvent(JSON.stringify({ type: 'task_succeeded', worker_id: 'w', task_id: TASK, result: { x: 1 } }))).toEqual({
      ev: expect.objectContaining({ type: 'TASK_SUCCEEDED', worker_id: 'w', task_id: TASK, result: { x: 1 } }),
    });
    expect(readTaskEvent(JSON.stringify({ type: 'TASK_STARTED', worker_id: 'w', task_id: TASK }))).toEqual({ ev: expect.objectContaining({ type: 'TASK_STARTED' }) });
    expect(readTaskEvent(JSON.stringify({ type: 'ORCH_TASK_DONE', task_id: TASK }))).toBeNull();
    expect(readTaskEvent(JSON.stringify({ hello: 1 }))).toBeNull();
  });

  it('rejects, with a reason, a report that names no task of ours or no worker', () => {
    expect(readTaskEvent(JSON.stringify({ type: 'TASK_SUCCEEDED', worker_id: 'w', task_id: `${TASK}:dependents` }))).toEqual({
      rejected: expect.stringContaining('names no task of ours'),
    });
    expect(readTaskEvent(JSON.stringify({ type: 'TASK_FAILED', worker_id: 'w' }))).toEqual({ rejected: expect.stringContaining('task_id missing') });
    expect(readTaskEvent(JSON.stringify({ type: 'TASK_FAILED', worker_id: 7, task_id: TASK }))).toEqual({ rejected: expect.stringContaining('worker_id') });
    expect(readTaskEvent('{"type":"TASK_FAILED",')).toEqual({ rejected: 'not valid JSON' });
    expect(readTaskEvent('[1,2]')).toEqual({ rejected: 'not a JSON object' });
  });

  it('reads explicit nulls as absent', () => {
    const r = readTaskEvent(JSON.stringify({ type: 'TASK_FAILED', worker_id: 'w', task_id: TASK, error: null, result: null, attempt: null, tags: null }));
    expect(r).toEqual({ ev: { type: 'TASK_FAILED', worker_id: 'w', task_id: TASK, attempt: undefined } });
  });

  it('ends the attempt of a report too large to parse: its fields are scanned, its result is a marker', () => {
    const big = JSON.stringify({ type: 'TASK_SUCCEEDED', result: { text: 'x'.repeat(5000), nested: deep(50) }, worker_id: 'w-1', task_id: TASK, attempt: 2 });
    const r = readTaskEvent(big, 1024);
    expect(r).toEqual({
      ev: expect.objectContaining({
        type: 'TASK_SUCCEEDED',
        worker_id: 'w-1',
        task_id: TASK,
        attempt: 2,
        result: expect.objectContaining({ truncated: true, original_bytes: big.length }),
      }),
    });
    const failed = readTaskEvent(JSON.stringify({ type: 'TASK_FAILED', worker_id: 'w-1', task_id: TASK, error: 'e'.repeat(5000) }), 1024);
    expect(failed).toEqual({ ev: expect.objectContaining({ type: 'TASK_FAILED', error: expect.stringContaining('too large to read') }) });
  });

  it('never throws and answers every text with an event, a rejection or null (property)', () => {
    const event = fc.record(
      {
        type: fc.oneof(fc.constantFrom('TASK_SUCCEEDED', 'task_failed', 'TASK_STARTED', 'ORCH_TASK_DONE', 'STATUS'), fc.string()),
        worker_id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        task_id: fc.oneof(fc.constant(TASK), fc.uuid(), fc.string(), fc.constant(`${TASK}:dependents`), fc.constant(null)),
        result: fc.jsonValue(),
        error: fc.oneof(fc.string(), fc.jsonValue()),
        attempt: fc.oneof(fc.integer(), fc.double(), fc.constant(null)),
      },
      { requiredKeys: [] },
    );
    const text = fc.oneof(
      event.map((e) => JSON.stringify(e)),
      fc.string(),
      fc.json(),
    );
    fc.assert(
      fc.property(text, fc.integer({ min: 16, max: 4096 }), (raw, max) => {
        const r = readTaskEvent(raw, max);
        if (r === null) return;
        if ('rejected' in r) expect(typeof r.rejected).toBe('string');
        else expect(['TASK_SUCCEEDED', 'TASK_FAILED', 'TASK_STARTED']).toContain(r.ev.type);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('scanTopLevel', () => {
  it('finds what JSON.parse finds at the top level, whatever is nested (property)', () => {
    const obj = fc.dictionary(fc.oneof(fc.constantFrom('type', 'worker_id', 'task_id', 'attempt', 'protocol'), fc.string()), fc.jsonValue());
    fc.assert(
      fc.property(obj, fc.boolean(), (o, indent) => {
        const raw = JSON.stringify(o, null, indent ? 2 : 0);
        const parsed = JSON.parse(raw) as Record<string, unknown>;
        const scanned = scanTopLevel(raw);
        expect(scanned).not.toBeNull();
        for (const k of ['type', 'worker_id', 'task_id', 'attempt', 'protocol']) {
          const v = parsed[k];
          const expected = typeof v === 'number' || (typeof v === 'string' && JSON.stringify(v).length <= 1024) ? v : undefined;
          expect(scanned![k]).toEqual(expected);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('skips nesting deeper than any stack without recursion', () => {
    const raw = `{"result":${'['.repeat(200_000)}${']'.repeat(200_000)},"type":"TASK_SUCCEEDED"}`;
    expect(scanTopLevel(raw)).toEqual({ type: 'TASK_SUCCEEDED' });
    expect(scanTopLevel('not json')).toBeNull();
    expect(scanTopLevel('{"a": [1, 2')).toBeNull();
  });
});

describe('resultToStore and errorToStore', () => {
  it('stores a result as JSON, a marker when too large or too deep, and never throws (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = resultToStore(v);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 500 },
    );
    for (const levels of [MAX_RESULT_DEPTH + 1, 5000, 20_000]) {
      const text = resultToStore(deep(levels));
      expect(JSON.parse(text)).toMatchObject({ truncated: true, note: expect.stringContaining('nested deeper') });
    }
    expect(nestingDepth(resultToStore(deep(MAX_RESULT_DEPTH)))).toBe(MAX_RESULT_DEPTH);
    expect(JSON.parse(resultToStore({ s: 'x'.repeat(MAX_RESULT_BYTES) }))).toMatchObject({ truncated: true, original_bytes: MAX_RESULT_BYTES + 8 });
  });

  it('stores an error as bounded text, whatever its shape', () => {
    expect(errorToStore(undefined)).toBe('task failed (no error given)');
    expect(errorToStore(deep(20_000))).toContain('nested too deeply');
    expect(errorToStore('e'.repeat(10_000)).length).toBeLessThan(4100);
  });
});

describe('nestingDepth', () => {
  it('does not count brackets inside strings', () => {
    expect(nestingDepth(JSON.stringify({ a: ['[[[{"', { b: '\\"[' }] }))).toBe(3);
  });
});
