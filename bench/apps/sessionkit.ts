import { Controller, type DynamicModule, Get, HttpCode, Module, Post, Query } from '@nestjs/common';
import { CookieStore, Session, SessionLock, SessionModule, type SessionModuleOptions, type SessionStore } from 'nestjs-sessionkit';
import { BENCH_SECRET, LOCKED_ROUTE_ENV, typicalSession } from '../common.js';

/** The routes as a user of nestjs-sessionkit writes them. */
@Controller()
class SessionKitController {
  @Get('setup')
  setup(@Session() session: Session, @Query('user') user?: string) {
    // ?user=<n>: the many-sessions cases give each session its own user.
    const data = typicalSession(user === undefined ? undefined : Number(user));
    session.set('userId', data.userId);
    session.set('role', data.role);
    session.set('cart', data.cart);
    return { ok: true };
  }

  @Get('read')
  read(@Session() session: Session) {
    return { n: session.get('n') ?? 0 };
  }

  @Post('change')
  @HttpCode(200)
  change(@Session() session: Session) {
    return { n: session.increment('n') };
  }

  @Get('first')
  first(@Session() session: Session) {
    session.set('n', 1);
    return { n: 1 };
  }

  @Get('none')
  none() {
    return { ok: true };
  }
}

/** "change with lock": the change of /change, one request of the session at a time. */
@Controller()
class SessionKitLockController {
  @Post('change-lock')
  @HttpCode(200)
  @SessionLock()
  change(@Session() session: Session) {
    return { n: session.increment('n') };
  }
}

/** The root module of a nestjs-sessionkit app using `store`, with `extra` options. */
export function sessionKitModule(store: SessionStore, extra: Partial<SessionModuleOptions> = {}): DynamicModule {
  @Module({})
  class SessionKitAppModule {}
  return {
    module: SessionKitAppModule,
    imports: [SessionModule.forRoot({ secret: BENCH_SECRET, cookie: { secure: false }, store, ...extra })],
    // The locked route only where the run measures it (its global guard runs on every route), and
    // never with CookieStore, which cannot lock (the app would refuse to start).
    controllers: process.env[LOCKED_ROUTE_ENV] === '1' && !(store instanceof CookieStore) ? [SessionKitController, SessionKitLockController] : [SessionKitController],
  };
}
