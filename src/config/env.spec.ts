import { ConfigError, loadConfig, redactRedisUrl } from './env';

const base = { REDIS_URL: 'redis://127.0.0.1:6379/0' };

describe('loadConfig', () => {
  it('applies the guide defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      token: null,
      port: 8080,
      logLevel: 'info',
      logFile: 'orchestrator.log',
      logMaxBytes: 5_242_880,
      logBackupCount: 5,
      heartbeatTtlSec: 120,
      taskTopic: 'tasks',
      maxRetries: 3,
      cleanupIntervalSec: 60,
      maxTaskBytes: 1_048_576,
      dispatchAckTimeoutSec: 30,
      scheduler: { cpuOnlyWeight: 0.6, gpuWeight: 1, highAvailRatio: 2, lowAvailRatio: 0.6, maxAutoShards: 8 },
    });
  });

  it.each([
    ['LOG_LEVEL', 'DEBUG', 'logLevel', 'debug'],
    ['LOG_LEVEL', 'warning', 'logLevel', 'warn'],
    ['LOG_LEVEL', 'Error', 'logLevel', 'error'],
    ['LOG_MAX_BYTES', '5_242_880', 'logMaxBytes', 5242880],
    ['PORT', '8000', 'port', 8000],
    ['HEARTBEAT_TTL_SEC', '2.5', 'heartbeatTtlSec', 2.5],
    ['ORCHESTRATOR_TOKEN', 'dev-token', 'token', 'dev-token'],
  ])('%s=%s', (name, value, key, expected) => {
    expect((loadConfig({ ...base, [name]: value }) as unknown as Record<string, unknown>)[key]).toEqual(expected);
  });

  it.each([
    [{}, 'REDIS_URL', /required/],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL', /not a URL/],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL', /scheme/],
    [{ ...base, PORT: 'eighty' }, 'PORT', /integer/],
    [{ ...base, PORT: '70000' }, 'PORT', /<= 65535/],
    [{ ...base, LOG_LEVEL: 'LOUD' }, 'LOG_LEVEL', /DEBUG, INFO, WARN, ERROR/],
    [{ ...base, LOG_MAX_BYTES: '5__242' }, 'LOG_MAX_BYTES', /integer/],
    [{ ...base, MAX_RETRIES: '-1' }, 'MAX_RETRIES', />= 0/],
    [{ ...base, GPU_WEIGHT: 'heavy' }, 'GPU_WEIGHT', /number/],
  ])('refuses %j naming %s', (env, variable, problem) => {
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(variable);
    expect((err as Error).message).toMatch(new RegExp(`^${variable}: `));
    expect((err as Error).message).toMatch(problem);
  });

  it('redacts the Redis password for logs', () => {
    expect(redactRedisUrl('redis://:hunter2@host:6379/0')).not.toContain('hunter2');
  });
});
