// ESLint (flat config): typescript-eslint's recommended rules, formatting left to Prettier, and the
// walls between the rooms of the house (docs/architecture.md, "Rooms and doors").
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

// The rooms of the orchestrator, bottom to top: an import may only point down (or stay in its room).
// contracts (pure shapes and rules) < infrastructure < workers < scheduler < tasks < events, admin, health, results.
const INFRASTRUCTURE = ['config', 'redis', 'metrics', 'leadership', 'common'];
const ROOMS = [
  { folders: INFRASTRUCTURE, above: ['workers', 'scheduler', 'tasks', 'events', 'admin', 'health', 'results'] },
  { folders: ['workers'], above: ['scheduler', 'tasks', 'events', 'admin', 'health', 'results'] },
  { folders: ['scheduler'], above: ['tasks', 'events', 'admin', 'health', 'results'] },
  { folders: ['tasks'], above: ['events', 'admin', 'health', 'results'] },
  // The top: events and admin do not lean on each other; health reads the liveness of events.
  { folders: ['events'], above: ['admin', 'health', 'results'] },
  { folders: ['admin'], above: ['events', 'health', 'results'] },
  { folders: ['health'], above: ['admin', 'results'] },
  { folders: ['results'], above: ['events', 'admin', 'health'] },
];
// A module's repository is its own: another module goes through that module's services.
const FOREIGN_REPOSITORY = {
  regex: '^(\\.\\./)+[^./][^/]*/(.+/)?[^/]+\\.repository$',
  message: "A repository is used by its own module only: go through that module's service (docs/architecture.md, Rooms and doors).",
};
const walls = (above) => [
  {
    regex: `^(\\.\\./)+(${above.join('|')})/`,
    message: `An import may only point down the rooms (contracts < infrastructure < workers < scheduler < tasks < events/admin/health/results): not into ${above.join(', ')} (docs/architecture.md, Rooms and doors).`,
  },
  FOREIGN_REPOSITORY,
];

const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    '__dirname',
    '__filename',
    'require',
    'module',
    'exports',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'URL',
  ].map((g) => [g, 'readonly']),
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
    // Any orchestrator file: no other module's repository (from src/ itself, no repository at all).
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [FOREIGN_REPOSITORY] }] },
  },
  {
    files: ['src/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ ...FOREIGN_REPOSITORY, regex: '^\\./[^/]+/(.+/)?[^/]+\\.repository$' }] }] },
  },
  ...ROOMS.map(({ folders, above }) => ({
    files: folders.map((f) => `src/${f}/**/*.ts`),
    rules: { 'no-restricted-imports': ['error', { patterns: walls(above) }] },
  })),
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
        {
          patterns: [
            {
              regex: '^(@nestjs/|(\\.\\./)+(admin|common|events|health|leadership|metrics|redis|scheduler|tasks|workers)/)',
              message: 'The worker process imports shapes from src/contracts, not from the orchestrator.',
            },
          ],
        },
      ],
    },
  },
);
