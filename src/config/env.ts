/**
 * The orchestrator's environment variables: one schema, parsed and validated once at boot.
 * A bad value stops start-up with one line naming the variable and the problem.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface AppConfig {
  redisUrl: string;
  token: string | null;
  host: string;
  port: number;
  logLevel: LogLevel;
  logFile: string;
  logMaxBytes: number;
  logBackupCount: number;
  heartbeatTtlSec: number;
  taskTopic: string;
  maxRetries: number;
  cleanupIntervalSec: number;
  maxTaskBytes: number;
  /** A worker report larger than this is not parsed whole; its result or error becomes a marker. */
  maxEventBytes: number;
  /** Most tasks one submission may create (documents × stages × graph nodes); 413 beyond. */
  maxTasksPerSubmission: number;
  /** Longest metadata.name, metadata.owner, stage or node name. */
  maxNameLength: number;
  dispatchAckTimeoutSec: number;
  retryBackoffCapSec: number;
  leaderLeaseSec: number;
  /** A Redis command not answered in this time fails (HTTP 503); REDIS_COMMAND_TIMEOUT_MS. */
  redisCommandTimeoutMs: number;
  /** Every connection to Redis is checked (PING) this often; REDIS_HEALTH_CHECK_MS. */
  redisHealthCheckMs: number;
  /** Where results too large for the task record and uploaded result files live (docs/results.md); RESULTS_DIR. */
  resultsDir: string;
  /** Largest result file one upload may store; 413 beyond. MAX_RESULT_FILE_BYTES. */
  maxResultFileBytes: number;
  /** How long a finished task (DONE, FAILED, CANCELLED) is kept before it is removed with all it owns; TASK_RETENTION_SEC. */
  taskRetentionSec: number;
  /** The longest `spec.retention.seconds` a document may ask for; TASK_RETENTION_MAX_SEC. */
  taskRetentionMaxSec: number;
  /** Most finished tasks kept: beyond it the ones due first go first, whatever their age; TASK_HISTORY_MAX. */
  taskHistoryMax: number;
  scheduler: {
    cpuOnlyWeight: number;
    gpuWeight: number;
    highAvailRatio: number;
    lowAvailRatio: number;
    maxAutoShards: number;
  };
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

/** The variable's trimmed value, or undefined when unset or blank. */
export const present = (env: Env, name: string): string | undefined => {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
};

/** Numbers may carry underscores as digit separators, as in the guide's `5_242_880`. */
export function parseNumber(env: Env, name: string, def: number, opts: { integer?: boolean; min?: number; max?: number } = {}): number {
  const raw = present(env, name);
  if (raw === undefined) return def;
  const cleaned = raw.replace(/(\d)_(?=\d)/g, '$1');
  const n = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(cleaned) ? Number(cleaned) : NaN;
  const kind = opts.integer ? 'an integer' : 'a number';
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n))) {
    throw new ConfigError(name, `expected ${kind}, got "${raw}"`);
  }
  if (opts.min !== undefined && n < opts.min) throw new ConfigError(name, `must be >= ${opts.min}, got ${raw}`);
  if (opts.max !== undefined && n > opts.max) throw new ConfigError(name, `must be <= ${opts.max}, got ${raw}`);
  return n;
}

export function parseLogLevel(env: Env): LogLevel {
  const raw = present(env, 'LOG_LEVEL');
  if (raw === undefined) return 'info';
  const v = raw.toLowerCase();
  if (v === 'warning') return 'warn';
  if (v === 'debug' || v === 'info' || v === 'warn' || v === 'error') return v;
  throw new ConfigError('LOG_LEVEL', `expected one of DEBUG, INFO, WARN, ERROR, got "${raw}"`);
}

export function parseRedisUrl(env: Env): string {
  const raw = present(env, 'REDIS_URL');
  if (raw === undefined) throw new ConfigError('REDIS_URL', 'is required (for example redis://127.0.0.1:6379/0)');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('REDIS_URL', `not a URL: "${raw}" (expected redis://host:port/db)`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError('REDIS_URL', `unsupported scheme "${url.protocol}" (expected redis:// or rediss://)`);
  }
  return raw;
}

