import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Session } from './session.decorator.js';
import { SessionService } from './session.service.js';

/**
 * Lets a request through only when its session is logged in: it holds a non-null value under
 * `authKey` (default `'userId'`). Otherwise answers Nest's standard 401. Subclass and override
 * {@link SessionGuard.isAuthenticated} for other rules.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(@Inject(SessionService) protected readonly sessions: SessionService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = await this.sessions.load(context);
    if (await this.isAuthenticated(session, context)) return true;
    throw new UnauthorizedException('Log in first: this route needs a session.');
  }

  /** The check: true when the session holds a non-null value under `authKey`. */
  protected isAuthenticated(session: Session, _context: ExecutionContext): boolean | Promise<boolean> {
    // authKey is configured at runtime, so it is read untyped whatever SessionData declares.
    const value = (session as unknown as Session<Record<string, unknown>>).get(this.sessions.authKey);
    return value !== undefined && value !== null;
  }
}
