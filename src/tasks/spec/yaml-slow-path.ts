/**
 * The `yaml` path of submission loading: the reference every fast-path result must equal, and the
 * one that gives every refusal its message. Pure (no Nest, no Redis) and free of js-yaml, so that
 * a worker thread (yaml-thread.worker.ts) can load it alone.
 */
import { Composer, CST, Document, isScalar, Lexer, LineCounter, Parser, visit } from 'yaml';
import { SpecError } from './task-draft';

export interface ParseSubmissionOptions {
  /** yaml's `maxAliasCount`: how far aliases may expand before the document is refused as an alias bomb. */
  maxAliasExpansion?: number;
  /** Most non-empty documents accepted in one submission. */
  maxDocuments?: number;
  /** Most tasks one submission may create: documents × stages × graph nodes (MAX_TASKS_PER_SUBMISSION). */
  maxTasks?: number;
  /** Longest `metadata.name`, `metadata.owner`, stage or node name, in UTF-16 units (MAX_NAME_LENGTH). */
  maxNameLength?: number;
}

const DEFAULT_MAX_ALIAS_EXPANSION = 100;
// Batches of 500 are a normal way to submit (the benchmarks use them). A submission is created by
// one atomic script (all or none), which holds Redis about 0.15 ms per task: 1,000 caps that stall.
export const DEFAULT_MAX_DOCUMENTS = 1000;
/** Real task documents nest a handful of levels; yaml's recursion fails near 800. */
export const MAX_NESTING_DEPTH = 100;

export function tooManyDocuments(maxDocuments: number): SpecError {
  return new SpecError('', `Too many task documents: at most ${maxDocuments} per submission`);
}

/** The reference path: every document the fast path accepts must load here to the same data. */
export function loadWithYaml(text: string, opts: ParseSubmissionOptions = {}): unknown[] {
  const maxAliasCount = opts.maxAliasExpansion ?? DEFAULT_MAX_ALIAS_EXPANSION;
  const maxDocuments = opts.maxDocuments ?? DEFAULT_MAX_DOCUMENTS;

  // What yaml's parseAllDocuments does, split in two so that nesting can be
  // checked between the (iterative) CST parser and the (recursive) composer.
  const length = parseableLength(text);
  const lineCounter = new LineCounter();
  const tokens = Array.from(new Parser(lineCounter.addNewLine).parse(length < text.length ? text.slice(0, length) : text));
  checkNesting(tokens, lineCounter);
  // A cut text nests 2 × MAX_NESTING_DEPTH deep by construction: checkNesting has refused it.
  if (length < text.length) throw nestedTooDeeply('');
  const composer = new Composer({
    // The core schema even under `%YAML 1.1` and for explicit `!!binary`/`!!set`/
    // `!!timestamp` tags, so documents only ever hold JSON-like data.
    schema: 'core',
    logLevel: 'error',
    // yaml's own check is quadratic in the keys of a mapping: firstDuplicateKey below instead.
    uniqueKeys: false,
  });

  const documents: unknown[] = [];
  for (const doc of composer.compose(tokens)) {
    const [error] = doc.errors;
    if (error) throw new SpecError('', `Invalid YAML: ${error.message}${describePosition(lineCounter, error.pos[0])}`);
    const duplicate = firstDuplicateKey(doc);
    if (duplicate !== undefined) throw new SpecError('', `Invalid YAML: Map keys must be unique${describePosition(lineCounter, duplicate)}`);

    const value = toPlainData(doc, maxAliasCount);
    if (value === null || value === undefined) continue; // empty document, e.g. after a trailing `---`
    if (documents.length === maxDocuments) {
      throw tooManyDocuments(maxDocuments);
    }
    documents.push(value);
  }
  return documents;
}

/**
 * yaml's own duplicate-key check (its default `uniqueKeys`) compares each key of a mapping with
 * every earlier one: a 0.8 MB mapping of 68,000 keys took minutes of CPU, blocking the process.
 * This is the same rule (scalar keys equal when their values are ===, so `~` and `null` collide,
 * `1` and `"1"` do not, nor two `.nan`; collection keys never) with a Set per mapping: linear.
 * Returns the offset of the earliest key that repeats one before it, as yaml would report it.
 */
function firstDuplicateKey(doc: Document.Parsed): number | undefined {
  let first: number | undefined;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key) || Number.isNaN(key.value)) continue;
        if (seen.has(key.value)) {
          const offset = key.range?.[0];
          if (offset !== undefined && (first === undefined || offset < first)) first = offset;
          break;
        }
        seen.add(key.value);
      }
    },
  });
  return first;
}

