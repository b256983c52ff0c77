// @ts-check
/**
 * The unit tier (`npm run test:unit`, jest.unit.config.js): specs that need no Redis, no app and
 * no child process, as path patterns under the repository. Every other spec of `npm test` is the
 * e2e tier (jest.e2e.config.js). A spec that starts Redis or a process must not match these.
 */
module.exports.UNIT_SPECS = [
  '/src/.*\\.spec\\.ts$',
  '/test/docs/.*\\.spec\\.ts$',
  '/test/support/.*\\.spec\\.ts$',
  '/test/redis/(watchdog-self-check|script-loader)\\.spec\\.ts$',
  '/test/agent/(units|cancel-control)\\.spec\\.ts$',
];
