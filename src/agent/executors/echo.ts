/**
 * `echo`: returns its inputs as `items`, for tests and demos. `spec.echo.delaySec` makes it take
 * that long (abortably), so that a demo shows tasks running and a test can catch one mid-flight.
 */
import { sleep } from '../abort';
import { isPlainObject } from '../../contracts/plain-data';
import { ExecutionContext, Executor, ExecutorOutput, TaskError } from './executor';
import { inlineInputs, shardOf } from './inputs';

export class EchoExecutor implements Executor {
  async run(ctx: ExecutionContext): Promise<ExecutorOutput> {
    const delayMs = echoDelayMs(ctx.spec);
    if (delayMs > 0) await sleep(delayMs, ctx.signal);
    const data = isPlainObject(ctx.spec.data) ? ctx.spec.data : {};
    const output: ExecutorOutput = { items: inlineInputs(ctx.spec) ?? [] };
    // What the orchestrator carved for this shard, so a caller can see it was honoured.
    const shard = shardOf(ctx.spec);
    if (shard) output.shard = { index: shard.index, total: shard.total };
    if (typeof data.split === 'string') output.split = data.split;
    return output;
  }
}

function echoDelayMs(spec: Record<string, unknown>): number {
  const echo = isPlainObject(spec.echo) ? spec.echo : {};
  const delay = echo.delaySec ?? 0;
  if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
    throw new TaskError(`spec.echo.delaySec must be a number of seconds >= 0, got ${JSON.stringify(delay)}`);
  }
  return delay * 1000;
}
