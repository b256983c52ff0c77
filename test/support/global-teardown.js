/**
 * Jest globalTeardown: stops every test redis-server still running. Normally there is none: each
 * test file destroys its own. A test that hangs past its teardown leaves one (Jest moves on), and
 * an `exit` handler in a test file cannot help, as Jest gives test files a process object of their
 * own. A pid is killed only while it is still that redis-server (its command line names the port).
 */
// @ts-check
const { readdirSync, readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');

module.exports = async () => {
  const dir = process.env.MLOC_TEST_RUN_DIR;
  if (!dir) return;
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.pid'));
  } catch {
    return;
  }
  for (const f of files) {
    const port = f.slice(0, -'.pid'.length);
    try {
      const { pid, dir: serverDir } = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('redis-server') && cmd.includes(port)) {
        process.kill(pid, 'SIGKILL');
        rmSync(serverDir, { recursive: true, force: true });
        process.stderr.write(`test teardown: stopped redis-server on port ${port} that a test left running\n`);
      }
    } catch {
      /* already gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
};
