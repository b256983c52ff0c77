import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamDownload, streamUpload } from '../support/multipart';
import { firstId, taskYaml, TestStack } from '../support/test-app';

/**
 * A 200 MB result file goes up and comes back down with the orchestrator's memory flat: uploads and
 * downloads stream (docs/results.md). The orchestrator runs in this process, so its resident set is
 * sampled all through both transfers; a server that held the file in memory would add ~200 MB.
 */
describe('a 200 MB result file', () => {
  const BYTES = 200 * 1024 * 1024;
  const MAX_GROWTH = 100 * 1024 * 1024;
  let dir: string;
  let s: TestStack;
  let port: number;
  const auth = { Authorization: 'Bearer big-token' };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mloc-results-big-'));
    s = await new TestStack({ ORCHESTRATOR_TOKEN: 'big-token', RESULTS_DIR: dir }).start();
    await s.app.listen(0, '127.0.0.1');
    port = (s.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(async () => {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uploads and downloads with flat memory and the same checksum', async () => {
    const id = firstId(await s.submit(taskYaml({ name: 'big', cpu: 64 })).expect(200));
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 25);
    try {
      const up = await streamUpload(port, `/api/v1/results/${id}/files`, auth, 'weights.bin', BYTES);
      expect(up.status).toBe(200);
      expect(JSON.parse(up.body)).toMatchObject({ name: 'weights.bin', bytes: BYTES });
      expect(statSync(join(dir, id, 'weights.bin')).size).toBe(BYTES);
      const down = await streamDownload(port, `/api/v1/results/${id}/files/weights.bin`, auth);
      expect(down.status).toBe(200);
      expect(down.headers['content-length']).toBe(String(BYTES));
      expect(down.headers['content-type']).toBe('application/octet-stream');
      expect(down.bytes).toBe(BYTES);
      expect(down.sha256).toBe(up.sha256);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(peak - baseline).toBeLessThan(MAX_GROWTH);
  }, 120_000);
});
