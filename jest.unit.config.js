// @ts-check
/**
 * `npm run test:unit`: the specs that need no Redis, no app and no child process (pure code:
 * placement, parsing, contracts, the script loader, the worker's units, the docs), listed in
 * test/support/test-tiers.js. Seconds, in parallel. `npm test` runs them with the e2e tier.
 */
const base = require('./jest.config.js');

// Read by the harness (test/support/redis-server.ts, process.ts): a spec of this tier that starts
// Redis or a process fails at once, naming the tier list to move it out of.
process.env.MLOC_TEST_TIER = 'unit';
const { UNIT_SPECS } = require('./test/support/test-tiers.js');

module.exports = {
  ...base,
  testMatch: undefined,
  testRegex: UNIT_SPECS,
  // Nothing to start or stop: no test redis-server to clean up after.
  globalSetup: undefined,
  globalTeardown: undefined,
};
