/**
 * `npm run worker`: reads the environment, starts the worker with the built-in executors, and
 * stops it cleanly on SIGTERM/SIGINT (exit 0). Bad configuration exits with code 2.
 */
import { ConfigError, loadWorkerConfig, WorkerConfig } from './config';
import { defaultRegistry } from './executors';
import { createLogger, errorMessage } from './logger';
import { Worker } from './worker';

function readConfig(): WorkerConfig {
  try {
    return loadWorkerConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(2);
  }
}

async function main() {
  const config = readConfig();
  const log = createLogger(config.logLevel, 'worker');
  const registry = defaultRegistry();
  if (config.executors) {
    const unknown = registry.restrictTo(config.executors);
    if (unknown.length) {
      process.stderr.write(`configuration error: WORKER_EXECUTORS: unknown executor(s) ${unknown.join(', ')} (known: ${defaultRegistry().types().join(', ')})\n`);
      process.exit(2);
    }
  }
  const worker = new Worker(config, { registry, log });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn(`${signal} again: exiting without a clean shutdown`);
      process.exit(1);
    }
    log.info(`${signal} received`);
    worker.stop().then(
      () => process.exit(0),
      (err) => {
        log.error(`shutdown failed: ${errorMessage(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  await worker.start();
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
