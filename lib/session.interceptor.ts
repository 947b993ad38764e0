import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { SESSION_USED_METADATA } from './session.constants.js';
import type { SessionHttpRequest, SessionHttpResponse } from './http/session-http.adapter.js';
import { SessionRuntime, loadedSession } from './core/session.runtime.js';

/**
 * Loads the session before handlers that use `@Session()`, and writes any session the request
 * loaded (by decorator, guard or `SessionService.load`) before the response is sent: after a
 * normal return, a redirect, or a thrown error. Bound by `@Session()` and `@UseSession()` to the
 * handlers that need it; bind it yourself with `@UseInterceptors(SessionInterceptor)` if you like.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  // Whether a handler has @Session() parameters, read from metadata once per handler.
  private readonly usage = new WeakMap<object, boolean>();

  constructor(@Inject(SessionRuntime) private readonly runtime: SessionRuntime) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const { req, res } = this.getRequestResponse(context);
    const uses = this.usesSession(context);
    // Routes that never use the session pass straight through: no cookie parsing, no store read.
    if (!uses && this.runtime.bypass(req)) return next.handle();
    const mustLoad = uses && loadedSession(req) === undefined;
    const runtime = this.runtime;

    return new Observable<unknown>((subscriber) => {
      let queue: Promise<void> | undefined;
      // Each event waits for the write of whatever session the request loaded by then.
      const afterCommit = (deliver: () => void): void => {
        if (queue === undefined && loadedSession(req) === undefined) return deliver();
        queue = (queue ?? Promise.resolve())
          .then(() => {
            const session = loadedSession(req);
            return session === undefined ? undefined : runtime.commit(session);
          })
          .then(deliver, (error: unknown) => subscriber.error(error));
      };
      let closed = false;
      let teardown: { unsubscribe(): void } | undefined;
      const start = (): void => {
        if (closed) return;
        teardown = next.handle().subscribe({
          next: (value) => afterCommit(() => subscriber.next(value)),
          error: (error: unknown) => afterCommit(() => subscriber.error(error)),
          complete: () => afterCommit(() => subscriber.complete()),
        });
      };
      if (mustLoad) runtime.load(req, res).then(start, (error: unknown) => subscriber.error(error));
      else start();
      return () => {
        closed = true;
        teardown?.unsubscribe();
      };
    });
  }

  /** Whether the handler asks for the session itself (`@Session()`). */
  protected usesSession(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    let uses = this.usage.get(handler);
    if (uses === undefined) {
      uses = Reflect.getMetadata(SESSION_USED_METADATA, handler) === true;
      this.usage.set(handler, uses);
    }
    return uses;
  }

  /** Where the request and response are found; override for other transports. */
  protected getRequestResponse(context: ExecutionContext): { req: SessionHttpRequest; res: SessionHttpResponse } {
    const http = context.switchToHttp();
    return { req: http.getRequest<SessionHttpRequest>(), res: http.getResponse<SessionHttpResponse>() };
  }
}
