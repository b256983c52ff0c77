/**
 * `npm run demo`, as a newcomer runs it (it builds the system and the harness first): a throwaway
 * cluster, every task DONE, everything stopped; and the production build carries no demo.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../agent/support/built';

jest.setTimeout(150_000);

function runDemo(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'demo'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGINT');
      reject(new Error(`npm run demo did not finish within 120 s:\n${output}`));
    }, 120_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('npm run demo', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'mloc-demo-test-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('runs a pipeline, a graph and a sharded inference job to DONE, prints the table, stops everything, exits 0', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
    delete env.REDIS_URL;
    const { code, output } = await runDemo(env);
    expect({ code, output }).toMatchObject({ code: 0 });

    expect(output).toContain('All 11 tasks ended DONE.');
    const start = output.indexOf('  TASK ');
    const table = output.slice(start, output.indexOf('\n\n', start));
    const rows = table.trim().split('\n').slice(1);
    expect(rows).toHaveLength(11);
    for (const row of rows) expect(row).toMatch(/\sDONE\s/);
    expect(table).toMatch(/demo-answers\s+DONE\s+MULTI\s+data-parallel/);
    expect(table).toMatch(/demo-pipeline:train\s+DONE\s+demo-gpu\s/);
    expect(output).toContain('9 answers from 3 shards, in prompt order');

    // Results stay where it said; the orchestrator it started is gone.
    const resultsDir = /Results: (\S+)\/<task id>/.exec(output)![1];
    const withResponses = readdirSync(resultsDir).filter((d) => existsSync(join(resultsDir, d, 'responses.json')));
    expect(withResponses).toHaveLength(10);
    const api = /orchestrator\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1];
    await expect(fetch(`${api}/healthz`)).rejects.toThrow();
  });

  it('is not part of the production build: dist/ (what the image ships) has no demo, the demo runs from dist-bench/', () => {
    expect(existsSync(join(ROOT, 'src', 'demo'))).toBe(false);
    expect(existsSync(join(ROOT, 'dist', 'demo'))).toBe(false);
    expect(existsSync(join(ROOT, 'dist-bench', 'demo', 'main.js'))).toBe(true);
  });
});
