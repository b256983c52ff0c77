import { isStale, toWorkerView } from './worker-view';

const GiB = 1024 ** 3;
const NOW = Date.parse('2026-11-28T20:00:00Z');
const TTL_SEC = 120;
const opts = { heartbeatAlive: true, nowMs: NOW, heartbeatTtlSec: TTL_SEC, order: 3 };

const secondsAgo = (s: number) => new Date(NOW - s * 1000).toISOString();

function hash(overrides: Record<string, string> = {}): Record<string, string> {
  return { worker_id: 'w1', status: 'IDLE', last_seen: secondsAgo(5), ...overrides };
}

const withGpus = (gpus: unknown[]) => JSON.stringify({ gpu: { gpus } });

describe('toWorkerView', () => {
  it('parses a full registry hash (PROTOCOL.md example)', () => {
    const view = toWorkerView(
      'w1',
      hash({
        hardware_json: JSON.stringify({
          cpu: { logical_cores: 16, model: 'x86_64' },
          memory: { total_bytes: 68719476736 },
          gpu: {
            driver_version: '550.54',
            cuda_version: '12.4',
            gpus: [{ index: 0, name: 'NVIDIA A100-SXM4-80GB', uuid: 'GPU-1a2b' }],
          },
          network: { ip: '10.0.0.5' },
        }),
        tags_json: '["a100","eu"]',
      }),
      opts,
    );
    expect(view).toEqual({
      id: 'w1',
      status: 'IDLE',
      stale: false,
      cores: 16,
      memoryBytes: 64 * GiB,
      gpus: [{ name: 'NVIDIA A100-SXM4-80GB', memoryBytes: null }],
      tags: ['a100', 'eu'],
      order: 3,
    });
  });

  it.each<[string, unknown, number | null]>([
    ['memory.total_bytes', { memory: { total_bytes: 85899345920 } }, 80 * GiB],
    ['memory_bytes', { memory_bytes: 85899345920 }, 80 * GiB],
    ['vram_bytes', { vram_bytes: 17179869184 }, 16 * GiB],
    ['memory.total as a unit string', { memory: { total: '80Gi' } }, 80 * GiB],
    ['vram as a unit string', { vram: '16GB' }, 16e9],
    ['vram_bytes as a numeric string', { vram_bytes: '1024' }, 1024],
    ['memory.total_bytes before the others', { memory: { total_bytes: 1024, total: '2Gi' }, vram: '3Gi' }, 1024],
    ['an unparseable variant falls through to the next', { memory_bytes: 'lots', vram: '24Gi' }, 24 * GiB],
    ['no memory field', {}, null],
    ['memory null', { memory: null }, null],
    ['garbage', { vram: 'n/a', memory: { total: -5 } }, null],
  ])('GPU memory from %s', (_, fields, expected) => {
    const view = toWorkerView('w1', hash({ hardware_json: withGpus([{ name: 'GPU', ...(fields as object) }]) }), opts);
    expect(view.gpus).toEqual([{ name: 'GPU', memoryBytes: expected }]);
  });

  it.each<[string, string | undefined, Partial<ReturnType<typeof toWorkerView>>]>([
    ['missing', undefined, { cores: null, memoryBytes: null, gpus: [] }],
    ['not JSON', '{cpu: 16', { cores: null, memoryBytes: null, gpus: [] }],
    ['JSON null', 'null', { cores: null, memoryBytes: null, gpus: [] }],
    ['a JSON array', '[1,2]', { cores: null, memoryBytes: null, gpus: [] }],
    ['a JSON string', '"big"', { cores: null, memoryBytes: null, gpus: [] }],
    ['parts null', '{"cpu":null,"memory":null,"gpu":null}', { cores: null, memoryBytes: null, gpus: [] }],
    ['gpus null', '{"gpu":{"gpus":null}}', { gpus: [] }],
    ['gpus not a list', '{"gpu":{"gpus":{"name":"A100"}}}', { gpus: [] }],
    ['cores as a string', '{"cpu":{"logical_cores":"8"}}', { cores: 8 }],
    ['cores not a number', '{"cpu":{"logical_cores":"many"}}', { cores: null }],
    ['negative cores', '{"cpu":{"logical_cores":-1}}', { cores: null }],
    ['memory as a unit string', '{"memory":{"total_bytes":"32Gi"}}', { memoryBytes: 32 * GiB }],
    ['memory unparseable', '{"memory":{"total_bytes":"lots"}}', { memoryBytes: null }],
    ['a GPU without a name', '{"gpu":{"gpus":[{"index":0}]}}', { gpus: [{ name: '', memoryBytes: null }] }],
    ['a GPU given as a bare name', '{"gpu":{"gpus":["Tesla T4"]}}', { gpus: [{ name: 'Tesla T4', memoryBytes: null }] }],
    ['junk GPU entries', '{"gpu":{"gpus":[null,3,[],{"name":"A10"}]}}', { gpus: [{ name: 'A10', memoryBytes: null }] }],
  ])('hardware_json %s', (_, hardwareJson, expected) => {
    const fields = hash();
    if (hardwareJson !== undefined) fields.hardware_json = hardwareJson;
    expect(toWorkerView('w1', fields, opts)).toMatchObject(expected);
  });

  it.each<[string, string | undefined, string[]]>([
    ['missing', undefined, []],
    ['not JSON', '[a100', []],
    ['not a list', '{"a100":true}', []],
    ['non-string entries dropped', '["a100", 3, null, "eu"]', ['a100', 'eu']],
    ['empty', '[]', []],
  ])('tags_json %s', (_, tagsJson, expected) => {
    const fields = hash();
    if (tagsJson !== undefined) fields.tags_json = tagsJson;
    expect(toWorkerView('w1', fields, opts).tags).toEqual(expected);
  });

  it.each([
    ['IDLE', 'IDLE'],
    ['RUNNING', 'RUNNING'],
    ['DRAINING', 'DRAINING'],
  ])('keeps status %p', (status, expected) => {
    expect(toWorkerView('w1', hash({ status }), opts).status).toBe(expected);
  });

  it('a hash without status gets an empty (unschedulable) status', () => {
    const { status: _, ...fields } = hash();
    expect(toWorkerView('w1', fields, opts).status).toBe('');
  });

  it.each([
    ['live', true, secondsAgo(5), false],
    ['heartbeat key gone', false, secondsAgo(5), true],
    ['last_seen too old', true, secondsAgo(TTL_SEC + 1), true],
  ])('staleness: %s', (_, heartbeatAlive, lastSeen, expected) => {
    expect(toWorkerView('w1', hash({ last_seen: lastSeen }), { ...opts, heartbeatAlive }).stale).toBe(expected);
  });
});

describe('isStale', () => {
  it.each<[string, string | undefined, boolean, boolean]>([
    ['fresh', secondsAgo(1), true, false],
    ['exactly at the TTL', secondsAgo(TTL_SEC), true, false],
    ['one second past the TTL', secondsAgo(TTL_SEC + 1), true, true],
    ['heartbeat key gone', secondsAgo(1), false, true],
    ['last_seen missing', undefined, true, true],
    ['last_seen empty', '', true, true],
    ['last_seen unparseable', 'yesterday-ish', true, true],
    ['microseconds and an offset (PROTOCOL.md format)', '2026-11-28T19:59:30.123456+00:00', true, false],
    ['another offset', '2026-11-28T21:59:30+02:00', true, false],
    ['in the future (clock skew)', '2026-11-28T20:05:00Z', true, false],
  ])('%s', (_, lastSeen, heartbeatAlive, expected) => {
    expect(isStale(lastSeen, heartbeatAlive, NOW, TTL_SEC)).toBe(expected);
  });
});
