import { type CanActivate, type ExecutionContext, ForbiddenException, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { CSRF_KEY } from '../session.constants.js';
import { SessionRuntime } from '../core/session.runtime.js';
import { isCsrfSecret, verifyCsrfToken } from './csrf.token.js';
import { SKIP_CSRF } from './skip-csrf.decorator.js';
import { sessionSourceIf } from '../integrations/session-transport.js';

/** Methods that must not change state, so need no token (RFC 9110 safe methods). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** A request refused by {@link CsrfGuard}: Nest answers `403` with the message. */
export class InvalidCsrfTokenException extends ForbiddenException {}

interface HttpRequestLike {
  method?: string;
  headers?: Record<string, string | string[] | undefined>;
  body?: unknown;
}

/** The HTTP request and response behind `context` (a controller, or a resolver over HTTP), or `undefined` for other transports. */
function httpOf(context: ExecutionContext): { req: HttpRequestLike; res: object } | undefined {
  const source = sessionSourceIf(context);
  return source === undefined || source.transport === 'ws' ? undefined : { req: source.req as HttpRequestLike, res: source.res };
}

/**
 * Refuses state-changing requests that do not carry the session's CSRF token: every method but
 * GET, HEAD, OPTIONS and TRACE needs a token from `session.csrfToken()` in the `x-csrf-token`
 * header or the `_csrf` body field (the `csrf` option renames them), checked in constant time;
 * otherwise Nest answers `403` ({@link InvalidCsrfTokenException}). A request with no session (or
 * a session that never issued a token) is refused too. Routes marked {@link SkipCsrf} pass, and
 * so do calls that are not HTTP (microservices, websockets).
 *
 * Bind it globally (`{ provide: APP_GUARD, useClass: CsrfGuard }`) or per route
 * (`@UseGuards(CsrfGuard)`); on GraphQL over HTTP it checks the HTTP request of every operation
 * sent by POST.
 */
@Injectable()
export class CsrfGuard implements CanActivate {
  constructor(
    @Inject(SessionRuntime) private readonly runtime: SessionRuntime,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean | undefined>(SKIP_CSRF, [context.getHandler(), context.getClass()])) return true;
    const http = httpOf(context);
    if (http === undefined || SAFE_METHODS.has((http.req.method ?? 'GET').toUpperCase())) return true;
    const { headerName, fieldName } = this.runtime.options.csrf;
    const body = http.req.body;
    const token = http.req.headers?.[headerName] ?? (body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[fieldName] : undefined);
    if (token === undefined || token === '') {
      throw new InvalidCsrfTokenException(
        `Missing CSRF token: send the token from session.csrfToken() in the "${headerName}" header or the "${fieldName}" body field.`,
      );
    }
    const secret = (await this.runtime.load(http.req, http.res)).data[CSRF_KEY];
    if (!isCsrfSecret(secret)) {
      throw new InvalidCsrfTokenException('Invalid CSRF token: this request has no session that issued one (it expired or was logged out). Reload the page and try again.');
    }
    if (!verifyCsrfToken(secret, token)) {
      throw new InvalidCsrfTokenException('Invalid CSRF token: it does not belong to this session (issued before login or logout, or altered). Reload the page and try again.');
    }
    return true;
  }
}
