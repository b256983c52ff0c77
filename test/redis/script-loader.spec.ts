import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TASKS_EVENTS_CHANNEL, WORKERS_EVENTS_CHANNEL } from '../../src/contracts/protocol';
import { PREFIX } from '../../src/redis/keys';
import { loadScriptSource, LuaReader, SCRIPT_NAMES, ScriptLoadError } from '../../src/redis/scripts';
import { luaNames } from './lua-names';

/**
 * The script loader (no Redis): `--- @include` resolution, constants from TypeScript, and a static
 * check that every script declares, through its includes or itself, every name it uses.
 */
const dir = join(__dirname, '../../src/redis/scripts');
const includeNames = readdirSync(join(dir, 'includes'))
  .filter((f) => f.endsWith('.lua'))
  .map((f) => f.replace(/\.lua$/, ''));
const raw = (path: string) => readFileSync(join(dir, `${path}.lua`), 'utf8');
const directIncludes = (text: string) => [...text.matchAll(/^--- @include "([\w-]+)"$/gm)].map((m) => m[1]);
/** A file's own text, constants substituted, its includes left out. */
const ownText = (path: string) => loadScriptSource(path, (p) => (p === path ? raw(path) : ''));
const fromMap =
  (files: Record<string, string>): LuaReader =>
  (p) =>
    files[p] ?? null;

