// @ts-check
/**
 * Tests run against a real redis-server started per test file (see test/support/redis-server.ts).
 * Nest 12 ships as ES modules, which Jest on Node 20 cannot require; test/support/esm-to-cjs.transform.js
 * transpiles those packages to CommonJS once (Jest caches the result).
 */
const ESM_PACKAGES = ['@nestjs', 'file-type', 'strtok3', 'token-types', 'peek-readable', 'uint8array-extras', '@tokenizer'];
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.spec.json' }],
    '^.+\\.m?js$': '<rootDir>/test/support/esm-to-cjs.transform.js',
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`],
  testTimeout: 30000,
  // A redis-server a hung test leaves behind is stopped at the end of the run.
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  // Every test must assert something (Jest counts zero assertions otherwise without a word).
  setupFilesAfterEnv: ['<rootDir>/test/support/every-test-asserts.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/test/faults/'],
};