/**
 * The CST of flow collections nested tens of thousands deep outgrows any sane memory budget (1 MB of
 * `[` took 900 MB and 5 s), and whether it fits would then decide the answer. Such a text is caught
 * from the lexer's tokens, where flow indicators are exact, before any CST is built; only the text
 * up to where that flow collection is 2 × MAX_NESTING_DEPTH deep is then parsed, which refuses it
 * for nesting at the same place as the whole text would (unless another part nests too deeply too).
 */
const MAX_FLOW_DEPTH_TO_PARSE = 10_000;
/** Tokens the lexer emits that are not source text (yaml's CST DOCUMENT, FLOW_END and SCALAR markers). */
const MARKERS = new Set(['\x02', '\x18', '\x1f']);

/** Where to cut `text` before parsing it (its length when flow collections nest less than MAX_FLOW_DEPTH_TO_PARSE). */
function parseableLength(text: string): number {
  let depth = 0;
  let offset = 0;
  let cutAt = text.length;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      depth++;
      if (depth === 2 * MAX_NESTING_DEPTH) cutAt = offset;
      else if (depth > MAX_FLOW_DEPTH_TO_PARSE) return cutAt;
    } else if ((token === ']' || token === '}') && depth > 0) depth--;
    if (!MARKERS.has(token)) offset += token.length;
  }
  return text.length;
}

function nestedTooDeeply(where: string): SpecError {
  return new SpecError('', `Task document is nested too deeply (more than ${MAX_NESTING_DEPTH} levels)${where}`);
}

/**
 * yaml composes documents recursively. Nesting deep enough to exhaust the stack
 * does not merely fail one request: a later parse in the same process can then
 * abort node with a fatal "RegExpCompiler Allocation failed" (seen with yaml 2.9
 * on node 20 parsing `a: [[[...]]]` 5,000 deep, then 20,000 deep). The CST
 * parser is iterative, so depth is measured on its tokens, before composing.
 */
function checkNesting(tokens: CST.Token[], lineCounter: LineCounter): void {
  const pending = tokens.map((token) => ({ token, depth: 0 }));
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { token, depth } = next;
    if (depth > MAX_NESTING_DEPTH) {
      throw nestedTooDeeply(describePosition(lineCounter, token.offset));
    }
    for (const child of childTokens(token)) pending.push({ token: child, depth: depth + 1 });
  }
}

function childTokens(token: CST.Token): CST.Token[] {
  switch (token.type) {
    case 'document':
      return token.value ? [token.value] : [];
    case 'block-map':
    case 'block-seq':
    case 'flow-collection':
      return (token.items as CST.CollectionItem[]).flatMap((item) => [item.key, item.value]).filter(isToken);
    default:
      return [];
  }
}

function isToken(token: CST.Token | null | undefined): token is CST.Token {
  return token !== null && token !== undefined;
}

/**
 * Aliases are only expanded here, and yaml counts the expansion as it goes, so
 * an alias bomb stops after a few hundred nodes instead of exhausting memory.
 */
function toPlainData(doc: Document.Parsed, maxAliasCount: number): unknown {
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // yaml signals the limit only through these messages ("Excessive alias count
    // indicates a resource exhaustion attack", "Alias resolution is disabled").
    if (/alias count|alias resolution is disabled/i.test(message)) {
      throw new SpecError('', `YAML aliases expand beyond the allowed limit (maxAliasCount ${maxAliasCount})`);
    }
    throw new SpecError('', `Invalid YAML: ${message}`);
  }
  assertAcyclic(value);
  return value;
}

/**
 * An alias inside its own anchor (`spec: &s {again: *s}`) makes a cyclic value, which no task
 * document can be (cloning or storing it would overflow the stack or throw). Checked with an
 * explicit stack; shared, non-cyclic aliases are fine and are bounded by maxAliasCount.
 */
function assertAcyclic(root: unknown): void {
  const onPath = new Set<object>();
  const stack: { node: object; children: unknown[]; next: number }[] = [];
  const enter = (value: unknown) => {
    if (typeof value !== 'object' || value === null) return;
    if (onPath.has(value)) throw new SpecError('', 'YAML alias refers to a node that contains it (a cycle): not task data');
    onPath.add(value);
    stack.push({ node: value, children: Object.values(value), next: 0 });
  };
  enter(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.children.length) enter(top.children[top.next++]);
    else {
      onPath.delete(top.node);
      stack.pop();
    }
  }
}

function describePosition(lineCounter: LineCounter, offset: number | undefined): string {
  if (offset === undefined) return '';
  const { line, col } = lineCounter.linePos(offset);
  return ` (line ${line}, column ${col})`;
}
