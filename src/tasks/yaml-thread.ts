import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ResourceLimits, Worker } from 'node:worker_threads';
import { SpecError } from './spec/task-draft';
import { loadWithYaml, ParseSubmissionOptions } from './spec/yaml-slow-path';
import type { YamlAnswer, YamlJob } from './spec/yaml-thread.worker';

/**
 * Runs the `yaml` path of submission loading (loadWithYaml: refusals and the rare constructs the
 * fast path leaves to it) on a worker thread for texts of OFF_THREAD_MIN_BYTES or more. That path
 * costs microseconds per token: 1 MB of `[` took 4.5 s, during which the event loop (scheduling,
 * events, every other request) would stand still. Small texts, which it loads in milliseconds, stay
 * on the main thread. One text at a time; one that takes longer than timeoutMs, or exhausts the
 * thread's memory, is refused with 400 and the thread is replaced.
 */
@Injectable()
export class YamlThread implements OnModuleDestroy {
  private readonly log = new Logger('YamlThread');
  /** Texts at least this long (in UTF-16 units) are loaded off the main thread. */
  minBytes = 8 * 1024;
  timeoutMs = 10_000;
  /** The thread's heap limit: a text that needs more is refused, and the process is not affected. */
  maxHeapMb = 512;
  private worker: Worker | null = null;
  private queue: Pending[] = [];
  private current: (Pending & { timer: NodeJS.Timeout }) | null = null;
  private nextId = 1;

  /** The slow path for parseSubmissionWith. Rejects with the SpecError loadWithYaml would throw. */
  readonly load = async (text: string, opts: ParseSubmissionOptions): Promise<unknown[]> => {
    if (text.length < this.minBytes) return loadWithYaml(text, opts);
    return new Promise<unknown[]>((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, text, opts }, resolve, reject });
      this.next();
    });
  };

  private next() {
    if (this.current || this.queue.length === 0) return;
    const pending = this.queue.shift()!;
    const worker = this.ensureWorker();
    const timer = setTimeout(() => this.fail(`it took longer than ${this.timeoutMs / 1000} s`), this.timeoutMs);
    this.current = { ...pending, timer };
    worker.postMessage(pending.job);
  }

  private onAnswer(a: YamlAnswer) {
    const cur = this.current;
    if (!cur || cur.job.id !== a.id) return;
    clearTimeout(cur.timer);
    this.current = null;
    if (a.ok) cur.resolve(a.documents);
    else cur.reject(a.spec ? new SpecError(a.path, a.message) : new Error(a.message));
    this.next();
  }

  /** The text being loaded failed without an answer (timeout, thread out of memory): refuse it, replace the thread. */
  private fail(why: string) {
    const cur = this.current;
    this.current = null;
    const w = this.worker;
    this.worker = null;
    void w?.terminate();
    if (cur) {
      clearTimeout(cur.timer);
      this.log.warn(`refused a ${cur.job.text.length}-character task document: ${why}`);
      cur.reject(new SpecError('', `Task document is too complex to load: ${why}`));
    }
    this.next();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = spawnWorker({ maxOldGenerationSizeMb: this.maxHeapMb });
    w.on('message', (a: YamlAnswer) => this.onAnswer(a));
    w.on('error', (err: Error & { code?: string }) => {
      if (this.worker !== w) return;
      this.fail(err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `it needs more than ${this.maxHeapMb} MB of memory` : err.message);
    });
    w.on('exit', (code) => this.worker === w && this.fail(`its thread exited (${code})`));
    w.unref();
    this.worker = w;
    return w;
  }

  async onModuleDestroy() {
    const w = this.worker;
    this.worker = null;
    const pending = [...(this.current ? [this.current] : []), ...this.queue];
    if (this.current) clearTimeout(this.current.timer);
    this.current = null;
    this.queue = [];
    for (const p of pending) p.reject(new Error('shutting down'));
    await w?.terminate();
  }
}

interface Pending {
  job: YamlJob;
  resolve: (documents: unknown[]) => void;
  reject: (err: Error) => void;
}

function spawnWorker(resourceLimits: ResourceLimits): Worker {
  const js = join(__dirname, 'spec', 'yaml-thread.worker.js');
  if (existsSync(js)) return new Worker(js, { resourceLimits });
  // Run from the TypeScript sources (ts-jest): compile them as they load, with the TypeScript
  // compiler that is then installed (a devDependency).
  return new Worker(TS_BOOTSTRAP, { eval: true, workerData: { file: join(__dirname, 'spec', 'yaml-thread.worker.ts'), root: process.cwd() }, resourceLimits });
}

const TS_BOOTSTRAP = `
const fs = require('node:fs');
const { workerData } = require('node:worker_threads');
const ts = require(require.resolve('typescript', { paths: [workerData.root, __dirname] }));
const options = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
require.extensions['.ts'] = (m, file) => m._compile(ts.transpileModule(fs.readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file }).outputText, file);
require(workerData.file);
`;
