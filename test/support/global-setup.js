/**
 * Jest globalSetup: a folder where every test redis-server leaves its pid while it runs
 * (test/support/redis-server.ts), so that global-teardown.js can stop whatever a hung test left.
 */
// @ts-check
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
  process.env.MLOC_TEST_RUN_DIR = mkdtempSync(join(tmpdir(), 'mloc-test-run-'));
};
