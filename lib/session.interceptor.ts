import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';

/**
 * Does nothing, and is kept so that apps which bound it (with `@UseInterceptors()` or
 * `APP_INTERCEPTOR`) keep working: the module loads and saves sessions on every request by
 * itself, before the response headers leave, on every exit path. Binding it globally only adds
 * Nest's interceptor pipeline to every route.
 * @deprecated Remove it; sessions are saved without it.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle();
  }
}
