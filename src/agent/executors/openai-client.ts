/**
 * One call to an OpenAI-compatible `/v1/chat/completions` endpoint (vLLM, TGI, llama.cpp, Ollama,
 * OpenAI itself), retried on transient failures: network errors, 408, 409, 425, 429 and 5xx,
 * with exponential backoff (honouring Retry-After), up to `maxRetries` times.
 */
import { sleep } from '../abort';
import { TaskError } from './executor';

export interface ChatMessage {
  role: string;
  content: unknown;
  [field: string]: unknown;
}

export interface ChatRequest {
  url: string;
  apiKey: string | null;
  body: Record<string, unknown>;
  signal: AbortSignal;
  /** Each request gives up after this long (then counts as a transient failure). */
  requestTimeoutMs: number;
  maxRetries: number;
  /** First backoff; doubled at each retry, capped at MAX_BACKOFF_MS. */
  backoffMs: number;
  onRetry?: (attempt: number, why: string, delayMs: number) => void;
}

export interface ChatResponse {
  content: string;
  finishReason: string | null;
  usage: Record<string, number>;
  model: string | null;
}

const TRANSIENT_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504]);
const MAX_BACKOFF_MS = 30_000;
const MAX_ERROR_BODY_CHARS = 500;

/** `<base>/chat/completions`, adding `/v1` when the base has no version path (OPENAI_BASE_URL usually ends in /v1). */
export function chatCompletionsUrl(base: string): string {
  const trimmed = base.replace(/\/+$/, '');
  if (trimmed.endsWith('/chat/completions')) return trimmed;
  if (/\/v\d+$/.test(trimmed)) return `${trimmed}/chat/completions`;
  return `${trimmed}/v1/chat/completions`;
}

export async function chatCompletion(req: ChatRequest): Promise<ChatResponse> {
  for (let attempt = 0; ; attempt++) {
    const outcome = await attemptOnce(req);
    if (outcome.ok) return outcome.response;
    if (!outcome.transient || attempt >= req.maxRetries) {
      const tries = attempt + 1;
      throw new TaskError(`${outcome.error}${tries > 1 ? ` (after ${tries} attempts)` : ''}`);
    }
    const delayMs = outcome.retryAfterMs ?? Math.min(MAX_BACKOFF_MS, req.backoffMs * 2 ** attempt);
    req.onRetry?.(attempt + 1, outcome.error, delayMs);
    await sleep(delayMs, req.signal);
  }
}

type Outcome = { ok: true; response: ChatResponse } | { ok: false; transient: boolean; error: string; retryAfterMs?: number };

async function attemptOnce(req: ChatRequest): Promise<Outcome> {
  const signal = AbortSignal.any([req.signal, AbortSignal.timeout(req.requestTimeoutMs)]);
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (req.apiKey) headers.authorization = `Bearer ${req.apiKey}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(req.url, { method: 'POST', headers, body: JSON.stringify(req.body), signal });
    text = await res.text();
  } catch (err) {
    // The task's own abort (timeout, shutdown) is not a failure of the endpoint: pass it through.
    if (req.signal.aborted) throw req.signal.reason;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { ok: false, transient: true, error: `request to ${req.url} failed: ${cause?.code ?? cause?.message ?? (err as Error).message}` };
  }
  if (!res.ok) {
    const error = `HTTP ${res.status} from ${req.url}: ${text.slice(0, MAX_ERROR_BODY_CHARS)}`;
    return { ok: false, transient: TRANSIENT_STATUS.has(res.status), error, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
  }
  return parseChatResponse(text, req.url);
}

function parseChatResponse(text: string, url: string): Outcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, transient: false, error: `response from ${url} is not JSON: ${text.slice(0, MAX_ERROR_BODY_CHARS)}` };
  }
  const b = (body ?? {}) as { choices?: { message?: { content?: unknown }; text?: unknown; finish_reason?: unknown }[]; usage?: unknown; model?: unknown };
  const choice = Array.isArray(b.choices) ? b.choices[0] : undefined;
  if (!choice) return { ok: false, transient: false, error: `response from ${url} has no choices: ${text.slice(0, MAX_ERROR_BODY_CHARS)}` };
  const content = choice.message?.content ?? choice.text ?? '';
  return {
    ok: true,
    response: {
      content: typeof content === 'string' ? content : JSON.stringify(content),
      finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
      usage: numericCounters(b.usage),
      model: typeof b.model === 'string' ? b.model : null,
    },
  };
}

/** The numeric top-level counters of `usage` (prompt_tokens, completion_tokens, total_tokens, ...). */
function numericCounters(usage: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (usage && typeof usage === 'object') {
    for (const [k, v] of Object.entries(usage)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

/** Retry-After in seconds (HTTP dates are rare from model servers and are ignored), capped. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header || !/^\d+(\.\d+)?$/.test(header.trim())) return undefined;
  return Math.min(MAX_BACKOFF_MS, Number(header) * 1000);
}
