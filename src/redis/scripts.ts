import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import {
  MAX_WORKER_ID_LENGTH,
  ORCHESTRATOR_SOURCE,
  TASKS_EVENTS_CHANNEL,
  WORKER_IDS_KEY,
  WORKERS_EVENTS_CHANNEL,
  workerHeartbeatKey,
  workerInboxKey,
  workerKey,
  workerProcessingKey,
  NO_EXECUTOR_ERROR_PREFIX,
  NO_EXECUTOR_ERROR_SUFFIX,
} from '../contracts/protocol';
import { MULTI_WORKER } from '../contracts/task-states';
import { Keys } from './keys';
import { DEFAULT_TASK_RETENTION_SEC } from './task-codec';

/**
 * The Lua scripts of scripts/*.lua, registered on the command connection with defineCommand
 * (EVALSHA, falling back to EVAL after a Redis restart). Each script names the helpers it uses with
 * `--- @include "<name>"` lines (scripts/includes/<name>.lua), resolved here once at load time as
 * BullMQ does: recursively, each include emitted once, in place of its first `@include` line. Every
 * script takes ARGV[1] = now (ms), ARGV[2] = now (ISO) and ARGV[3] = the fencing token ('*' for
 * none) first (includes/args.lua); its own arguments follow.
 */
export const SCRIPT_NAMES = [
  'submit-tasks',
  'queue-head',
  'claim-dispatch',
  'dispatch-shards',
  'ack-task',
  'finish-task',
  'finalize-parent',
  'cancel-task',
  'promote-delayed',
  'expire-unacked',
  'release-lost-worker',
  'reconcile-finished',
  'release-held-task',
  'remove-expired',
  'delete-task',
  'prune-tasks',
  'acquire-lease',
  'renew-lease',
  'release-lease',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

const scriptsDir = join(__dirname, 'scripts');

/**
 * Names the Lua text takes from TypeScript, substituted at load time (no per-call cost, and the
 * script's SHA stays one per build): `{{NAME}}` becomes a Lua literal, `{{NAME(x)}}` the key that
 * NAME builds around the Lua expression `x` (a variable name), e.g. `{{Keys.task(id)}}` becomes
 * `('mloc:task:' .. id)`. Key names come from keys.ts, protocol names from contracts/protocol.ts.
 */
type TemplateValue = string | number | ((id: string) => string);
export const SCRIPT_CONSTANTS: Readonly<Record<string, TemplateValue>> = {
  ...Object.fromEntries(Object.entries(Keys).map(([k, v]) => [`Keys.${k}`, v])),
  WORKER_IDS_KEY,
  workerKey,
  workerHeartbeatKey,
  workerInboxKey,
  workerProcessingKey,
  TASKS_EVENTS_CHANNEL,
  WORKERS_EVENTS_CHANNEL,
  ORCHESTRATOR_SOURCE,
  MAX_WORKER_ID_LENGTH,
  MULTI_WORKER,
  DEFAULT_TASK_RETENTION_SEC,
  NO_EXECUTOR_ERROR_PREFIX,
  NO_EXECUTOR_ERROR_SUFFIX,
};

export class ScriptLoadError extends Error {}

/** Reads one Lua file: a script (`name`) or an include (`includes/name`), without the extension. */
export type LuaReader = (path: string) => string | null;

const readLuaFile: LuaReader = (path) => {
  try {
    return readFileSync(join(scriptsDir, `${path}.lua`), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
};

const INCLUDE_LINE = /^---[ \t]*@include[ \t]+"([\w-]+)"[ \t]*$/gm;
const TEMPLATE_TOKEN = /\{\{([\w.]+)(?:\(([A-Za-z_]\w*)\))?\}\}/g;

/**
 * The text of a script with its includes resolved and constants substituted, as Redis runs it.
 * Throws a ScriptLoadError naming the chain of includes for a missing include, a cycle, or an
 * unknown constant.
 */
export function loadScriptSource(name: string, read: LuaReader = readLuaFile, constants: Readonly<Record<string, TemplateValue>> = SCRIPT_CONSTANTS): string {
  const emitted = new Set<string>();
  const resolve = (path: string, chain: string[]): string => {
    if (chain.includes(path)) throw new ScriptLoadError(`Lua include cycle: ${[...chain, path].join(' -> ')}`);
    const text = read(path);
    if (text === null) {
      throw new ScriptLoadError(
        chain.length === 0 ? `Lua script not found: ${path}.lua` : `Lua include not found: "${path.replace(/^includes\//, '')}" (${[...chain, path].join(' -> ')})`,
      );
    }
    return text.replace(INCLUDE_LINE, (_line, inc: string) => {
      const incPath = `includes/${inc}`;
      // A cycle is an error even when the include was emitted already on another branch.
      if (chain.includes(incPath) || incPath === path) throw new ScriptLoadError(`Lua include cycle: ${[...chain, path, incPath].join(' -> ')}`);
      if (emitted.has(incPath)) return `-- (${inc}: included above)`;
      const body = resolve(incPath, [...chain, path]);
      emitted.add(incPath);
      return body.trimEnd();
    });
  };
  return substituteConstants(resolve(name, []), name, constants);
}

function substituteConstants(text: string, script: string, constants: Readonly<Record<string, TemplateValue>>): string {
  return text.replace(TEMPLATE_TOKEN, (token, key: string, arg: string | undefined) => {
    const v = constants[key];
    if (v === undefined) throw new ScriptLoadError(`${script}.lua: unknown constant ${token}`);
    if (typeof v !== 'function') {
      if (arg !== undefined) throw new ScriptLoadError(`${script}.lua: ${key} is a value, not a key builder: ${token}`);
      return typeof v === 'number' ? String(v) : luaString(v);
    }
    if (arg === undefined) throw new ScriptLoadError(`${script}.lua: ${key} builds a key: write {{${key}(var)}}`);
    const parts = v('\u0000').split('\u0000');
    if (parts.length !== 2) throw new ScriptLoadError(`${script}.lua: ${key} must use its argument exactly once`);
    const [head, tail] = parts;
    return `(${[head && luaString(head), arg, tail && luaString(tail)].filter(Boolean).join(' .. ')})`;
  });
}

function luaString(s: string): string {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new ScriptLoadError(`constant ${JSON.stringify(s)} is not printable ASCII`);
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/** Command name registered on the ioredis client for a script. */
export const commandName = (name: ScriptName): string => `mloc_${name.replace(/-/g, '_')}`;

export function defineScripts(redis: Redis): void {
  for (const name of SCRIPT_NAMES) {
    redis.defineCommand(commandName(name), { numberOfKeys: 0, lua: loadScriptSource(name) });
  }
}

/** The arguments every script takes first: now (ms), now (ISO), fencing token. */
export const scriptPrefix = (nowMs: number, fence: string = UNFENCED): (string | number)[] => [nowMs, isoOf(nowMs), fence];

// Scripts run in bursts within one millisecond: format each millisecond once.
let lastMs = NaN;
let lastIso = '';
function isoOf(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

/** Fencing token of callers that may write without holding the leader lease (idempotent, non-scheduling writes). */
export const UNFENCED = '*';

/** Runs a script with now and the fencing token prepended to its arguments. */
export async function runScript(redis: Redis, name: ScriptName, nowMs: number, args: (string | number)[], fence: string = UNFENCED): Promise<unknown> {
  const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[commandName(name)];
  return fn.call(redis, ...scriptPrefix(nowMs, fence), ...args);
}
