// ESLint (flat config): typescript-eslint's recommended rules, formatting left to Prettier, and the
// walls between the rooms of the house (docs/architecture.md, "Rooms and doors").
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

const nodeGlobals = Object.fromEntries(
  ['process', 'console', 'Buffer', '__dirname', '__filename', 'require', 'module', 'exports', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'URL'].map((g) => [g, 'readonly']),
);

export default tseslint.config(
  { ignores: ['dist/**', 'dist-bench/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: nodeGlobals },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Escaping control characters out of log lines is what some of our regular expressions are for.
      'no-control-regex': 'off',
      // A default that a try block overwrites reads better than the rule's alternative.
      'no-useless-assignment': 'off',
      // Our rethrows put the cause's message in their own; Node 20's Error `cause` adds little there.
      'preserve-caught-error': 'off',
    },
  },
  {
    // CommonJS helpers of the test and fault harnesses (Jest global setup, transforms).
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**', 'bench/**', '**/*.spec.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Shapes shared by the orchestrator and the worker process: no framework, no feature module.
    files: ['src/contracts/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['@nestjs/*', '../*'], message: 'src/contracts is Nest-free and imports nothing outside itself.' }] }] },
  },
  {
    // Our worker process shares only src/contracts (and the Nest-free config parsing) with the orchestrator.
    files: ['src/agent/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(@nestjs/|(\\.\\./)+(admin|common|events|health|leadership|metrics|redis|scheduler|tasks|workers)/)', message: 'The worker process imports shapes from src/contracts, not from the orchestrator.' }] },
      ],
    },
  },
);
