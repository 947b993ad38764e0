import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { SessionRuntime } from './core/session.runtime.js';
import { sessionHttp } from './http/session-http.adapter.js';
import { sessionSourceIf } from './integrations/session-transport.js';
import { socketSessions } from './integrations/socket-session.js';

/** A commit to wait for before passing an event on, or `undefined` when there is nothing to commit. */
type Commit = () => Promise<void> | undefined;

/**
 * Passes on the events of `source`, each `next` (and with `always`, the end too) only after
 * `commit` has saved what the handler changed so far. Where `commit` has nothing to do, events
 * pass synchronously, as they came.
 */
function committed(source: Observable<unknown>, commit: Commit, always: boolean): Observable<unknown> {
  return new Observable<unknown>((subscriber) => {
    // The commit or delivery in progress: later events wait for it, so their order is kept.
    let queue: Promise<void> | undefined;
    const step = (deliver: () => void, commitFirst: boolean, failed: (error: unknown) => void): void => {
      if (queue === undefined) {
        const saving = commitFirst ? commit() : undefined;
        if (saving === undefined) return deliver();
        queue = saving.then(deliver, failed);
        return;
      }
      queue = queue.then(() => {
        const saving = commitFirst ? commit() : undefined;
        return saving === undefined ? deliver() : saving.then(deliver, failed);
      });
    };
    const fail = (error: unknown): void => subscriber.error(error);
    return source.subscribe({
      next: (value) => step(() => subscriber.next(value), true, fail),
      complete: () => step(() => subscriber.complete(), always, fail),
      // The handler's own error wins over a failed commit's (which the runtime has logged).
      error: (error: unknown) => step(() => subscriber.error(error), always, () => subscriber.error(error)),
    });
  });
}

/**
 * Commits the session of every handler through Nest, as soon as the handler's result is ready.
 * `SessionModule.forRoot()` registers it as a global interceptor (`APP_INTERCEPTOR`) unless
 * `globalInterceptor: false`; binding it by hand as well (globally or with `@UseInterceptors()`)
 * is harmless: each request's changes are written once.
 *
 * - HTTP controllers: when the handler's result is ready, before Nest writes it, the request's
 *   session is committed if anything used it. A store failure is thrown into Nest's pipeline as a
 *   `SessionStoreUnavailableException` (503), so the app's exception filters shape the answer. A
 *   route that never touches the session costs one lookup after the handler, nothing more.
 * - GraphQL: the session of an operation is committed once, when its response is ready, after
 *   every field (nested fields resolve after the root field's resolver returned); a failure
 *   answers with a GraphQL error, `extensions.code` `SERVICE_UNAVAILABLE` and `status` 503.
 * - WebSocket gateways: each message's session is loaded only if the handler asks for it
 *   (`@Session()`, `SessionService.current()`, `SessionService.load()`) and what it changed is
 *   saved before its reply is emitted (and after a handler that replies nothing or throws). A
 *   socket cannot create a session: changes to a session the socket has none of are refused.
 * - Other transports (microservices): passes through.
 *
 * Exits the interceptor does not see (a guard that refuses, middleware that answers, an exception
 * filter, `@Res()`) are saved by the hooks that hold the response headers until the session is
 * saved; they write only what is left.
 */
@Injectable()
export class SessionInterceptor implements NestInterceptor {
  constructor(@Inject(SessionRuntime) private readonly runtime: SessionRuntime) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const source = sessionSourceIf(context);
    if (source === undefined || source.transport === 'graphql') return next.handle();
    if (source.transport === 'ws') return this.message(source.message, next);
    return this.request(source.req, source.res, next);
  }

  /** An HTTP handler: its result waits for the commit only if the request used the session. */
  private request(req: object, res: object, next: CallHandler): Observable<unknown> {
    const runtime = this.runtime;
    // Looked up after the handler: the handler may be the first to use the session.
    const commit: Commit = () => {
      const session = runtime.contextIf(req);
      // Headers already sent (`@Res()`, a stream): the hooks hold or follow the response.
      return session === undefined || !session.started || sessionHttp.headersSent(res) ? undefined : session.commitResult();
    };
    return committed(next.handle(), commit, false);
  }

  /** A gateway handler: its reply waits for the commit of what it changed. */
  private message(args: unknown[], next: CallHandler): Observable<unknown> {
    // Bound twice (globally and by hand, or by `@Session()`): the outer binding commits.
    if (socketSessions.running()?.args === args) return next.handle();
    // `next.handle()` binds the handler to the async context it is called in.
    const handled = socketSessions.run(args, this.runtime, () => next.handle());
    return committed(handled, () => socketSessions.commit(args), true);
  }
}
