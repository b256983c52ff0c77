/**
 * The worker's environment variables. Same names and defaults as the MLOC Python worker, so a
 * machine can switch between the two without touching its environment. A bad value stops the
 * worker at start-up with one line naming the variable (main.ts exits with code 2).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, Env, parseLogLevel, parseRedisUrl, present } from '../config/env';
import { DEFAULT_TASK_TOPIC } from '../contracts/protocol';
import type { PlainObject } from '../contracts/plain-data';
import { isPlainObject } from '../contracts/plain-data';
import type { LogLevel } from './logger';

export { ConfigError };

/** WORKER_PROTOCOL: 2, the durable variant of docs/protocol.md (default), or 1, PROTOCOL.md v1 as it is. */
export type WorkerProtocol = 1 | 2;

export interface WorkerConfig {
  redisUrl: string;
  /** Absolute. */
  resultsDir: string;
  taskTopic: string;
  /** Seconds between heartbeats; fractions allowed so that tests can run fast. */
  heartbeatIntervalSec: number;
  /** TTL of `worker:{id}:hb`: max(4 × interval, 120 s), as the MLOC worker picks it (PROTOCOL 6). */
  heartbeatTtlSec: number;
  workerId: string;
  tags: string[];
  /** WORKER_EXECUTORS: the task types this worker accepts; null = every built-in executor. */
  executors: string[] | null;
  logLevel: LogLevel;
  /** WORKER_HARDWARE_JSON: deep-merged over the detected hardware. */
  hardwareOverride: PlainObject | null;
  /** Default endpoint of the inference executor when a task names none. */
  openaiBaseUrl: string | null;
  openaiApiKey: string | null;
  /** 2: dispatches from the durable inbox, task events on the stream. 1: the task topic and tasks.events only. */
  protocol: WorkerProtocol;
}

const DEFAULT_HEARTBEAT_INTERVAL_SEC = 30;
const MIN_HEARTBEAT_TTL_SEC = 120;

export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const heartbeatIntervalSec = parseInterval(env);
  return {
    redisUrl: parseRedisUrl(env),
    resultsDir: resolve(present(env, 'RESULTS_DIR') ?? './results'),
    taskTopic: present(env, 'TASK_TOPIC') ?? DEFAULT_TASK_TOPIC,
    heartbeatIntervalSec,
    heartbeatTtlSec: Math.max(4 * heartbeatIntervalSec, MIN_HEARTBEAT_TTL_SEC),
    workerId: present(env, 'WORKER_ID') ?? randomWorkerId(),
    tags: parseTags(env),
    executors: parseList(env, 'WORKER_EXECUTORS'),
    logLevel: parseLogLevel(env),
    hardwareOverride: parseHardwareOverride(env),
    openaiBaseUrl: parseHttpUrl(env, 'OPENAI_BASE_URL'),
    openaiApiKey: present(env, 'OPENAI_API_KEY') ?? null,
    protocol: parseProtocol(env),
  };
}

/** `<hostname>-<8 hex>`: readable in GET /workers, unique across restarts of the same machine. */
function randomWorkerId(): string {
  return `${hostname()}-${randomBytes(4).toString('hex')}`;
}

function parseHttpUrl(env: Env, name: string): string | null {
  const raw = present(env, name);
  if (raw === undefined) return null;
  const url = tryUrl(raw);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(name, `expected an http:// or https:// URL, got "${raw}"`);
  }
  return raw;
}

function tryUrl(raw: string): URL | null {
  try {
    return new URL(raw);
  } catch {
    return null;
  }
}

function parseInterval(env: Env): number {
  const raw = present(env, 'HEARTBEAT_INTERVAL_SEC');
  if (raw === undefined) return DEFAULT_HEARTBEAT_INTERVAL_SEC;
  const n = /^(\d+\.?\d*|\.\d+)$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError('HEARTBEAT_INTERVAL_SEC', `expected a number of seconds > 0, got "${raw}"`);
  return n;
}

function parseProtocol(env: Env): WorkerProtocol {
  const raw = present(env, 'WORKER_PROTOCOL');
  if (raw === undefined || raw === '2') return 2;
  if (raw === '1') return 1;
  throw new ConfigError('WORKER_PROTOCOL', `expected 2 (the durable variant, default) or 1, got "${raw}"`);
}

function parseTags(env: Env): string[] {
  return parseList(env, 'WORKER_TAGS') ?? [];
}

/** A comma-separated list, deduplicated; null when the variable is unset. */
function parseList(env: Env, name: string): string[] | null {
  const raw = present(env, name);
  if (raw === undefined) return null;
  return [
    ...new Set(
      raw
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ];
}

function parseHardwareOverride(env: Env): PlainObject | null {
  const raw = present(env, 'WORKER_HARDWARE_JSON');
  if (raw === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError('WORKER_HARDWARE_JSON', `not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(value)) throw new ConfigError('WORKER_HARDWARE_JSON', 'expected a JSON object such as {"gpu": {"gpus": [{"name": "NVIDIA L4"}]}}');
  return value;
}
