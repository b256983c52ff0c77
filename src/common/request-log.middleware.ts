import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/** The path of a request without its query string, which may carry anything (a credential too). */
export function requestPath(req: Request): string {
  const url = req.originalUrl ?? req.url ?? '';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * One INFO line per request (method, path, status, duration), with an x-request-id accepted or
 * minted and echoed back. An Express middleware installed by bootstrap.ts before the body parsers,
 * so that the requests those refuse (bad JSON, too large) get their id and their line too.
 */
export class RequestLogMiddleware {
  private readonly log = new Logger('Http');

  readonly use = (req: Request & { id?: string }, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    req.id = typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', req.id);
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Headers (the token) and the query string are never logged.
      this.log.log(`${req.method} ${requestPath(req)} ${res.statusCode} ${ms.toFixed(1)}ms`, { requestId: req.id });
    });
    next();
  };
}
