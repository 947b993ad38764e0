import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Session } from './session.decorator.js';
import { refusal, sessionSource } from './integrations/session-transport.js';
import { SessionService } from './session.service.js';

/**
 * Lets a request through only when its session is logged in: it holds a user id (a non-empty
 * string or a number) at `authKey` (default `'userId'`; `'passport.user'` with Passport).
 * Otherwise answers Nest's standard 401: in a resolver, a GraphQL error with `extensions.status`
 * 401; in a gateway, a `WsException` that the client receives as the `exception` event. Subclass
 * and override {@link SessionGuard.isAuthenticated} for other rules.
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

  /** The check: true when the session holds a user id (a non-empty string or a number) at `authKey`. */
  protected isAuthenticated(session: Session, _context: ExecutionContext): boolean | Promise<boolean> {
    return this.sessions.userOf(session) !== undefined;
  }
}
