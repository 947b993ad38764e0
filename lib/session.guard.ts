import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Session } from './session.decorator.js';
import { refusal, sessionSource } from './integrations/session-transport.js';
import { SessionService } from './session.service.js';

/**
 * Lets a request through only when its session is logged in: it holds a non-null value under
 * `authKey` (default `'userId'`). Otherwise answers Nest's standard 401: in a resolver, a GraphQL
 * error with `extensions.status` 401; in a gateway, a `WsException` that the client receives as
 * the `exception` event. Subclass and override
 * {@link SessionGuard.isAuthenticated} for other rules.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(@Inject(SessionService) protected readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = await this.sessions.load(context);
    const source = sessionSource(context);
    if (await this.isAuthenticated(session, context)) {
      // A socket message has no response to save before: a touch that is due is saved now.
      if (source.transport === 'ws') await session.save().catch(async (error: unknown) => Promise.reject(await refusal(source, error)));
      return true;
    }
    throw await refusal(source, new UnauthorizedException('Log in first: this route needs a session.'));
  }

  /** The check: true when the session holds a non-null value under `authKey`. */
  protected isAuthenticated(session: Session, _context: ExecutionContext): boolean | Promise<boolean> {
    // authKey is configured at runtime, so it is read untyped whatever SessionData declares.
    const value = (session as unknown as Session<Record<string, unknown>>).get(this.sessions.authKey);
    return value !== undefined && value !== null;
  }
}