describe('Lua script loader', () => {
  it('the scripts folder holds exactly the scripts SCRIPT_NAMES lists', () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.lua'))
      .map((f) => f.replace(/\.lua$/, ''));
    expect(files.sort()).toEqual([...SCRIPT_NAMES].sort());
  });

  describe.each([...SCRIPT_NAMES])('%s', (name) => {
    const src = loadScriptSource(name);

    it('uses no name that its includes or itself do not declare', () => {
      expect(luaNames(src).undeclared).toEqual([]);
    });

    it('gets each helper once, and nothing is left to substitute', () => {
      const top = luaNames(src).topLevel;
      expect(top.filter((n, i) => top.indexOf(n) !== i)).toEqual([]);
      expect(src).not.toMatch(/\{\{|@include/);
    });

    it('starts with a header: what it does, KEYS, ARGV and what it returns', () => {
      const header = raw(name)
        .split('\n')
        .filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('--')));
      expect(header[0]).toMatch(new RegExp(`^-- ${name}: \\S`));
      for (const part of ['KEYS', 'ARGV', 'Returns']) expect(header.some((l) => l.startsWith(`-- ${part}:`))).toBe(true);
    });
  });

  describe.each([...SCRIPT_NAMES.map((n) => [n, n]), ...includeNames.map((n) => [`includes/${n}`, n])])('%s', (path) => {
    it('names every include it uses itself (nothing comes only through another include)', () => {
      const declared = new Set(directIncludes(raw(path)).flatMap((inc) => luaNames(ownText(`includes/${inc}`)).topLevel));
      expect(luaNames(ownText(path)).undeclared.filter((u) => !declared.has(u.name))).toEqual([]);
    });

    it('uses something from every include it names (no helper it does not need)', () => {
      const used = luaNames(ownText(path)).used;
      const unused = directIncludes(raw(path)).filter((inc) => !luaNames(ownText(`includes/${inc}`)).topLevel.some((n) => used.has(n)));
      expect(unused).toEqual([]);
    });

    it('repeats no key prefix or channel name: they come from TypeScript', () => {
      const code = raw(path)
        .split('\n')
        .filter((l) => !l.trimStart().startsWith('--'))
        .join('\n');
      for (const literal of [PREFIX, TASKS_EVENTS_CHANNEL, WORKERS_EVENTS_CHANNEL]) expect(code).not.toContain(literal);
    });
  });

  it('every include is used by some script', () => {
    const reached = new Set<string>();
    const walk = (path: string) => directIncludes(raw(path)).forEach((inc) => reached.has(inc) || (reached.add(inc), walk(`includes/${inc}`)));
    SCRIPT_NAMES.forEach(walk);
    expect(includeNames.filter((n) => !reached.has(n))).toEqual([]);
  });

  it('resolves includes recursively, each once, before the text that names them', () => {
    const files = {
      s: '--- @include "b"\n--- @include "c"\nreturn b() + c()',
      'includes/a': 'local function a() return 1 end',
      'includes/b': '--- @include "a"\nlocal function b() return a() end',
      'includes/c': '--- @include "a"\nlocal function c() return a() + 1 end',
    };
    const src = loadScriptSource('s', fromMap(files));
    expect(src.match(/local function a\(/g)).toHaveLength(1);
    expect(src.indexOf('function a(')).toBeLessThan(src.indexOf('function b('));
    expect(src.indexOf('function b(')).toBeLessThan(src.indexOf('function c('));
    expect(luaNames(src).undeclared).toEqual([]);
  });

  it('refuses a missing include and a cycle, naming the chain', () => {
    const missing = { s: '--- @include "b"', 'includes/b': '--- @include "nope"' };
    expect(() => loadScriptSource('s', fromMap(missing))).toThrow(new ScriptLoadError('Lua include not found: "nope" (s -> includes/b -> includes/nope)'));
    const cycle = { s: '--- @include "a"', 'includes/a': '--- @include "b"', 'includes/b': '--- @include "a"' };
    expect(() => loadScriptSource('s', fromMap(cycle))).toThrow(/cycle: s -> includes\/a -> includes\/b -> includes\/a/);
    const self = { s: '--- @include "a"', 'includes/a': '--- @include "a"' };
    expect(() => loadScriptSource('s', fromMap(self))).toThrow(/cycle/);
    expect(() => loadScriptSource('nope', fromMap({}))).toThrow(/not found: nope\.lua/);
  });

  it('substitutes constants as Lua literals and key builders around a variable, and refuses unknown ones', () => {
    const read = (text: string) => fromMap({ s: text });
    expect(loadScriptSource('s', read('return {{Keys.queue}}, {{Keys.task(id)}}, {{workerKey(w)}}, {{TASKS_EVENTS_CHANNEL}}, {{MAX_WORKER_ID_LENGTH}}'))).toBe(
      `return '${PREFIX}queue', ('${PREFIX}task:' .. id), ('worker:' .. w), '${TASKS_EVENTS_CHANNEL}', 128`,
    );
    expect(() => loadScriptSource('s', read('{{Keys.nope}}'))).toThrow(/unknown constant \{\{Keys\.nope\}\}/);
    expect(() => loadScriptSource('s', read('{{Keys.task}}'))).toThrow(/builds a key/);
    expect(() => loadScriptSource('s', read('{{Keys.queue(x)}}'))).toThrow(/not a key builder/);
    expect(() => loadScriptSource('s', read('{{X}}'), { X: "it's" })).not.toThrow();
    expect(loadScriptSource('s', read('{{X}}'), { X: "a'b\\" })).toBe("'a\\'b\\\\'");
  });
});

describe('luaNames (the check above)', () => {
  it('finds a helper used without its include, and a local used before it is declared', () => {
    expect(luaNames('local id = ARGV[4]\nreturn tkey(id)').undeclared).toEqual([{ name: 'tkey', line: 2 }]);
    expect(luaNames('local function a() return b() end\nlocal function b() return 1 end').undeclared.map((u) => u.name)).toEqual(['b']);
    expect(luaNames('x = 1').undeclared.map((u) => u.name)).toEqual(['x']);
  });

  it('does not mistake fields, table keys, strings, comments or loop and parameter names for globals', () => {
    const src = [
      '-- helper(x) in a comment',
      "local t = { type = 'a', worker_id = w0 }",
      'local function f(a, ...) return a.b, t.type, string.sub("g(x)", 1) end',
      'for i = 1, 2 do f(i) end',
      'for _, v in ipairs(t) do f(v) end',
      'if t then local z = 1 elseif f then local y = z end',
    ].join('\n');
    expect(luaNames(src).undeclared.map((u) => u.name)).toEqual(['w0', 'z']);
    expect(luaNames(src).topLevel).toEqual(['t', 'f']);
  });
});
