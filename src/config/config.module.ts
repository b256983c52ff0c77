import { Global, Module } from '@nestjs/common';
import { AppConfig } from './env';

/** Injection token for the validated AppConfig. */
export const APP_CONFIG = Symbol('APP_CONFIG');

/**
 * Hands Nest the AppConfig that main.ts (or a test) already built with `loadConfig` (src/config/env.ts,
 * the one schema). Not @nestjs/config: the configuration must exist before Nest does (logger, port,
 * exit code 2 on a bad value), so that library would only re-wrap it (see docs/architecture.md).
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig) {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
