// @ts-check
/**
 * `npm run test:e2e`: every spec of `npm test` outside the unit tier (test/support/test-tiers.js):
 * real redis-server processes, the real Nest app, worker processes, the demo. Run with --runInBand.
 */
const base = require('./jest.config.js');
const { UNIT_SPECS } = require('./test/support/test-tiers.js');

module.exports = {
  ...base,
  testPathIgnorePatterns: [...base.testPathIgnorePatterns, ...UNIT_SPECS],
};
