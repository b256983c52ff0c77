import { LoggerService } from '@nestjs/common';
import * as winston from 'winston';
import type { LogLevel } from '../config/env';

/**
 * winston behind Nest's LoggerService: console plus a size-rotated file.
 * Every line: time, level, context, message, then structured fields as JSON.
 */
export function createWinston(opts: { level: LogLevel; file: string | null; maxBytes: number; backupCount: number; console?: boolean }): winston.Logger {
  const line = winston.format.printf((info) => {
    const { timestamp, level, message, context, ...fields } = info as Record<string, unknown>;
    delete (fields as Record<symbol | string, unknown>)[Symbol.for('splat') as unknown as string];
    const extra = Object.keys(fields).length ? ' ' + escapeLogText(safeJson(fields)) : '';
    return `${timestamp} ${String(level).toUpperCase()} [${escapeLogText(String(context ?? 'app'))}] ${escapeLogText(String(message))}${extra}`;
  });
  const transports: winston.transport[] = [];
  if (opts.console !== false) transports.push(new winston.transports.Console());
  if (opts.file) {
    transports.push(
      new winston.transports.File({
        filename: opts.file,
        maxsize: opts.maxBytes,
        // winston counts the live file among maxFiles; LOG_BACKUP_COUNT counts only the rotated ones.
        maxFiles: opts.backupCount + 1,
        tailable: true,
      }),
    );
  }
  if (transports.length === 0) transports.push(new winston.transports.Console({ silent: true }));
  return winston.createLogger({
    level: opts.level,
    format: winston.format.combine(winston.format.timestamp(), line),
    transports,
  });
}

/**
 * Characters that would let text which came from a user or a worker (a task name, a worker id, an
 * error it reported) forge or disguise a log line: control characters (a line feed starts a new
 * line), C1 controls, line and paragraph separators, bidi overrides and isolates.
 */
const UNSAFE_IN_LOG = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** One log line stays one line, read as written: unsafe characters become `\uXXXX` (valid inside JSON too). */
export function escapeLogText(text: string): string {
  UNSAFE_IN_LOG.lastIndex = 0;
  if (!UNSAFE_IN_LOG.test(text)) return text;
  return text.replace(UNSAFE_IN_LOG, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return '"<unserialisable>"';
  }
}

/**
 * Routes Nest's own logs (and ours) through winston. Not nest-winston: its `(message, context)`
 * methods drop the fields of `log(message, fields)` and cost more per line (docs/architecture.md).
 */
export class WinstonLogger implements LoggerService {
  constructor(private readonly w: winston.Logger) {}

  log(message: unknown, ...rest: unknown[]) {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.write('debug', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]) {
    this.write('error', message, rest);
  }

  /** Nest calls log(message, context) or error(message, stack, context); fields may be an object. */
  private write(level: string, message: unknown, rest: unknown[]) {
    // Nothing is formatted for a level that is off (the hot paths log at INFO).
    if (!this.w.isLevelEnabled(level)) return;
    const args = [...rest];
    const context = typeof args[args.length - 1] === 'string' ? (args.pop() as string) : undefined;
    const fields: Record<string, unknown> = {};
    for (const a of args) {
      if (typeof a === 'string' && a.includes('\n')) fields.stack = a;
      else if (a && typeof a === 'object') Object.assign(fields, a);
    }
    if (message instanceof Error) {
      fields.stack = message.stack;
      message = message.message;
    }
    const text = typeof message === 'string' ? message : safeJson(message);
    this.w.log({ level, message: text, context, ...fields });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.w.on('finish', () => resolve());
      this.w.end();
      setTimeout(resolve, 200).unref();
    });
  }
}
