import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../../..');
export const WORKER_MAIN = join(ROOT, 'dist/agent/main.js');

/** Newest modification time under `dir` (recursively), in ms. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * The process tests run the built code: build when dist is missing, or older than the worker
 * or contract sources (so an edit is never tested against stale JavaScript).
 */
export function ensureBuilt(): void {
  const sources = ['src/agent', 'src/contracts'].map((d) => newestMtime(join(ROOT, d)));
  if (existsSync(WORKER_MAIN) && statSync(WORKER_MAIN).mtimeMs >= Math.max(...sources)) return;
  execSync('npm run build', { cwd: ROOT, stdio: 'pipe' });
}
