/** The executors this worker ships with; main.ts starts the worker with this registry. */
import { CommandExecutor } from './command';
import { EchoExecutor } from './echo';
import { ExecutorRegistry } from './executor';
import { InferenceExecutor } from './inference';

export function defaultRegistry(): ExecutorRegistry {
  return new ExecutorRegistry().register(new EchoExecutor(), 'echo').register(new CommandExecutor(), 'command').register(new InferenceExecutor(), 'inference', 'chat');
}

export * from './executor';
