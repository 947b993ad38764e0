import { type CallHandler, Controller, type ExecutionContext, Get, HttpCode, Injectable, Module, type NestInterceptor, Post } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import type { Observable } from 'rxjs';

/** The ceiling: the same routes with no sessions, answering constants. */
@Controller()
class BareController {
  @Get('setup')
  setup() {
    return { ok: true };
  }

  @Get('read')
  read() {
    return { n: 0 };
  }

  @Post('change')
  @HttpCode(200)
  change() {
    return { n: 1 };
  }

  @Get('first')
  first() {
    return { n: 1 };
  }

  @Get('none')
  none() {
    return { ok: true };
  }
}

@Module({ controllers: [BareController] })
export class BareAppModule {}

/** Does nothing: what any global interceptor costs a request (Nest's interceptor pipeline). */
@Injectable()
class NoopInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

/** The bare app with a no-op global interceptor: the yardstick of `SessionInterceptor`'s cost. */
@Module({ controllers: [BareController], providers: [{ provide: APP_INTERCEPTOR, useClass: NoopInterceptor }] })
export class BareInterceptedAppModule {}
