/**
 * Request/response over the IPC channel of a forked child: the runner calls `child.call(cmd, arg)`,
 * the child answers from its handler table. One outstanding map per child; every call is bounded
 * by a timeout, and a child that exits fails every call still waiting.
 */
import type { ChildProcess } from 'node:child_process';
import type { Supervised } from '../../test/support/process';

interface Request {
  rpc: 'req';
  id: number;
  cmd: string;
  arg: unknown;
}
interface Response {
  rpc: 'res';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  readonly child: ChildProcess;

  constructor(
    readonly name: string,
    readonly proc: Supervised,
  ) {
    const child = (this.child = proc.child);
    child.on('message', (m: unknown) => {
      const res = m as Response;
      if (!res || res.rpc !== 'res') return;
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      clearTimeout(p.timer);
      if (res.ok) p.resolve(res.result);
      else p.reject(new Error(`${name}: ${res.error}`));
    });
    child.once('exit', (code, signal) => {
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`${name} exited (code ${code}, signal ${signal}) during a call`));
      }
      this.pending.clear();
    });
  }

  call<T>(cmd: string, arg: unknown = {}, timeoutMs = 60_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}.${cmd}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      const req: Request = { rpc: 'req', id, cmd, arg };
      this.child.send(req, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }
}

export type Handlers = Record<string, (arg: any) => unknown | Promise<unknown>>;

/** Child side: answers requests from the parent; exits when the parent goes away. */
export function serve(handlers: Handlers, onParentGone: () => void): void {
  if (!process.send) throw new Error('this module must be started with fork() (it needs an IPC channel)');
  process.on('message', (m: unknown) => {
    const req = m as Request;
    if (!req || req.rpc !== 'req') return;
    const reply = (res: Omit<Response, 'rpc' | 'id'>) => process.send?.({ rpc: 'res', id: req.id, ...res });
    const h = handlers[req.cmd];
    if (!h) return reply({ ok: false, error: `unknown command ${req.cmd}` });
    Promise.resolve()
      .then(() => h(req.arg))
      .then(
        (result) => reply({ ok: true, result }),
        (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  process.on('disconnect', onParentGone);
}
