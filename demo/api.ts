/** The few orchestrator endpoints the demo calls, over fetch. */
import type { SubmittedTask, TaskResponse } from '../src/tasks/task-record';
import type { WorkerResponse } from '../src/workers/worker-record';

export class OrchestratorApi {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async healthy(): Promise<boolean> {
    try {
      return (await fetch(`${this.baseUrl}/healthz`)).ok;
    } catch {
      return false;
    }
  }

  workers(): Promise<WorkerResponse[]> {
    return this.call('GET', '/workers');
  }

  async submit(yaml: string): Promise<SubmittedTask[]> {
    const body = await this.call<{ tasks: SubmittedTask[] }>('POST', '/api/v1/tasks', yaml);
    return body.tasks;
  }

  /** Submits a document expected to be refused: the HTTP status and the error body, never throws on a 4xx. */
  async refusal(yaml: string): Promise<{ status: number; message: string; field: string | null }> {
    const res = await fetch(`${this.baseUrl}/api/v1/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'text/yaml' },
      body: yaml,
    });
    const text = await res.text();
    let body: { message?: unknown; field?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // not JSON: shown as text below
    }
    return {
      status: res.status,
      message: typeof body.message === 'string' ? body.message : text.slice(0, 200),
      field: typeof body.field === 'string' ? body.field : null,
    };
  }

  /** Newest first, each as a summary (no document, no result). */
  tasks(): Promise<TaskResponse[]> {
    return this.call('GET', '/api/v1/tasks');
  }

  /** One task's whole record, with its result. */
  task(id: string): Promise<TaskResponse> {
    return this.call('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
  }

  private async call<T>(method: string, path: string, yaml?: string): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (yaml !== undefined) headers['content-type'] = 'text/yaml';
    const res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: yaml });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }
}
