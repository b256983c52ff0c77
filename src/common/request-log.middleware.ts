import { Injectable, Logger, NestMiddleware } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/** One INFO line per request (method, path, status, duration), with an x-request-id echoed back. */
@Injectable()
export class RequestLogMiddleware implements NestMiddleware {
  private readonly log = new Logger('Http');

  use(req: Request & { id?: string }, res: Response, next: NextFunction) {
    const started = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    req.id = typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', req.id);
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // The path only: query strings may carry anything, headers (the token) are never logged.
      const path = (req.originalUrl ?? req.url).split('?')[0];
      this.log.log(`${req.method} ${path} ${res.statusCode} ${ms.toFixed(1)}ms`, { requestId: req.id });
    });
    next();
  }
}
