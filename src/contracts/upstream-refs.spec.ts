import fc from 'fast-check';
import { findReferences, resolveReferences, type UpstreamResult } from './upstream-refs';

const up = (result: unknown, id = 'id-prev'): Record<string, UpstreamResult> => ({ prev: { id, result } });

describe('upstream references', () => {
  it('an exact reference keeps the type; an embedded one is text; task_id is the upstream id', () => {
    const r = resolveReferences(
      {
        n: '${prev.result.x}',
        text: 'n=${prev.result.x}',
        obj: '${prev.result.o}',
        inText: 'o=${prev.result.o};',
        id: '${prev.task_id}',
        all: '${prev.result}',
        i: '${prev.result.list.1}',
        shell: 'echo ${HOME}',
      },
      up({ x: 42, o: { a: [1, 'b'] }, list: ['zero', 'one'] }),
    );
    expect(r).toEqual({
      ok: true,
      value: {
        n: 42,
        text: 'n=42',
        obj: { a: [1, 'b'] },
        inText: 'o={"a":[1,"b"]};',
        id: 'id-prev',
        all: { x: 42, o: { a: [1, 'b'] }, list: ['zero', 'one'] },
        i: 'one',
        shell: 'echo ${HOME}',
      },
    });
  });

  it('a missing path is a clear error', () => {
    expect(resolveReferences({ v: '${prev.result.x}' }, up({ y: 1 }))).toEqual({ ok: false, error: `\${prev.result.x}: prev's result has no "x"` });
    expect(resolveReferences(['a ${prev.result.a.b} c'], up({ a: { c: 1 } }))).toEqual({ ok: false, error: `\${prev.result.a.b}: prev's result has no "a.b"` });
    expect(resolveReferences('${other.task_id}', up({}))).toEqual({ ok: false, error: '${other.task_id}: "other" is not a stage upstream of this task' });
  });

  it('a value put into a text is not read again as a reference', () => {
    expect(resolveReferences('${prev.result.a}${prev.result.b}', up({ a: '${prev.result.b}', b: 'B' }))).toEqual({ ok: true, value: '${prev.result.b}B' });
  });

  it('finds references with the path of their string, stage names with dots included', () => {
    expect(findReferences({ a: [{ b: 'x ${s.1.result.k} ${t.task_id}' }], c: '${nope}' }, ['spec'])).toEqual([
      { path: ['spec', 'a', 0, 'b'], ref: { text: '${s.1.result.k}', stage: 's.1', kind: 'result', path: ['k'] } },
      { path: ['spec', 'a', 0, 'b'], ref: { text: '${t.task_id}', stage: 't', kind: 'task_id', path: [] } },
    ]);
  });

  // Generated documents and results: the resolver never throws, keeps the type of exact references,
  // embeds the JSON text of others, and says which path is missing.
  const key = fc.constantFrom('a', 'b', 'x', '0', '1', '__proto__', 'constructor');
  const results = fc.jsonValue({ maxDepth: 4 });
  const path = fc.array(key, { maxLength: 4 });

  function follow(value: unknown, keys: string[]): { found: true; value: unknown } | { found: false; at: number } {
    let cur = value;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (Array.isArray(cur) && /^(0|[1-9]\d*)$/.test(k) && Number(k) < cur.length) cur = cur[Number(k)];
      else if (typeof cur === 'object' && cur !== null && !Array.isArray(cur) && Object.hasOwn(cur, k)) cur = (cur as Record<string, unknown>)[k];
      else return { found: false, at: i };
    }
    return { found: true, value: cur };
  }
  const text = (keys: string[]) => `\${prev.result${keys.map((k) => `.${k}`).join('')}}`;

  it('never throws; exact references keep their value and type, unresolvable ones name the missing path (generated)', () => {
    fc.assert(
      fc.property(results, path, fc.jsonValue({ maxDepth: 3 }), (result, keys, doc) => {
        const ref = text(keys);
        const got = resolveReferences({ doc, exact: ref, embedded: `<${ref}>` }, up(result));
        const want = follow(result, keys);
        if (want.found) {
          expect(got.ok).toBe(true);
          const v = (got as { value: Record<string, unknown> }).value;
          expect(v.exact).toEqual(want.value);
          expect(v.embedded).toBe(`<${typeof want.value === 'string' ? want.value : JSON.stringify(want.value)}>`);
        } else {
          expect(got).toEqual({ ok: false, error: `${ref}: prev's result has no "${keys.slice(0, want.at + 1).join('.')}"` });
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on any document, and leaves documents without references as they are (generated)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.string(), results, (doc, s, result) => {
        const withText = { doc, s: `${s}\${prev.result}${s}` };
        const r = resolveReferences(withText, up(result));
        expect(typeof r.ok).toBe('boolean');
        if (findReferences(doc).length === 0) {
          const plain = resolveReferences(doc, up(result));
          expect(plain).toEqual({ ok: true, value: doc });
        }
      }),
      { numRuns: 500 },
    );
  });
});
