import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Inject, Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { DomainError, ErrorBody, HTTP_STATUS_OF } from './errors';
import { isRedisOutOfMemory, RedisTimeoutError, RedisUnavailableError } from '../redis/redis.service';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { requestPath } from './request-log.middleware';

/** Is this error ioredis telling us the connection is down? */
export function isRedisDownError(err: unknown): boolean {
  if (err instanceof RedisUnavailableError || err instanceof RedisTimeoutError) return true;
  const msg = err instanceof Error ? err.message : '';
  return /Stream isn't writeable|Connection is closed|ECONNREFUSED|MaxRetriesPerRequest|ETIMEDOUT|LOADING|Command timed out|Command aborted/i.test(msg);
}

/** The `code` of an error that carries only an HTTP status (Nest's own, the guard's, body-parser's). */
const CODE_OF_STATUS: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  500: 'internal_error',
  503: 'service_unavailable',
};

/** Messages built from what a client sent (a JSON parser's excerpt of the body) stay short. */
const MAX_MESSAGE_CHARS = 500;
const bounded = (s: string) => (s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS)}…` : s);

/**
 * Maps every error to one JSON body; unknown errors become 500 with an id that is also logged.
 * Nest calls catch() for errors of its routes; bootstrap.ts installs expressHandler() for the
 * errors raised before Nest routes a request (body parsing: bad JSON, bad Content-Encoding, too large).
 */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly log = new Logger('Http');

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  catch(exception: unknown, host: ArgumentsHost) {
    const ctx = host.switchToHttp();
    this.respond(exception, ctx.getRequest<Request & { id?: string }>(), ctx.getResponse<Response>());
  }

  /** An Express error-handling middleware that answers like catch(). */
  readonly expressHandler = (err: unknown, req: Request & { id?: string }, res: Response, _next: NextFunction) => this.respond(err, req, res);

  private respond(exception: unknown, req: Request & { id?: string }, res: Response) {
    const body = this.toBody(exception, req);
    // The path only: a query string may carry a credential (?access_token=...) or anything else.
    if (body.statusCode === 503) {
      this.log.warn(`${req.method} ${requestPath(req)}: ${body.message}`, { requestId: req.id });
    } else if (body.statusCode >= 500) {
      this.log.error(`${req.method} ${requestPath(req)} failed: ${body.message}`, {
        requestId: req.id,
        stack: exception instanceof Error ? exception.stack : undefined,
      });
    }
    if (res.headersSent) return;
    res.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown, req: Request & { id?: string }): ErrorBody {
    const make = (statusCode: number, message: string, code?: string, field?: string): ErrorBody => ({
      statusCode,
      error: STATUS_CODES[statusCode] ?? 'Error',
      message,
      code: code ?? CODE_OF_STATUS[statusCode] ?? (statusCode >= 500 ? 'internal_error' : 'invalid_request'),
      field: field ?? null,
      requestId: req.id ?? null,
    });
    if (exception instanceof DomainError) {
      return make(HTTP_STATUS_OF[exception.code], exception.message, exception.code, exception.field);
    }
    if (isRedisOutOfMemory(exception)) {
      return make(HttpStatus.SERVICE_UNAVAILABLE, 'Storage is full: Redis reached maxmemory and refuses writes. Try again once space is freed.', 'storage_full');
    }
    if (isRedisDownError(exception)) {
      return make(HttpStatus.SERVICE_UNAVAILABLE, 'Redis is unavailable; the orchestrator keeps retrying. Try again shortly.', 'redis_unavailable');
    }
    const tooLarge = () => make(413, `Request body exceeds MAX_TASK_BYTES (${this.config.maxTaskBytes} bytes)`, 'payload_too_large');
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status === 413) return tooLarge();
      const r = exception.getResponse();
      const message =
        typeof r === 'string'
          ? r
          : Array.isArray((r as { message?: unknown }).message)
            ? (r as { message: string[] }).message.join('; ')
            : String((r as { message?: unknown }).message ?? exception.message);
      // Nest's "Cannot GET /path?query" names the route, not what was asked for.
      return make(status, status === 404 ? bounded(message.split('?')[0]) : bounded(message));
    }
    // body-parser errors carry an HTTP status (413 too large, 400 bad JSON, 415 bad charset or encoding).
    const e = exception as { status?: number; statusCode?: number; type?: string; message?: string };
    const status = e?.status ?? e?.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      if (e.type === 'entity.too.large') return tooLarge();
      if (e.type === 'entity.parse.failed') return make(400, bounded(`Malformed JSON body (expected {"yaml": "..."}): ${e.message}`));
      return make(status, bounded(e.message ?? 'Bad request'));
    }
    return make(500, 'Internal server error; see the orchestrator log for this requestId');
  }
}
