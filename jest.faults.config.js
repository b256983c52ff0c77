/** The fault-injection suite (`npm run test:faults`): real processes, run after `npm run build`. */
const base = require('./jest.config.js');
module.exports = {
  ...base,
  roots: ['<rootDir>/test/faults'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 180_000,
};
