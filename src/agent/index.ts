/**
 * For a worker of your own with extra executors: build a registry (start from defaultRegistry()),
 * register yours, and start a Worker with it. See docs/worker.md, "Adding an executor".
 */
export { loadWorkerConfig, ConfigError } from './config';
export type { WorkerConfig } from './config';
export { defaultRegistry, ExecutorRegistry, TaskError } from './executors';
export type { Executor, ExecutionContext, ExecutorOutput, ExecutorSettings } from './executors';
export { inlineInputs, shardOf } from './executors/inputs';
export { createLogger } from './logger';
export { Worker } from './worker';
