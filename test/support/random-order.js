// @ts-check
/**
 * `npm run test:random`: the suite in a shuffled order (Jest's --randomize: the tests of each file,
 * and the describe blocks, in an order drawn from a seed), once per seed. A test that passes only
 * after the tests before it fails here. Seeds: TEST_RANDOM_SEEDS=1,2,3 (to replay a failure), else
 * two fresh ones, printed. Extra arguments go to Jest (e.g. a file to shuffle alone).
 */
const { spawnSync } = require('node:child_process');

const seeds = process.env.TEST_RANDOM_SEEDS ? process.env.TEST_RANDOM_SEEDS.split(',').map((s) => Number(s.trim())) : [0, 1].map(() => Math.floor(Math.random() * 2 ** 31));
const jest = require.resolve('jest/bin/jest');
for (const seed of seeds) {
  process.stdout.write(`\n=== test:random: jest --randomize --seed=${seed} (replay with TEST_RANDOM_SEEDS=${seed})\n`);
  const run = spawnSync(process.execPath, [jest, '--runInBand', '--randomize', `--seed=${seed}`, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (run.status !== 0) {
    process.stderr.write(`test:random: failed with seed ${seed} (replay with TEST_RANDOM_SEEDS=${seed} npm run test:random)\n`);
    process.exit(run.status ?? 1);
  }
}
