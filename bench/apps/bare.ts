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

/** Does nothing: it only makes Nest run each request through its interceptor pipeline. */
@Injectable()
class NoopInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}

/**
 * The floor: the bare app plus a no-op global interceptor. Any global interceptor makes Nest run
 * its rxjs pipeline per request (defer, mergeAll, an AsyncResource, a ReplaySubject), which is
 * the least a library that saves sessions through a Nest interceptor can cost.
 */
@Module({ controllers: [BareController], providers: [{ provide: APP_INTERCEPTOR, useClass: NoopInterceptor }] })
export class BareInterceptorAppModule {}
