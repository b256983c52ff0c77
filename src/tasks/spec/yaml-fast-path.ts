/**
 * Fast path for loading submitted YAML: js-yaml, which builds plain data straight
 * from its parser events, is roughly ten times faster than yaml's CST parser +
 * composer + toJS on typical task documents. It is only used where it gives
 * exactly what the `yaml` path (parse-submission.ts) gives; everything else,
 * including every refusal, goes to that path, so error messages, alias limits
 * and nesting checks stay in one place.
 *
 * How "exactly the same" is ensured:
 * - the schema below resolves plain scalars with yaml's core-schema rules, and
 *   only allows string keys (what yaml would turn into the same string key);
 * - a pre-scan of the text (UNUSUAL_SYNTAX, hasUnusualLines) sends to the
 *   `yaml` path every construct that is rare in task documents and where the two
 *   parsers were seen to differ, or could (anchors, aliases, tags, directives,
 *   merge keys, ...). A false positive only costs time;
 * - any js-yaml error returns null (the caller then takes the `yaml` path,
 *   which produces its own error, or its own result if it accepts the text);
 * - a result nested deeper than the `yaml` path accepts returns null.
 *
 * yaml-fast-path.spec.ts checks these claims differentially against the `yaml` path.
 */
import { CORE_SCHEMA, defineMappingTag, defineScalarTag, loadAll, NOT_RESOLVED, type LoadOptions } from 'js-yaml';
import { PlainObject } from '../../contracts/plain-data';

/**
 * Mappings as plain objects with string keys only. A key that is not a string
 * (`1: a`, `null: b`, `[x]: c`) is refused, so the document falls back to the
 * `yaml` path, which turns such keys into strings its own way (`~` -> "", `0x1F`
 * -> "31", `[x]` -> "[ x ]", and `1` and `"1"` are different keys to it).
 * Duplicate keys make js-yaml throw (it calls `has` first): yaml refuses them too.
 */
const stringKeyMapTag = defineMappingTag<PlainObject>('tag:yaml.org,2002:map', {
  create: () => ({}),
  addPair: (map, key, value) => {
    if (typeof key !== 'string') return 'only string keys take the fast path';
    // Like yaml's toJS: `__proto__` becomes an own property, not the prototype.
    if (key === '__proto__') Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
    else map[key] = value;
    return '';
  },
  has: (map, key) => typeof key === 'string' && Object.hasOwn(map, key),
  keys: (map) => Object.keys(map),
  get: (map, key) => map[key as string],
  identify: () => false, // load only
});

/*
 * Plain scalars: the regular expressions and conversions of yaml's core schema
 * (yaml/dist/schema/core/int.js and float.js). js-yaml's own core tags match the
 * same texts but keep a number that overflows (`1e400`, a 400-digit integer) as a
 * string, where yaml makes it Infinity. Null and bool are js-yaml's: the same sets
 * of words as yaml's (`~`, `null`, `Null`, `NULL`, empty; `true`, `True`, `TRUE`, ...).
 */
const INT_DECIMAL = /^[-+]?[0-9]+$/;
const INT_OCTAL = /^0o[0-7]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const intTag = defineScalarTag<number>('tag:yaml.org,2002:int', {
  implicit: true,
  implicitFirstChars: ['-', '+', ...'0123456789'],
  resolve: (source) => {
    if (INT_DECIMAL.test(source)) return parseInt(source, 10);
    if (INT_OCTAL.test(source)) return parseInt(source.substring(2), 8);
    if (INT_HEX.test(source)) return parseInt(source.substring(2), 16);
    return NOT_RESOLVED;
  },
  identify: () => false,
});

