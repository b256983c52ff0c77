/**
 * `inference` (alias `chat`): one chat completion per input of the task (its inline list, already
 * cut to this shard), against an OpenAI-compatible endpoint. `items` keep the input order and hold
 * input, output and usage; `usage` sums the counters; `model` is what the server says answered.
 */
import { isPlainObject } from '../../contracts/plain-data';
import { errorMessage } from '../logger';
import { ExecutionContext, Executor, ExecutorOutput, TaskError } from './executor';
import { describeDataSource, inlineInputs } from './inputs';
import { ChatMessage, chatCompletion, chatCompletionsUrl } from './openai-client';
import { mapConcurrent } from './pool';

const DEFAULT_CONCURRENCY = 4;
const MAX_CONCURRENCY = 256;
const DEFAULT_MAX_RETRIES = 4;
const DEFAULT_REQUEST_TIMEOUT_SEC = 300;
const DEFAULT_RETRY_BACKOFF_SEC = 0.5;

/** Keys of `spec.inference` that steer the worker; every other key goes into the request body. */
const WORKER_KEYS = new Set(['concurrency', 'system_prompt', 'max_retries', 'request_timeout_sec', 'retry_backoff_sec']);

/** Fields of an object input that hold the prompt, in order of preference (after `spec.data.column`). */
const PROMPT_FIELDS = ['prompt', 'question', 'text', 'input'];

export class InferenceExecutor implements Executor {
  async run(ctx: ExecutionContext): Promise<ExecutorOutput> {
    const { spec } = ctx;
    const inputs = inlineInputs(spec);
    if (!inputs) {
      throw new TaskError(`this worker's inference executor reads inline inputs only (spec.data.items or spec.data.prompts); it cannot read ${describeDataSource(spec)}`);
    }
    const endpoint = modelEndpoint(spec) ?? ctx.settings.openaiBaseUrl;
    if (!endpoint) throw new TaskError('no inference endpoint: set spec.model.endpoint in the task or OPENAI_BASE_URL on the worker');
    const url = chatCompletionsUrl(endpoint);
    const options = inferenceOptions(spec);
    const requestedModel = modelName(spec);
    const column = isPlainObject(spec.data) && typeof spec.data.column === 'string' ? spec.data.column : null;

    // v2: progress in inputs answered, and a `progress` line per answer or retry (ExecutionContext.output).
    const output = ctx.output;
    let done = 0;
    output?.progress(0, inputs.length, 'inputs');
    const answers = await mapConcurrent(
      inputs,
      options.concurrency,
      async (input, i, signal) => {
        const messages = toMessages(input, column, options.systemPrompt);
        const body = { ...options.body, ...(requestedModel ? { model: requestedModel } : {}), messages };
        try {
          const answer = await chatCompletion({
            url,
            apiKey: apiKeyFor(url, ctx.settings),
            body,
            signal,
            requestTimeoutMs: options.requestTimeoutMs,
            maxRetries: options.maxRetries,
            backoffMs: options.backoffMs,
            onRetry: (n, why, delayMs) => {
              ctx.log.warn(`input ${i + 1}: retry ${n} in ${delayMs} ms`, { taskId: ctx.taskId, why });
              output?.line('progress', `input ${i + 1} of ${inputs.length}: retry ${n} in ${delayMs} ms (${why})`);
            },
          });
          done++;
          output?.line('progress', `input ${i + 1} of ${inputs.length} answered (${done} done)`);
          output?.progress(done, inputs.length, 'inputs');
          return answer;
        } catch (err) {
          if (signal.aborted) throw err;
          throw new TaskError(`input ${i + 1} of ${inputs.length}: ${errorMessage(err)}`);
        }
      },
      ctx.signal,
    );

    const usage: Record<string, number> = {};
    for (const a of answers) for (const [k, v] of Object.entries(a.usage)) usage[k] = (usage[k] ?? 0) + v;
    const model = answers.find((a) => a.model)?.model ?? requestedModel;
    const items = answers.map((a, i) => ({ input: inputs[i], output: a.content, finish_reason: a.finishReason, usage: a.usage }));
    return { items, usage, ...(model ? { model } : {}), endpoint: url };
  }
}