export function loadConfig(env: Env = process.env): AppConfig {
  return {
    redisUrl: parseRedisUrl(env),
    token: present(env, 'ORCHESTRATOR_TOKEN') ?? null,
    host: present(env, 'HOST') ?? '0.0.0.0',
    port: parseNumber(env, 'PORT', 8080, { integer: true, min: 0, max: 65535 }),
    logLevel: parseLogLevel(env),
    logFile: present(env, 'LOG_FILE') ?? 'orchestrator.log',
    logMaxBytes: parseNumber(env, 'LOG_MAX_BYTES', 5_242_880, { integer: true, min: 1024 }),
    logBackupCount: parseNumber(env, 'LOG_BACKUP_COUNT', 5, { integer: true, min: 0, max: 1000 }),
    heartbeatTtlSec: parseNumber(env, 'HEARTBEAT_TTL_SEC', 120, { min: 1 }),
    taskTopic: present(env, 'TASK_TOPIC') ?? 'tasks',
    maxRetries: parseNumber(env, 'MAX_RETRIES', 3, { integer: true, min: 0, max: 1000 }),
    cleanupIntervalSec: parseNumber(env, 'CLEANUP_INTERVAL_SEC', 60, { min: 1 }),
    maxTaskBytes: parseNumber(env, 'MAX_TASK_BYTES', 1_048_576, { integer: true, min: 1024 }),
    maxEventBytes: parseNumber(env, 'MAX_EVENT_BYTES', 4_194_304, { integer: true, min: 1024 }),
    maxTasksPerSubmission: parseNumber(env, 'MAX_TASKS_PER_SUBMISSION', 1000, { integer: true, min: 1, max: 100_000 }),
    maxNameLength: parseNumber(env, 'MAX_NAME_LENGTH', 256, { integer: true, min: 1, max: 1024 }),
    dispatchAckTimeoutSec: parseNumber(env, 'DISPATCH_ACK_TIMEOUT_SEC', 30, { min: 0.1 }),
    retryBackoffCapSec: parseNumber(env, 'RETRY_BACKOFF_CAP_SEC', 120, { min: 0 }),
    leaderLeaseSec: parseNumber(env, 'LEADER_LEASE_SEC', 10, { min: 0.5 }),
    redisCommandTimeoutMs: parseNumber(env, 'REDIS_COMMAND_TIMEOUT_MS', 2000, { integer: true, min: 50, max: 600_000 }),
    redisHealthCheckMs: parseNumber(env, 'REDIS_HEALTH_CHECK_MS', 2000, { integer: true, min: 50, max: 600_000 }),
    resultsDir: present(env, 'RESULTS_DIR') ?? 'results',
    maxResultFileBytes: parseNumber(env, 'MAX_RESULT_FILE_BYTES', 5 * 1024 ** 3, { integer: true, min: 1 }),
    ...parseRetention(env),
    scheduler: {
      cpuOnlyWeight: parseNumber(env, 'CPU_ONLY_WEIGHT', 0.6, { min: 0 }),
      gpuWeight: parseNumber(env, 'GPU_WEIGHT', 1.0, { min: 0 }),
      highAvailRatio: parseNumber(env, 'HIGH_AVAIL_RATIO', 2.0, { min: 0 }),
      lowAvailRatio: parseNumber(env, 'LOW_AVAIL_RATIO', 0.6, { min: 0 }),
      maxAutoShards: parseNumber(env, 'MAX_AUTO_SHARDS', 8, { integer: true, min: 1, max: 1024 }),
    },
  };
}

/** TASK_RETENTION_SEC within TASK_RETENTION_MAX_SEC, and TASK_HISTORY_MAX (docs/guarantees.md, "Retention"). */
function parseRetention(env: Env): Pick<AppConfig, 'taskRetentionSec' | 'taskRetentionMaxSec' | 'taskHistoryMax'> {
  const taskRetentionMaxSec = parseNumber(env, 'TASK_RETENTION_MAX_SEC', 90 * 86_400, { integer: true, min: 1, max: 100 * 365 * 86_400 });
  const taskRetentionSec = parseNumber(env, 'TASK_RETENTION_SEC', Math.min(7 * 86_400, taskRetentionMaxSec), { integer: true, min: 1, max: taskRetentionMaxSec });
  const taskHistoryMax = parseNumber(env, 'TASK_HISTORY_MAX', 1_000_000, { integer: true, min: 1 });
  return { taskRetentionSec, taskRetentionMaxSec, taskHistoryMax };
}

/** Redacts the password of a redis URL for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable>';
  }
}
