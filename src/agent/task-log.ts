/**
 * A running task's output lines and progress, sent to Redis in batches (v2, docs/protocol.md "Logs
 * and progress"): lines are buffered and written every TASK_LOG_FLUSH_MS or TASK_LOG_BATCH_LINES
 * lines, one XADD per TASK_LOG_BATCH_LINES lines, one write in flight at a time (what comes
 * meanwhile goes with the next), each line cut to TASK_LOG_LINE_MAX_BYTES; progress goes at most every
 * TASK_PROGRESS_INTERVAL_MS, the latest value winning. Logs are best effort: a write that fails is
 * logged and dropped, never fails the task, and close() always flushes what is left before the report.
 */
import { StringDecoder } from 'node:string_decoder';
import { TASK_LOG_BATCH_LINES, TASK_LOG_FLUSH_MS, TASK_LOG_LINE_MAX_BYTES, TASK_LOG_MAX_LINES, TASK_PROGRESS_INTERVAL_MS } from '../contracts/protocol';
import { cutLine, progressProblem, RawLogLine } from '../contracts/task-logs';
import { errorMessage, Logger } from './logger';

/** What an executor writes its output to (ExecutionContext.output). */
export interface TaskOutput {
  /** One line of output, without its newline; `stream` is `stdout`, `stderr`, `progress`, ... */
  line(stream: string, text: string): void;
  /** How far the task is, where the executor knows it. A bad value is ignored. */
  progress(done: number, total?: number | null, unit?: string | null): void;
}

export interface Progress {
  done: number;
  total?: number | null;
  unit?: string | null;
}

/** Where a TaskLog writes (ProtocolClient). */
export interface LogSink {
  appendLog(taskId: string, attempt: number, lastLine: number, lines: RawLogLine[]): Promise<void>;
  /** 1 written, 0 not ours (ignored), -1 refused. */
  reportProgress(taskId: string, attempt: number | undefined, p: Progress): Promise<number>;
}

/** A SUPERSEDED error: what Redis answers an XADD whose id is not above the stream's last (a newer attempt writes this log now). */
const SUPERSEDED = /equal or smaller than the target stream top item/i;

export class TaskLog implements TaskOutput {
  private buffer: RawLogLine[] = [];
  private lines = 0;
  private dropped = 0;
  /** The write in flight: lines that come meanwhile wait and go together once it is done (at most one write at a time, so ids grow). */
  private writing: Promise<void> | null = null;
  private progressChain: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private pending: Progress | null = null;
  private lastProgressMs = 0;
  private closed = false;
  private stopped = false;
  private warned = false;

  constructor(
    private readonly sink: LogSink,
    private readonly taskId: string,
    private readonly attempt: number | undefined,
    private readonly log: Logger,
  ) {}

  line(stream: string, text: string): void {
    if (this.closed || this.stopped) return;
    this.buffer.push([Date.now(), stream, cutLine(text)]);
    // Redis slower than the output: only the newest lines wait (memory stays bounded), the others are counted.
    if (this.buffer.length > 2 * TASK_LOG_MAX_LINES) {
      this.dropped += this.buffer.length - TASK_LOG_MAX_LINES;
      this.buffer = this.buffer.slice(-TASK_LOG_MAX_LINES);
    }
    if (this.buffer.length >= TASK_LOG_BATCH_LINES) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), TASK_LOG_FLUSH_MS);
  }

  progress(done: number, total: number | null = null, unit: string | null = null): void {
    if (this.closed || progressProblem({ done, total, unit }) !== null) return;
    this.pending = { done, total, unit };
    if (this.progressTimer) return;
    const wait = this.lastProgressMs + TASK_PROGRESS_INTERVAL_MS - Date.now();
    if (wait <= 0) this.sendProgress();
    else this.progressTimer = setTimeout(() => this.sendProgress(), wait);
  }

  /** Flushes the lines and the last progress; resolves once they are written (or failed). Never rejects. */
  async close(): Promise<void> {
    this.closed = true;
    this.sendProgress();
    for (;;) {
      this.flush();
      if (!this.writing) break;
      await this.writing;
    }
    await this.progressChain;
  }

  /** Sends every buffered line in one round trip (one XADD per TASK_LOG_BATCH_LINES lines), unless a write is in flight. */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.writing || this.buffer.length === 0 || this.stopped) return;
    const batch = this.buffer;
    this.buffer = [];
    if (this.dropped > 0) {
      batch.unshift([Date.now(), 'worker', `[${this.dropped} lines dropped: Redis did not keep up]`]);
      this.dropped = 0;
    }
    this.lines += batch.length;
    this.writing = this.sink
      .appendLog(this.taskId, this.attempt ?? 1, this.lines, batch)
      .catch((err: unknown) => this.failed(err))
      .finally(() => {
        this.writing = null;
        // What came in meanwhile: a full batch goes now, a few lines wait for the timer (close() takes the rest).
        if (this.buffer.length >= TASK_LOG_BATCH_LINES) this.flush();
        else if (this.buffer.length > 0 && !this.closed) this.flushTimer ??= setTimeout(() => this.flush(), TASK_LOG_FLUSH_MS);
      });
  }

  private sendProgress(): void {
    clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.lastProgressMs = Date.now();
    this.progressChain = this.progressChain
      .then(() => this.sink.reportProgress(this.taskId, this.attempt, p))
      .then(
        () => undefined,
        (err: unknown) => this.failed(err),
      );
  }

  private failed(err: unknown): void {
    const message = errorMessage(err);
    if (SUPERSEDED.test(message)) {
      // A later attempt of this task writes its log now: ours is over.
      this.stopped = true;
      this.buffer = [];
      this.log.info('task log taken over by a later attempt; no more lines sent', { taskId: this.taskId, attempt: this.attempt });
    } else if (!this.warned) {
      this.warned = true;
      this.log.warn(`cannot write the task's log or progress: ${message}`, { taskId: this.taskId });
    }
  }
}

/**
 * Splits a byte stream into lines for a TaskOutput: UTF-8 decoded across chunk boundaries, `\r\n`
 * read as `\n`, a line longer than `maxBytes` kept only up to its cut (a program printing a
 * gigabyte without a newline holds at most `maxBytes` characters here).
 */
export class LineSplitter {
  private partial = '';
  private cutBytes = 0;
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly emit: (text: string) => void,
    private readonly maxBytes = TASK_LOG_LINE_MAX_BYTES,
  ) {}

  push(chunk: Buffer): void {
    this.take(this.decoder.write(chunk));
  }

  /** The last line, when the output did not end with a newline. */
  end(): void {
    this.take(this.decoder.end());
    if (this.partial !== '' || this.cutBytes > 0) this.emitLine();
  }

  private take(s: string): void {
    let start = 0;
    for (let nl = s.indexOf('\n'); nl >= 0; nl = s.indexOf('\n', start)) {
      this.append(s.slice(start, nl));
      this.emitLine();
      start = nl + 1;
    }
    this.append(s.slice(start));
  }

  private append(s: string): void {
    const room = Math.max(0, this.maxBytes - this.partial.length);
    if (room >= s.length) this.partial += s;
    else {
      this.partial += s.slice(0, room);
      this.cutBytes += Buffer.byteLength(s.slice(room));
    }
  }

  private emitLine(): void {
    const text = this.partial.endsWith('\r') ? this.partial.slice(0, -1) : this.partial;
    const dropped = this.cutBytes;
    this.partial = '';
    this.cutBytes = 0;
    this.emit(cutLine(text, this.maxBytes, dropped));
  }
}
