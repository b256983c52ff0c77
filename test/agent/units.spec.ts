import { defaultRegistry } from '../../src/agent/executors';
/** Pure parts of the worker: configuration, hardware parsing, output rule, result summary, shard inputs. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, loadWorkerConfig } from '../../src/agent/config';
import { inlineInputs, shardOf } from '../../src/agent/executors/inputs';
import { chatCompletionsUrl } from '../../src/agent/executors/openai-client';
import { applyOverride, detectHardware, parseGpuCsv } from '../../src/agent/hardware';
import { outputDirFor, summarizeResult } from '../../src/agent/output';

const REDIS_URL = 'redis://127.0.0.1:6379/0';

describe('worker configuration', () => {
  it('has the Python worker defaults', () => {
    const c = loadWorkerConfig({ REDIS_URL });
    expect(c).toMatchObject({
      redisUrl: REDIS_URL,
      resultsDir: resolve('results'),
      taskTopic: 'tasks',
      heartbeatIntervalSec: 30,
      heartbeatTtlSec: 120,
      tags: [],
      logLevel: 'info',
      hardwareOverride: null,
      openaiBaseUrl: null,
      protocol: 2,
    });
    expect(c.workerId).toMatch(/^.+-[0-9a-f]{8}$/);
    expect(loadWorkerConfig({ REDIS_URL }).workerId).not.toBe(c.workerId);
  });

  it('takes fractional heartbeat intervals; the heartbeat TTL is max(4 x interval, 120 s)', () => {
    expect(loadWorkerConfig({ REDIS_URL, HEARTBEAT_INTERVAL_SEC: '0.5' })).toMatchObject({ heartbeatIntervalSec: 0.5, heartbeatTtlSec: 120 });
    expect(loadWorkerConfig({ REDIS_URL, HEARTBEAT_INTERVAL_SEC: '60' }).heartbeatTtlSec).toBe(240);
  });

  it('speaks the durable variant (v2) unless WORKER_PROTOCOL=1', () => {
    expect(loadWorkerConfig({ REDIS_URL, WORKER_PROTOCOL: '2' }).protocol).toBe(2);
    expect(loadWorkerConfig({ REDIS_URL, WORKER_PROTOCOL: ' 1 ' }).protocol).toBe(1);
    expect(loadWorkerConfig({ REDIS_URL, WORKER_PROTOCOL: '' }).protocol).toBe(2);
  });

  it.each([
    [{}, 'REDIS_URL', /required/],
    [{ REDIS_URL, WORKER_PROTOCOL: '3' }, 'WORKER_PROTOCOL', /expected 2 \(the durable variant, default\) or 1, got "3"/],
    [{ REDIS_URL, WORKER_PROTOCOL: 'v2' }, 'WORKER_PROTOCOL', /got "v2"/],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL', /scheme|not a URL/],
    [{ REDIS_URL, HEARTBEAT_INTERVAL_SEC: '0' }, 'HEARTBEAT_INTERVAL_SEC', /> 0/],
    [{ REDIS_URL, HEARTBEAT_INTERVAL_SEC: 'often' }, 'HEARTBEAT_INTERVAL_SEC', /number of seconds/],
    [{ REDIS_URL, LOG_LEVEL: 'chatty' }, 'LOG_LEVEL', /DEBUG, INFO, WARN, ERROR/],
    [{ REDIS_URL, WORKER_HARDWARE_JSON: '{gpu: 1}' }, 'WORKER_HARDWARE_JSON', /not valid JSON/],
    [{ REDIS_URL, WORKER_HARDWARE_JSON: '[1]' }, 'WORKER_HARDWARE_JSON', /JSON object/],
    [{ REDIS_URL, OPENAI_BASE_URL: 'ftp://x' }, 'OPENAI_BASE_URL', /http/],
  ])('refuses %j with one line naming %s', (env, variable, problem) => {
    let err: unknown;
    try {
      loadWorkerConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(new RegExp(`^${variable}: `));
    expect((err as Error).message).toMatch(problem);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('hardware', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mloc-hw-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses nvidia-smi CSV, memory in MiB to bytes', () => {
    const csv = '0, NVIDIA A100-SXM4-80GB, GPU-1a2b, 81920, 550.54\n1, NVIDIA L4, GPU-3c4d, 23034, 550.54\n';
    expect(parseGpuCsv(csv)).toEqual({
      driverVersion: '550.54',
      gpus: [
        { index: 0, name: 'NVIDIA A100-SXM4-80GB', uuid: 'GPU-1a2b', memory_bytes: 81920 * 2 ** 20 },
        { index: 1, name: 'NVIDIA L4', uuid: 'GPU-3c4d', memory_bytes: 23034 * 2 ** 20 },
      ],
    });
  });

  it('detects cores, memory and IP; no nvidia-smi means no GPUs and no error', async () => {
    const hw = await detectHardware({ nvidiaSmi: join(dir, 'missing-nvidia-smi') });
    expect(hw.cpu!.logical_cores).toBeGreaterThan(0);
    expect(hw.memory!.total_bytes).toBeGreaterThan(0);
    expect(hw.gpu).toBeNull();
    expect(hw).toHaveProperty('network.ip');
  });

  it('reads GPUs and the CUDA version from nvidia-smi when it exists', async () => {
    const fake = join(dir, 'nvidia-smi');
    writeFileSync(
      fake,
      `#!/bin/sh\nif [ -n "$1" ]; then echo "0, NVIDIA L4, GPU-9, 23034, 550.54"; else echo "| NVIDIA-SMI 550.54   Driver Version: 550.54   CUDA Version: 12.4 |"; fi\n`,
    );
    chmodSync(fake, 0o755);
    const hw = await detectHardware({ nvidiaSmi: fake });
    expect(hw.gpu).toEqual({ driver_version: '550.54', cuda_version: '12.4', gpus: [{ index: 0, name: 'NVIDIA L4', uuid: 'GPU-9', memory_bytes: 23034 * 2 ** 20 }] });
  });

  it('WORKER_HARDWARE_JSON merges mappings key by key and replaces lists', () => {
    const detected = { cpu: { logical_cores: 2, model: 'x' }, memory: { total_bytes: 1 }, gpu: { driver_version: '1', gpus: [{ name: 'A' }] } };
    expect(applyOverride(detected, { cpu: { logical_cores: 64 }, gpu: { gpus: [{ name: 'NVIDIA L4' }] } })).toEqual({
      cpu: { logical_cores: 64, model: 'x' },
      memory: { total_bytes: 1 },
      gpu: { driver_version: '1', gpus: [{ name: 'NVIDIA L4' }] },
    });
    expect(applyOverride(detected, { gpu: null }).gpu).toBeNull();
  });
});

describe('output directory (PROTOCOL section 4)', () => {
  const R = '/results';
  it.each([
    [{}, '/results/t1'],
    [{ output: { destination: { type: 'local', path: '/mnt/share' } } }, '/mnt/share/t1'],
    [{ output: { destination: { path: '/mnt/share/t1' } } }, '/mnt/share/t1'],
    [{ output: { destination: { path: 'runs/a' } } }, '/results/runs/a/t1'],
    [{ output: { destination: { type: 's3', path: 'bucket/key' } } }, '/results/t1'],
    [{ output: { destination: { type: 'local', path: '' } } }, '/results/t1'],
  ])('%j → %s', (spec, expected) => {
    expect(outputDirFor('t1', spec, R)).toBe(expected);
  });
});

describe('result summary', () => {
  it('passes small results through unchanged', () => {
    const r = { items: [1, 2], usage: { total_tokens: 3 }, model: 'm' };
    expect(summarizeResult(r)).toBe(r);
  });

  it('keeps as many leading items as fit, usage and model, and says it was cut', () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ i, text: 'x'.repeat(100) }));
    const s = summarizeResult({ items, usage: { total_tokens: 9 }, model: 'm', extra: 'y' }, 2000);
    expect(Buffer.byteLength(JSON.stringify(s))).toBeLessThanOrEqual(2000);
    expect(s).toMatchObject({ truncated: true, items_total: 100, usage: { total_tokens: 9 }, model: 'm', extra: 'y' });
    expect(s.items).toEqual(items.slice(0, s.items_included as number));
    expect(s.items_included).toBeGreaterThan(5);
  });

  it('drops other big fields before usage and model', () => {
    const s = summarizeResult({ items: ['a'], usage: { n: 1 }, model: 'm', log: 'z'.repeat(5000) }, 1000);
    expect(s).toMatchObject({ truncated: true, items: ['a'], usage: { n: 1 }, model: 'm' });
    expect(s).not.toHaveProperty('log');
  });
});

describe('inline inputs of a shard', () => {
  it('cuts an uncarved list like the orchestrator does, and leaves a carved one alone', () => {
    const items = ['a', 'b', 'c', 'd', 'e'];
    expect([0, 1, 2].map((index) => inlineInputs({ data: { items }, shard: { index, total: 3 } }))).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(inlineInputs({ data: { items: ['c', 'd'] }, shard: { index: 1, total: 3, carved: true } })).toEqual(['c', 'd']);
    expect(inlineInputs({ data: { prompts: items } })).toEqual(items);
    expect(inlineInputs({ data: { type: 'dataset', split: 'train' } })).toBeNull();
  });

  it('ignores a malformed spec.shard', () => {
    expect(shardOf({ shard: { index: 3, total: 3 } })).toBeNull();
    expect(shardOf({ shard: { index: '0', total: 2 } })).toBeNull();
  });
});

describe('chat completions URL', () => {
  it.each([
    ['http://h:8000/v1', 'http://h:8000/v1/chat/completions'],
    ['http://h:8000/v1/', 'http://h:8000/v1/chat/completions'],
    ['http://h:11434', 'http://h:11434/v1/chat/completions'],
    ['https://api.example.com/v1/chat/completions', 'https://api.example.com/v1/chat/completions'],
  ])('%s → %s', (base, url) => expect(chatCompletionsUrl(base)).toBe(url));
});

describe('WORKER_EXECUTORS', () => {
  it('is unset by default: every built-in executor', () => {
    expect(loadWorkerConfig({ REDIS_URL: 'redis://127.0.0.1:6379/0' }).executors).toBeNull();
  });

  it('restricts the registry to the listed task types and reports unknown names', () => {
    const config = loadWorkerConfig({ REDIS_URL: 'redis://127.0.0.1:6379/0', WORKER_EXECUTORS: 'echo, Inference,chat,echo' });
    expect(config.executors).toEqual(['echo', 'Inference', 'chat']);
    const registry = defaultRegistry();
    expect(registry.restrictTo(config.executors!)).toEqual([]);
    expect(registry.types()).toEqual(['chat', 'echo', 'inference']);
    expect(registry.get('command')).toBeUndefined();
    expect(defaultRegistry().restrictTo(['echo', 'shell'])).toEqual(['shell']);
  });
});
