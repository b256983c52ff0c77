import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Inject, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { DomainError, ErrorBody, HTTP_STATUS_OF } from './errors';
import { isRedisOutOfMemory, RedisTimeoutError, RedisUnavailableError } from '../redis/redis.service';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';

/** Is this error ioredis telling us the connection is down? */
export function isRedisDownError(err: unknown): boolean {
  if (err instanceof RedisUnavailableError || err instanceof RedisTimeoutError) return true;
  const msg = err instanceof Error ? err.message : '';
  return /Stream isn't writeable|Connection is closed|ECONNREFUSED|MaxRetriesPerRequest|ETIMEDOUT|LOADING|Command timed out|Command aborted/i.test(msg);
}

/** Maps every error to one JSON body; unknown errors become 500 with an id that is also logged. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('Http');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  catch(exception: unknown, host: ArgumentsHost) {
    const ctx = host.switchToHttp();
    const res = ctx.getResponse<Response>();
    const req = ctx.getRequest<Request & { id?: string }>();
    const body = this.toBody(exception, req);
    if (body.statusCode === 503) {
      this.log.warn(`${req.method} ${req.originalUrl ?? req.url}: ${body.message}`, { requestId: req.id });
    } else if (body.statusCode >= 500) {
      this.log.error(`${req.method} ${req.originalUrl ?? req.url} failed: ${body.message}`, {
        requestId: req.id,
        stack: exception instanceof Error ? exception.stack : undefined,
      });
    }
    if (res.headersSent) return;
    res.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown, req: Request & { id?: string }): ErrorBody {
    const make = (statusCode: number, message: string, extra: Partial<ErrorBody> = {}): ErrorBody => ({
      statusCode,
      error: STATUS_CODES[statusCode] ?? 'Error',
      message,
      ...extra,
      requestId: req.id,
    });
    if (exception instanceof DomainError) {
      return make(HTTP_STATUS_OF[exception.code], exception.message, { code: exception.code, field: exception.field });
    }
    if (isRedisOutOfMemory(exception)) {
      return make(HttpStatus.SERVICE_UNAVAILABLE, 'Storage is full: Redis reached maxmemory and refuses writes. Try again once space is freed.', { code: 'storage_full' });
    }
    if (isRedisDownError(exception)) {
      return make(HttpStatus.SERVICE_UNAVAILABLE, 'Redis is unavailable; the orchestrator keeps retrying. Try again shortly.', { code: 'redis_unavailable' });
    }
    const tooLarge = () => make(413, `Request body exceeds MAX_TASK_BYTES (${this.config.maxTaskBytes} bytes)`, { code: 'payload_too_large' });
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status === 413) return tooLarge();
      const r = exception.getResponse();
      const message =
        typeof r === 'string' ? r : Array.isArray((r as { message?: unknown }).message) ? ((r as { message: string[] }).message).join('; ') : String((r as { message?: unknown }).message ?? exception.message);
      return make(status, message);
    }
    // body-parser errors carry an HTTP status (413 too large, 400 bad JSON, 415 bad charset).
    const e = exception as { status?: number; statusCode?: number; type?: string; message?: string };
    const status = e?.status ?? e?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      if (e.type === 'entity.too.large') return tooLarge();
      if (e.type === 'entity.parse.failed') return make(400, `Malformed JSON body: ${e.message}`, { code: 'invalid_request' });
      return make(status, e.message ?? 'Bad request');
    }
    return make(500, 'Internal server error; see the orchestrator log for this requestId');
  }
}
