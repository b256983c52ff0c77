/**
 * A tiny OpenAI-compatible server on loopback (`POST /v1/chat/completions`, `GET /v1/models`), so
 * the demo and the tests exercise the `inference` executor without a GPU or a model. It answers
 * deterministically, counts words as tokens, and can be told to fail the first requests with 503
 * to show retries.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmStubOptions {
  /** Answer the first N completion requests with an error, by default 503 (transient: the worker retries it). */
  failFirst?: number;
  /** The status of those errors. */
  failStatus?: number;
  /** Delay before each answer, so concurrency can be observed. */
  latencyMs?: number;
}

export interface RecordedRequest {
  body: Record<string, unknown>;
  authorization: string | null;
}

export const STUB_MODEL = 'stub-llm';

export class LlmStub {
  /** Base URL to use as OPENAI_BASE_URL or spec.model.endpoint (ends in /v1); set by start(). */
  url = '';
  readonly requests: RecordedRequest[] = [];
  /** Highest number of completion requests in flight at once. */
  maxInFlight = 0;
  private inFlight = 0;
  private failuresLeft: number;
  private server: Server | null = null;

  constructor(private readonly opts: LlmStubOptions = {}) {
    this.failuresLeft = opts.failFirst ?? 0;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/v1/models') return send(res, 200, { object: 'list', data: [{ id: STUB_MODEL, object: 'model' }] });
    if (req.method !== 'POST' || path !== '/v1/chat/completions') return send(res, 404, { error: { message: `no route ${req.method} ${path}` } });

    const body = await readJson(req);
    if (!body || !Array.isArray(body.messages)) return send(res, 400, { error: { message: 'body must be JSON with a messages list' } });
    this.requests.push({ body, authorization: req.headers.authorization ?? null });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
      if (this.failuresLeft > 0) {
        this.failuresLeft--;
        const status = this.opts.failStatus ?? 503;
        return send(res, status, { error: { message: status === 503 ? 'stub: temporarily overloaded' : `stub: failing with ${status} as told` } });
      }
      send(res, 200, completion(body));
    } finally {
      this.inFlight--;
    }
  }
}

/** The answer: the last user message, echoed back with its word count, and word counts as usage. */
function completion(body: Record<string, unknown>) {
  const messages = body.messages as { role?: string; content?: unknown }[];
  const prompt = String([...messages].reverse().find((m) => m.role === 'user')?.content ?? '');
  const promptTokens = messages.reduce((n, m) => n + words(String(m.content ?? '')), 0);
  const content = `stub answer to "${prompt}" (${words(prompt)} words)`;
  const completionTokens = words(content);
  return {
    id: `chatcmpl-stub-${Date.now()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: typeof body.model === 'string' ? body.model : STUB_MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

const words = (text: string): number => text.split(/\s+/).filter(Boolean).length;

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | null> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
