import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './bootstrap';
import { ConfigError, loadConfig } from './config/env';

/** A shutdown that takes longer than this is cut short (exit code 1). */
const SHUTDOWN_TIMEOUT_MS = 15_000;

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const app = await createApp(config);
  await app.listen(config.port, config.host);
  const log = new Logger('Main');
  log.log(`listening on ${config.host}:${config.port}; Swagger UI at /docs`);

  // SIGTERM/SIGINT: stop accepting requests, let state changes under way finish, give up
  // leadership, close Redis, exit 0 (Nest's own shutdown hooks would re-raise the signal).
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.log(`${signal} received: shutting down`);
    setTimeout(() => {
      process.stderr.write(`shutdown took longer than ${SHUTDOWN_TIMEOUT_MS} ms; exiting\n`);
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    app.close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