const FLOAT_SPECIAL = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
/** yaml's floatExp and float tests in one: a fraction, an exponent, or both. */
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const floatTag = defineScalarTag<number>('tag:yaml.org,2002:float', {
  implicit: true,
  implicitFirstChars: ['-', '+', '.', ...'0123456789'],
  resolve: (source) => {
    if (FLOAT_SPECIAL.test(source)) {
      if (source.slice(-3).toLowerCase() === 'nan') return NaN;
      return source[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
    }
    // Plain integers never get here: intTag comes first and takes them.
    if (FLOAT.test(source)) return parseFloat(source);
    return NOT_RESOLVED;
  },
  identify: () => false,
});

/** Core schema (no merge keys, timestamps, binary, sets, ...), with the tags above replacing js-yaml's. */
const SCHEMA = CORE_SCHEMA.withTags(stringKeyMapTag, intTag, floatTag);

const INDENTED_MARKER = String.raw`(?:^|\n)[^\S\r\n]+(?:---|\.\.\.)`;
const CONTENT_AFTER_DOCUMENT_END = String.raw`(?:^|\n)\.\.\.[^\S\r\n]*\S`;

/**
 * Text the fast path leaves to the `yaml` path. Each alternative is either a
 * feature whose result the `yaml` path controls (limits, schema) or a spot where
 * the two parsers were seen to disagree, mostly js-yaml accepting what yaml
 * refuses. Line starts are written `(?:^|\n)`: for both parsers only LF (or
 * CRLF) ends a line, unlike for the `m` flag.
 */
const UNUSUAL_SYNTAX = new RegExp(
  [
    // Anchor, alias or tag indicator where a node may start (also catches some
    // harmless text such as ` *note*` or ` !`; that only costs time).
    String.raw`(?:^|[\s,[\]{}:?-])[&*!]`,
    // Directive, even indented (js-yaml skips the indentation; yaml refuses).
    String.raw`(?:^|\n)[^\S\r\n]*%`,
    // Merge key (plain key `<<` for both with the core schema, but left to yaml).
    '<<',
    // A CR that is not part of CRLF: js-yaml breaks the line there, yaml does not.
    String.raw`\r(?!\n)`,
    // Byte order mark anywhere: yaml refuses some documents after one.
    '\uFEFF',
    // Tab in indentation: yaml refuses some that js-yaml accepts.
    String.raw`(?:^|\n) *\t`,
    // Indented `---` / `...`: js-yaml may read a document marker, yaml reads text.
    INDENTED_MARKER,
    // Content after a `...` document end marker on its line: js-yaml accepts it, yaml refuses.
    CONTENT_AFTER_DOCUMENT_END,
    // Block scalar with an indentation indicator (`|2`, `>-1`) or keep chomping
    // (`|+`): different results at the edges (trailing spaces, short lines).
    String.raw`[|>](?:[-+]?[0-9]|[0-9]?\+)`,
    // Escaped line break in a double-quoted string: the two fold what follows differently.
    String.raw`\\\r?\n`,
    // `\U` escape: js-yaml accepts code points beyond U+10FFFF.
    String.raw`\\U`,
  ].join('|'),
);

/**
 * A quick test that finds nothing in most documents and is a few times cheaper
 * than UNUSUAL_SYNTAX: every match of UNUSUAL_SYNTAX contains one of these
 * characters, `<<`, or is one of the two line patterns repeated here.
 */
const MAYBE_UNUSUAL_SYNTAX = new RegExp([String.raw`[&*!%\r\uFEFF\t|>\\]`, '<<', INDENTED_MARKER, CONTENT_AFTER_DOCUMENT_END].join('|'));

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const HASH = 0x23;
const DASH = 0x2d;
const COLON = 0x3a;
const PIPE = 0x7c;
const GREATER = 0x3e;
const BACKSLASH = 0x5c;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const OPENERS = '[{';
const CLOSERS = ']}';

const isBlank = (char: number) => char === SPACE || char === TAB || char === CR;

/**
 * Checks made line by line, in one linear pass (as regular expressions they
 * would need backtracking that is quadratic on some texts):
 *
 * - A full-line comment less indented than the next content line (`key:` /
 *   `# c` / `  value`): yaml may end the value at the comment and then refuse
 *   the text, or read it differently (`-` / `# c` / `  a` / `- b` is ["a - b"]
 *   to yaml, ["a", "b"] to js-yaml).
 * - yaml refuses an implicit key whose `:` is more than 1024 characters after
 *   the key's start; js-yaml has no such limit. Implicit keys are single-line,
 *   so no such key exists unless some `:` is at least that far into its line
 *   (checked from column 1000, to be safe).
 * - A sequence entry that is a quoted or flow item must end its line (see
 *   endsItsLine).
 * - A line starting with `:` and no space after it (`{k` / `:v}`: js-yaml reads
 *   {k: v}, yaml refuses), or with a block scalar header (` >` as a document's
 *   root: the two disagree about a `#` line after it).
 */
function hasUnusualLines(text: string): boolean {
  // Least indented comment line since the last content line.
  let commentIndent = Number.POSITIVE_INFINITY;
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    let first = start;
    while (first < end && (text.charCodeAt(first) === SPACE || text.charCodeAt(first) === TAB)) first++;
    const indent = first - start;
    const char = first < end ? text.charCodeAt(first) : CR; // an empty line is blank, like a CRLF one
    if (char === HASH) {
      commentIndent = Math.min(commentIndent, indent);
    } else if (char !== CR) {
      if (indent > commentIndent) return true;
      commentIndent = Number.POSITIVE_INFINITY;
      if (end - start > 1000 && text.slice(start + 1000, end).includes(':')) return true;
      if (char === DASH && !endsItsLine(text, first, end)) return true;
      if (char === COLON && first + 1 < end && !isBlank(text.charCodeAt(first + 1))) return true;
      if (char === PIPE || char === GREATER) return true;
    }
    start = end + 1;
  }
  return false;
}

