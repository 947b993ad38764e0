import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { Observable, Subscriber, finalize } from 'rxjs';
import { SessionRuntime } from './core/session.runtime.js';
import { COMMITTED } from './core/session.context.js';
import { sessionHttp } from './http/session-http.adapter.js';
import { sessionSourceIf } from './integrations/session-transport.js';
import { socketSessions } from './integrations/socket-session.js';
import { sessionLockOf, takeSessionLock } from './session-lock.guard.js';

/**
 * Passes on a handler's events, each `next` (and for sockets, the end too) only after `commit()`
 * has saved what the handler changed so far; where there is nothing to commit, events pass at
 * once, as they came. A `Subscriber` itself, so that rxjs wraps nothing around it: one object per
 * handler call, and the path without a session allocates nothing more.
 */
abstract class CommitBeforeReply extends Subscriber<unknown> {
  /** The commit or delivery in progress: later events wait for it, so their order is kept. */
  private queue: Promise<void> | undefined;

  constructor(
    private readonly downstream: Subscriber<unknown>,
    /** Whether the end of the handler (complete or error) commits too. */
    private readonly atEnd: boolean,
  ) {
    super(downstream);
  }

  /** Saves what the handler changed, or `undefined` when it used no session. */
  protected abstract commit(): Promise<void> | undefined;

  protected override _next(value: unknown): void {
    if (this.queue !== undefined) return this.after(true, () => this.downstream.next(value));
    const saving = this.commit();
    // Nothing to save, or saved already (a store that writes at once): nothing is queued before
    // this event, and nothing can fail, so it passes at once, as it would a tick later.
    if (saving === undefined || saving === COMMITTED) return this.downstream.next(value);
    this.queue = saving.then(
      () => this.downstream.next(value),
      (error: unknown) => this.downstream.error(error),
    );
  }

  protected override _complete(): void {
    if (this.queue === undefined && !this.atEnd) return super._complete();
    this.after(this.atEnd, () => this.downstream.complete());
  }

  protected override _error(error: unknown): void {
    if (this.queue === undefined && !this.atEnd) return super._error(error);
    // The handler's own error wins over a failed commit's (which the runtime has logged).
    this.after(this.atEnd, () => this.downstream.error(error), () => this.downstream.error(error));
  }

  /** Delivers after what is queued, and after a commit first if `commitFirst`. */
  private after(commitFirst: boolean, deliver: () => void, failed = (error: unknown): void => this.downstream.error(error)): void {
    const step = (): Promise<void> | void => {
      const saving = commitFirst ? this.commit() : undefined;
      return saving === undefined ? deliver() : saving.then(deliver, failed);
    };
    if (this.queue !== undefined) {
      this.queue = this.queue.then(step);
      return;
    }
    const result = step();
    if (result !== undefined) this.queue = result;
  }
}

/** An HTTP handler: the request's session, if the handler (or anything before it) used it. */
class RequestCommit extends CommitBeforeReply {
  constructor(
    subscriber: Subscriber<unknown>,
    private readonly runtime: SessionRuntime,
    private readonly req: object,
    private readonly res: object,
  ) {
    super(subscriber, false);
  }

  protected commit(): Promise<void> | undefined {
    // Looked up after the handler: the handler may be the first to use the session.
    const session = this.runtime.contextIf(this.req);
    // The response already on its way (`@Res()`, a stream): the hooks hold or follow it, and save.
    return session === undefined || session.answering || session.settled || sessionHttp.headersSent(this.res) ? undefined : session.commitResult();
  }
}

/** A gateway handler: the message's session, if anything asked for it. */
class MessageCommit extends CommitBeforeReply {
  constructor(
    subscriber: Subscriber<unknown>,
    private readonly args: unknown[],
  ) {
    super(subscriber, true);
  }

  protected commit(): Promise<void> | undefined {
    return socketSessions.commit(this.args);
  }
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
    // GraphQL: nested fields resolve after their parent's resolver has returned, so the
    // operation's one commit is the hooks' (and a failure there answers a GraphQL error).
    if (source === undefined || source.transport === 'graphql') return next.handle();
    if (source.transport === 'ws') return this.message(context, source.message, next);
    return this.request(source.req, source.res, next);
  }

  /** An HTTP handler: its result waits for the commit only if the request used the session. */
  private request(req: object, res: object, next: CallHandler): Observable<unknown> {
    const runtime = this.runtime;
    return new Observable<unknown>((subscriber) => next.handle().subscribe(new RequestCommit(subscriber, runtime, req, res)));
  }

  /** A gateway handler: its reply waits for the commit of what it changed. */
  private message(context: ExecutionContext, args: unknown[], next: CallHandler): Observable<unknown> {
    // Bound twice (globally and by hand, or by `@Session()`): the outer binding commits.
    if (socketSessions.running()?.args === args) return next.handle();
    const lock = sessionLockOf(context, this.runtime);
    if (lock === null) {
      // `next.handle()` binds the handler to the async context it is called in.
      const handled = socketSessions.run(args, this.runtime, () => next.handle());
      return new Observable<unknown>((subscriber) => handled.subscribe(new MessageCommit(subscriber, args)));
    }
    // @SessionLock(): taken here, after every guard, so a guard that refuses the message leaves no
    // lock behind; freed after the message's last save (a socket message has no response to end).
    const runtime = this.runtime;
    const session = socketSessions.contextOf(args, args[0] as object, runtime);
    return new Observable<unknown>((subscriber) => {
      let closed = false;
      let unsubscribe: (() => void) | undefined;
      takeSessionLock(runtime, session, lock).then(
        () => {
          if (closed) return;
          const handled = socketSessions.run(args, runtime, () => next.handle());
          const subscription = handled.subscribe(new MessageCommit(subscriber, args));
          unsubscribe = () => subscription.unsubscribe();
        },
        async (error: unknown) => subscriber.error(await socketSessions.wsError(error)),
      );
      return () => {
        closed = true;
        unsubscribe?.();
      };
    }).pipe(finalize(() => session.end(true)));
  }
}
