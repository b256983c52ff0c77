import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

/**
 * The Lua scripts of scripts/*.lua, each prefixed with scripts/prelude.lua and registered on the
 * command connection with defineCommand (EVALSHA, falling back to EVAL after a Redis restart).
 * Every script takes ARGV[1] = now (ms), ARGV[2] = now (ISO) and ARGV[3] = the fencing token ('*' for
 * none) first; see prelude.lua.
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
  'acquire-lease',
  'renew-lease',
  'release-lease',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

const scriptsDir = join(__dirname, 'scripts');

export function loadScriptSource(name: ScriptName): string {
  const prelude = readFileSync(join(scriptsDir, 'prelude.lua'), 'utf8');
  return `${prelude}\n${readFileSync(join(scriptsDir, `${name}.lua`), 'utf8')}`;
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