interface InferenceOptions {
  concurrency: number;
  maxRetries: number;
  requestTimeoutMs: number;
  backoffMs: number;
  systemPrompt: string | null;
  /** Request parameters (max_tokens, temperature, top_p, stop, ...), passed through. */
  body: Record<string, unknown>;
}

function inferenceOptions(spec: Record<string, unknown>): InferenceOptions {
  const inf = isPlainObject(spec.inference) ? spec.inference : {};
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inf)) if (!WORKER_KEYS.has(k)) body[k] = v;
  const prompt = inf.system_prompt ?? spec.system_prompt;
  return {
    concurrency: integerOption(inf.concurrency, 'spec.inference.concurrency', DEFAULT_CONCURRENCY, 1, MAX_CONCURRENCY),
    maxRetries: integerOption(inf.max_retries, 'spec.inference.max_retries', DEFAULT_MAX_RETRIES, 0, 100),
    requestTimeoutMs: secondsOption(inf.request_timeout_sec, 'spec.inference.request_timeout_sec', DEFAULT_REQUEST_TIMEOUT_SEC) * 1000,
    backoffMs: secondsOption(inf.retry_backoff_sec, 'spec.inference.retry_backoff_sec', DEFAULT_RETRY_BACKOFF_SEC) * 1000,
    systemPrompt: typeof prompt === 'string' && prompt.trim() !== '' ? prompt : null,
    body,
  };
}

function integerOption(value: unknown, path: string, def: number, min: number, max: number): number {
  if (value === undefined || value === null) return def;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TaskError(`${path} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function secondsOption(value: unknown, path: string, def: number): number {
  if (value === undefined || value === null) return def;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new TaskError(`${path} must be a number of seconds >= 0, got ${JSON.stringify(value)}`);
  return value;
}

function modelEndpoint(spec: Record<string, unknown>): string | null {
  const model = isPlainObject(spec.model) ? spec.model : {};
  return typeof model.endpoint === 'string' && model.endpoint.trim() !== '' ? model.endpoint.trim() : null;
}

/** `spec.model.name`, else the model's source identifier (the name vLLM serves it under by default). */
function modelName(spec: Record<string, unknown>): string | null {
  const model = isPlainObject(spec.model) ? spec.model : {};
  const source = isPlainObject(model.source) ? model.source : {};
  const name = model.name ?? source.identifier;
  return typeof name === 'string' && name !== '' ? name : null;
}

/**
 * OPENAI_API_KEY goes only to the origin of OPENAI_BASE_URL: a task can name any endpoint, and
 * must not be able to collect the worker's key by pointing it at its own server.
 */
function apiKeyFor(url: string, settings: ExecutionContext['settings']): string | null {
  if (!settings.openaiApiKey || !settings.openaiBaseUrl) return null;
  return new URL(url).origin === new URL(settings.openaiBaseUrl).origin ? settings.openaiApiKey : null;
}

/** Chat messages for one input: a string, an object with `messages`, or an object holding the prompt. */
function toMessages(input: unknown, column: string | null, systemPrompt: string | null): ChatMessage[] {
  let messages: ChatMessage[];
  if (isPlainObject(input) && Array.isArray(input.messages)) {
    messages = input.messages as ChatMessage[];
  } else {
    messages = [{ role: 'user', content: promptText(input, column) }];
  }
  if (systemPrompt && messages[0]?.role !== 'system') messages = [{ role: 'system', content: systemPrompt }, ...messages];
  return messages;
}

function promptText(input: unknown, column: string | null): string {
  if (typeof input === 'string') return input;
  if (isPlainObject(input)) {
    for (const field of column ? [column, ...PROMPT_FIELDS] : PROMPT_FIELDS) {
      if (typeof input[field] === 'string') return input[field] as string;
    }
  }
  return JSON.stringify(input);
}
