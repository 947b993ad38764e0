import { type ArgumentsHost, Inject, Injectable } from '@nestjs/common';
import { isSessionHandle, isSessionId, sessionHandle } from './http/session-cookie.js';
import { SessionContextError, SessionError, SessionStoreCapabilityError } from './core/session.errors.js';
import { requestSessionOwner } from './integrations/request-session.facade.js';
import { loadSession, sessionSource } from './integrations/session-transport.js';
import { socketSessions } from './integrations/socket-session.js';
import type { Session } from './session.decorator.js';
import { SessionRuntime } from './core/session.runtime.js';
import type { Observable } from 'rxjs';
import type { SessionEvent } from './core/session.events.js';

/** One session of a user, as {@link SessionService.listByUser} reports it. */
export interface UserSession {
  /** The session's handle: safe to show, and accepted by {@link SessionService.destroy}. */
  handle: string;
  /** Creation time, epoch milliseconds. */
  createdAt: number;
  /** Last time the session was written or touched (precise to `touchInterval`), epoch milliseconds. */
  lastSeenAt: number;
  /** True for the session passed as `current`. */
  current: boolean;
}

/**
 * Sessions from anywhere in the app: load the current request's session in your own guards and
 * interceptors, and revoke any session by id or handle.
 */
@Injectable()
export class SessionService {
  /**
   * Session lifecycle events: `created`, `regenerated`, `destroyed`, `expired`, `revoked` and
   * `store-error`, each `{ type, handle, user?, at }`. Delivered after the request's own work, on a
   * later turn of the event loop: a slow subscriber never delays a request. A subscriber that
   * throws is rxjs' unhandled error (`config.onUnhandledError`), never the request's: catch inside
   * it, or use `catchError`.
   */
  readonly events$: Observable<SessionEvent>;

  constructor(@Inject(SessionRuntime) private readonly runtime: SessionRuntime) {
    this.events$ = runtime.events.events$;
    runtime.telemetry?.instrumentService(this);
  }

  /** The session key, or dotted path of keys, that marks a session as logged in (the `authKey` option). */
  get authKey(): string {
    return this.runtime.options.authKey;
  }

  /**
   * The user `session` is logged in as: the value at `authKey` (`'userId'`, `'passport.user'`)
   * in the string form stores index it by (`42` gives `'42'`), or `undefined` when that value is
   * not a non-empty string or a number. What `SessionGuard` checks, and what `listByUser` and
   * `destroyByUser` take.
   */
  userOf(session: Pick<Session, 'get'>): string | undefined {
    const get = session.get as (key: string) => unknown;
    return this.runtime.userFrom(get.call(session, this.runtime.options.authPath[0]!));
  }

  /**
   * The session of a request: the same handle the handler's `@Session()` gets, loaded at most
   * once per request. Pass the `ExecutionContext` or `ArgumentsHost` in guards, interceptors,
   * pipes and exception filters (of controllers, resolvers and gateways), or `(req, res)` in
   * middleware. Rejects with a 503 error when the store fails (a `WsException` in a gateway).
   * In a gateway the session is loaded once per message.
   */
  load(context: ArgumentsHost): Promise<Session>;
  load(req: object, res: object): Promise<Session>;
  load(contextOrRequest: ArgumentsHost | object, res?: object): Promise<Session> {
    let loading: Promise<unknown>;
    if (typeof (contextOrRequest as Partial<ArgumentsHost>).switchToHttp === 'function') {
      loading = loadSession(sessionSource(contextOrRequest as ArgumentsHost), this.runtime);
    } else {
      const req = contextOrRequest;
      const pair = requestSessionOwner((req as { session?: unknown }).session) ?? { req, res: res ?? {} };
      loading = this.runtime.load(pair.req, pair.res);
    }
    // The handle is untyped inside; Session<T> is its public face.
    return loading as Promise<Session>;
  }

  /**
   * The session of the request being handled, from any provider (singleton or request-scoped)
   * without an `ExecutionContext`. Over HTTP (controllers, resolvers) it needs `asyncContext: true`
   * in `SessionModule.forRoot()`; rejects with a {@link SessionContextError} without it, or when no
   * request is being handled (a timer, a queue consumer, application startup). In a
   * `@SubscribeMessage()` handler it is the message's session (see {@link SessionService.load}),
   * with or without `asyncContext`, wherever `SessionInterceptor` runs (globally by default).
   */
  current(): Promise<Session> {
    const message = socketSessions.running();
    if (message !== undefined) return socketSessions.load(message.args, message.args[0] as object, this.runtime) as Promise<unknown> as Promise<Session>;
    const requests = this.runtime.requests;
    if (requests === undefined) {
      return Promise.reject(
        new SessionContextError(
          'SessionService.current() needs `asyncContext: true` in SessionModule.forRoot(). Set it, or use load(context) in guards, interceptors and filters and @Session() in handlers.',
        ),
      );
    }
    const request = requests.getStore();
    if (request === undefined) {
      return Promise.reject(
        new SessionContextError(
          'SessionService.current() was called outside an HTTP request (a timer, a queue consumer or startup code?): there is no session here. Pass the session (or its handle) in from the request that started the work. (In a WebSocket gateway, current() needs SessionInterceptor, which SessionModule registers unless globalInterceptor is false.)',
        ),
      );
    }
    return this.runtime.load(request.req, request.res) as Promise<unknown> as Promise<Session>;
  }