/**
 * For a line whose content starts at `from` with a sequence entry (`- `, maybe
 * nested: `- - `) holding a quoted or flow item: whether nothing but a comment,
 * or a `: ` making the item a key, follows that item on the line. js-yaml reads
 * `l:` / `- [a] b: 1` as {l: [[a]], b: 1} (a sequence as indented as its parent
 * mapping lets the line's rest start a new key), yaml refuses it. An item that
 * does not close on its line counts as not ending it (rare; left to yaml).
 */
function endsItsLine(text: string, from: number, end: number): boolean {
  let at = from;
  while (text.charCodeAt(at) === DASH && (text.charCodeAt(at + 1) === SPACE || text.charCodeAt(at + 1) === TAB)) {
    at += 2;
    while (at < end && (text.charCodeAt(at) === SPACE || text.charCodeAt(at) === TAB)) at++;
  }
  if (at === from) return true; // not a sequence entry (e.g. `-1`, `---`)
  const opener = text.charCodeAt(at);
  if (opener !== SINGLE_QUOTE && opener !== DOUBLE_QUOTE && !OPENERS.includes(text[at])) return true;

  // Skip the item: a quoted string, or a flow collection with whatever it nests.
  let depth = 0;
  do {
    const char = text.charCodeAt(at);
    if (char === DOUBLE_QUOTE) {
      // to the closing quote, skipping escapes (`\"`)
      for (at++; at < end && text.charCodeAt(at) !== DOUBLE_QUOTE; at++) if (text.charCodeAt(at) === BACKSLASH) at++;
    } else if (char === SINGLE_QUOTE) {
      // to the closing quote; `''` inside is an escaped quote
      for (at++; at < end; at++) {
        if (text.charCodeAt(at) !== SINGLE_QUOTE) continue;
        if (text.charCodeAt(at + 1) !== SINGLE_QUOTE) break;
        at++;
      }
    } else if (OPENERS.includes(text[at])) {
      depth++;
    } else if (CLOSERS.includes(text[at])) {
      depth--;
    }
    if (at >= end) return false; // unclosed on this line
    at++;
  } while (depth > 0 && at < end);
  if (depth > 0) return false;

  // Then only blanks, and a comment or the `:` of a key.
  const itemEnd = at;
  while (at < end && isBlank(text.charCodeAt(at))) at++;
  if (at === end) return true;
  const char = text.charCodeAt(at);
  if (char === HASH) return at > itemEnd;
  return char === COLON && (at + 1 === end || isBlank(text.charCodeAt(at + 1)));
}

/** Whether `value` has anything deeper than `maxDepth`, counting the document's value as 1 and each scalar as a level. */
function isNestedDeeperThan(value: unknown, maxDepth: number): boolean {
  // Iterative, and only collections are stacked: a collection at depth d holds scalars at depth d + 1.
  const collections: object[] = [];
  const depths: number[] = [];
  if (value !== null && typeof value === 'object') {
    collections.push(value);
    depths.push(1);
  }
  for (let collection = collections.pop(); collection; collection = collections.pop()) {
    const depth = depths.pop() as number;
    const children = Array.isArray(collection) ? collection : Object.values(collection);
    if (children.length > 0 && depth + 1 > maxDepth) return true;
    for (const child of children) {
      if (child !== null && typeof child === 'object') {
        collections.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/**
 * The non-empty documents of `text` (an empty document, e.g. after a trailing
 * `---`, loads as null or undefined and is skipped), or null when the fast path
 * does not apply and the caller must use the `yaml` path.
 *
 * `maxDepth` is the deepest nesting the `yaml` path accepts, counted as there:
 * the document's value is at depth 1, what it contains at depth 2, and so on.
 */
export function loadWithJsYaml(text: string, maxDepth: number): unknown[] | null {
  if ((MAYBE_UNUSUAL_SYNTAX.test(text) && UNUSUAL_SYNTAX.test(text)) || hasUnusualLines(text)) return null;

  const options: LoadOptions = {
    schema: SCHEMA,
    // js-yaml counts collections only, so its maxDepth lets through one level more
    // than ours (a scalar inside); isNestedDeeperThan below decides. This only
    // bounds js-yaml's own work on absurd nesting.
    maxDepth,
    // The pre-scan already left aliases to yaml (which enforces maxAliasExpansion);
    // this makes sure js-yaml never expands one anyway.
    maxAliases: 0,
  };
  let loaded: unknown[];
  try {
    loaded = loadAll(text, options);
  } catch {
    return null; // whatever the reason: the `yaml` path gives the error, or its result
  }

  const documents: unknown[] = [];
  for (const value of loaded) {
    if (value === null || value === undefined) continue;
    if (isNestedDeeperThan(value, maxDepth)) return null;
    documents.push(value);
  }
  return documents;
}
