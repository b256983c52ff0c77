import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { ErrorFilter } from './common/error.filter';
import { ExpressAdapterWithPrototypes } from './common/express-adapter';
import { createWinston, WinstonLogger } from './common/logging';
import { setupOpenApi } from './common/openapi';
import { RequestLogMiddleware } from './common/request-log.middleware';
import type { AppConfig } from './config/env';
import { YAML_TYPES } from './tasks/tasks.controller';

export interface CreateAppOptions {
  /** Log to the console (default true); tests turn it off. */
  console?: boolean;
  /** Write the log file (default true). */
  logFile?: boolean;
}

/** Builds the application exactly as production runs it; main.ts and the tests both call this. */
export async function createApp(config: AppConfig, opts: CreateAppOptions = {}): Promise<NestExpressApplication> {
  const logger = new WinstonLogger(
    createWinston({
      level: config.logLevel,
      file: opts.logFile === false ? null : config.logFile,
      maxBytes: config.logMaxBytes,
      backupCount: config.logBackupCount,
      console: opts.console,
    }),
  );
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), new ExpressAdapterWithPrototypes(), { logger, bodyParser: false });
  // Before the body parsers, so that a request they refuse still has its id and its log line; the
  // error handler right after them gives their refusals (bad JSON, JSON null, a bad Content-Encoding,
  // too large) the one error body, since those never reach Nest's exception filter.
  app.use(new RequestLogMiddleware().use);
  app.useBodyParser('json', { limit: config.maxTaskBytes });
  app.useBodyParser('text', { type: YAML_TYPES, limit: config.maxTaskBytes });
  app.use(new ErrorFilter(config).expressHandler);
  setupOpenApi(app);
  // Keep idle keep-alive connections longer than clients and proxies usually do (Node's 5 s
  // default races with clients reusing a socket just as the server closes it: ECONNRESET).
  const server = app.getHttpServer() as import('node:http').Server;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return app;
}
