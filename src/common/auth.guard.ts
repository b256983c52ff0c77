import { CanActivate, ExecutionContext, ForbiddenException, Inject, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';

const IS_PUBLIC = 'mloc:isPublic';
/** Marks a route that never needs the bearer token (health checks). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * With ORCHESTRATOR_TOKEN set, every route but @Public() ones needs `Authorization: Bearer <token>`:
 * missing or malformed header → 401, wrong token → 403. Tokens are compared in constant time
 * (as SHA-256 digests, so the length of the token does not leak either).
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly expected: Buffer | null;

  constructor(
    private readonly reflector: Reflector,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.expected = config.token ? digest(config.token) : null;
  }

  canActivate(ctx: ExecutionContext): boolean {
    if (!this.expected) return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const header = ctx.switchToHttp().getRequest<Request>().headers.authorization;
    if (!header) throw new UnauthorizedException('Missing Authorization header (expected "Bearer <token>")');
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (!m) throw new UnauthorizedException('Malformed Authorization header (expected "Bearer <token>")');
    if (!timingSafeEqual(digest(m[1]), this.expected)) throw new ForbiddenException('Invalid token');
    return true;
  }
}