  /**
   * Deletes a session from the store: by its id, or by the handle that `session.handle` and
   * `listByUser` report. Its cookie stops working at once. With `CookieStore` there is nothing
   * on the server to delete: it throws a `SessionStatelessError`.
   */
  async destroy(idOrHandle: string): Promise<void> {
    const handle = isSessionHandle(idOrHandle) ? idOrHandle : isSessionId(idOrHandle) ? sessionHandle(idOrHandle) : undefined;
    if (handle === undefined) {
      throw new SessionError('SessionService.destroy() takes a session id (session.id) or a session handle (session.handle).');
    }
    this.runtime.assertServerSide('SessionService.destroy()');
    await this.runtime.destroyInStore(handle);
    this.runtime.events.emit({ type: 'revoked', handle });
  }

  /**
   * The live sessions of a user (the sessions whose `authKey` value is `userId`), oldest first.
   * Pass the caller's session as `current` to have it marked. Needs a store with `listByUser`
   * (`MemoryStore`, `RedisStore`, `PostgresStore` and `MysqlStore` have it; `ExpressSessionStore` over a store with `all()`); with `CookieStore` it, and
   * `destroyByUser`, throw a `SessionStatelessError`.
   */
  async listByUser(userId: unknown, options: { current?: Pick<Session, 'handle'> | string } = {}): Promise<UserSession[]> {
    this.runtime.assertServerSide('SessionService.listByUser()');
    const store = this.runtime.store;
    if (!store.listByUser) {
      throw new SessionError('SessionService.listByUser() needs a store that implements listByUser(), and this one does not: implement it (see SessionStore.listByUser), or use MemoryStore, RedisStore, PostgresStore or MysqlStore.');
    }
    const current = this.toHandle(options.current);
    let entries;
    try {
      entries = await store.listByUser(this.runtime.userKey(userId));
    } catch (error) {
      // A store that cannot list users (ExpressSessionStore without all()) says so; that is no outage.
      if (error instanceof SessionStoreCapabilityError) throw error;
      throw this.runtime.storeFailure('read', error);
    }
    return entries
      .map((e) => ({ handle: e.handle, createdAt: e.createdAt, lastSeenAt: e.touchedAt, current: e.handle === current }))
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Destroys every session of a user, except the one named by `except` (an id, handle or
   * session: "log out my other devices"). Resolves the number destroyed. With a store that has
   * `destroyByUser` (the built-in ones) it is one atomic step, so a `regenerate()` in flight
   * cannot carry a session past it; otherwise the sessions are listed, then destroyed one by one.
   */
  async destroyByUser(userId: unknown, options: { except?: Pick<Session, 'handle'> | string } = {}): Promise<number> {
    this.runtime.assertServerSide('SessionService.destroyByUser()');
    const except = this.toHandle(options.except);
    const user = this.runtime.userKey(userId);
    const store = this.runtime.store;
    let handles: string[];
    if (store.destroyByUser) {
      // One atomic step in the store: no regenerate() can move a session out from under it.
      try {
        handles = await store.destroyByUser(user, except);
      } catch (error) {
        throw this.runtime.storeFailure('write', error);
      }
    } else {
      // Refused here rather than by listByUser below, so that the message names the method called.
      if (!store.listByUser) {
        throw new SessionError('SessionService.destroyByUser() needs a store that implements destroyByUser() or listByUser(), and this one has neither: implement one (see SessionStore.destroyByUser), or use MemoryStore, RedisStore, PostgresStore or MysqlStore.');
      }
      this.runtime.assertStoreSupports('destroyByUser');
      handles = (await this.listByUser(userId)).map((s) => s.handle).filter((handle) => handle !== except);
      for (const handle of handles) await this.runtime.destroyInStore(handle);
    }
    for (const handle of handles) this.runtime.events.emit({ type: 'revoked', handle, user });
    return handles.length;
  }

  private toHandle(value: Pick<Session, 'handle'> | string | undefined): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') return value.handle;
    return isSessionHandle(value) ? value : sessionHandle(value);
  }
}
