/**
 * A small static reader of the Lua our scripts are written in (Lua 5.1, as Redis runs it): which
 * names a chunk uses without declaring them (globals), which it declares at its top level, and
 * which it uses. Not a full parser: it tokenizes (comments and strings dropped), follows block
 * scopes (function, do, if/elseif/else, repeat ... end/until), and treats a name as a variable
 * unless it follows `.` or `:` or is a key in a table constructor (`{ key = ... }`).
 */

/** What Redis's Lua gives every script. */
export const REDIS_LUA_GLOBALS = new Set([
  'KEYS',
  'ARGV',
  'redis',
  'cjson',
  'cmsgpack',
  'bit',
  'struct',
  'table',
  'string',
  'math',
  'tonumber',
  'tostring',
  'type',
  'pairs',
  'ipairs',
  'unpack',
  'pcall',
  'xpcall',
  'error',
  'assert',
  'select',
  'next',
  'rawget',
  'rawset',
  'rawequal',
  'setmetatable',
  'getmetatable',
]);

const KEYWORDS = new Set([
  'and',
  'break',
  'do',
  'else',
  'elseif',
  'end',
  'false',
  'for',
  'function',
  'if',
  'in',
  'local',
  'nil',
  'not',
  'or',
  'repeat',
  'return',
  'then',
  'true',
  'until',
  'while',
]);

interface Token {
  t: string;
  line: number;
  name: boolean;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  const longBracket = (at: number): number => {
    // `[[`, `[=[`, ...: returns the level, or -1 when `at` starts no long bracket.
    const m = /^\[(=*)\[/.exec(src.slice(at, at + 64));
    return m ? m[1].length : -1;
  };
  const skipLong = (level: number) => {
    const close = `]${'='.repeat(level)}]`;
    const end = src.indexOf(close, i);
    const stop = end < 0 ? src.length : end + close.length;
    for (; i < stop; i++) if (src[i] === '\n') line++;
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (src.startsWith('--', i)) {
      const level = longBracket(i + 2);
      if (level >= 0) {
        i += 2;
        skipLong(level);
      } else {
        while (i < src.length && src[i] !== '\n') i++;
      }
    } else if (c === '[' && longBracket(i) >= 0) {
      const at = line;
      skipLong(longBracket(i));
      out.push({ t: '<string>', line: at, name: false });
    } else if (c === '"' || c === "'") {
      const at = line;
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\') i++;
        if (src[i] === '\n') line++;
        i++;
      }
      i++;
      out.push({ t: '<string>', line: at, name: false });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_]\w*/.exec(src.slice(i))![0];
      out.push({ t: m, line, name: !KEYWORDS.has(m) });
      i += m.length;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)/.exec(src.slice(i))![0];
      out.push({ t: '<number>', line, name: false });
      i += m.length;
    } else {
      const m = /^(\.\.\.|\.\.|==|~=|<=|>=)/.exec(src.slice(i, i + 3));
      const t = m ? m[1] : c;
      out.push({ t, line, name: false });
      i += t.length;
    }
  }
  return out;
}

export interface LuaNames {
  /** Names used (read or assigned) where no local of that name is in scope, in order of first use. */
  undeclared: { name: string; line: number }[];
  /** Locals (and local functions) declared at the chunk's top level. */
  topLevel: string[];
  /** Every name used as a variable. */
  used: Set<string>;
}

export function luaNames(src: string, globals: ReadonlySet<string> = REDIS_LUA_GLOBALS): LuaNames {
  const toks = tokenize(src);
  const scopes: Set<string>[] = [new Set()];
  const brackets: string[] = [];
  const undeclared: { name: string; line: number }[] = [];
  const seen = new Set<string>();
  const used = new Set<string>();
  let forVars: string[] | null = null;
  const declared = (n: string) => scopes.some((s) => s.has(n));
  const declare = (n: string) => scopes[scopes.length - 1].add(n);
  const topLevel = () => (scopes.length === 1 ? scopes[0] : null);
  const topNames: string[] = [];
  const declareTop = (n: string) => {
    if (topLevel()) topNames.push(n);
    declare(n);
  };
  const use = (tok: Token) => {
    used.add(tok.t);
    if (declared(tok.t) || globals.has(tok.t) || seen.has(tok.t)) return;
    seen.add(tok.t);
    undeclared.push({ name: tok.t, line: tok.line });
  };
  // Reads `(a, b, ...)` at k (the `(`), declaring the names in the current (new) scope; returns the index after `)`.
  const params = (k: number): number => {
    for (k++; k < toks.length && toks[k].t !== ')'; k++) if (toks[k].name) declare(toks[k].t);
    return k + 1;
  };
  for (let k = 0; k < toks.length;) {
    const tok = toks[k];
    const prev = toks[k - 1]?.t;
    const next = toks[k + 1]?.t;
    switch (tok.t) {
      case 'local':
        if (next === 'function') {
          declareTop(toks[k + 2].t);
          scopes.push(new Set());
          k = params(k + 3);
        } else {
          for (k++; k < toks.length && toks[k].name; k += toks[k + 1]?.t === ',' ? 2 : 1) {
            declareTop(toks[k].t);
            if (toks[k + 1]?.t !== ',') {
              k++;
              break;
            }
          }
        }
        continue;
      case 'function': {
        // `function name.path:method(...)`, or an anonymous `function (...)`.
        let j = k + 1;
        if (toks[j].name) use(toks[j]);
        while (toks[j].t !== '(') j++;
        scopes.push(new Set());
        k = params(j);
        continue;
      }
      case 'for':
        forVars = [];
        for (k++; toks[k].name; k += 2) {
          forVars.push(toks[k].t);
          if (toks[k + 1].t !== ',') {
            k++;
            break;
          }
        }
        continue;
      case 'do':
        scopes.push(new Set(forVars ?? []));
        forVars = null;
        break;
      case 'if':
      case 'repeat':
        scopes.push(new Set());
        break;
      case 'elseif':
      case 'else':
        scopes.pop();
        scopes.push(new Set());
        break;
      case 'end':
      case 'until':
        if (scopes.length > 1) scopes.pop();
        break;
      case '(':
      case '{':
      case '[':
        brackets.push(tok.t);
        break;
      case ')':
      case '}':
      case ']':
        brackets.pop();
        break;
      default:
        if (!tok.name || prev === '.' || prev === ':') break;
        // `{ key = value }`: a field name, not a variable.
        if (brackets[brackets.length - 1] === '{' && next === '=' && (prev === '{' || prev === ',' || prev === ';')) break;
        use(tok);
    }
    k++;
  }
  return { undeclared, topLevel: topNames, used };
}
