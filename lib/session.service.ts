import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { isSessionHandle, isSessionId, sessionHandle } from './http/session-cookie.js';
import { type Session, isSessionBound } from './session.decorator.js';
import type { SessionHttpRequest, SessionHttpResponse } from './http/session-http.adapter.js';
import { SessionRuntime } from './core/session.runtime.js';

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
  constructor(@Inject(SessionRuntime) private readonly runtime: SessionRuntime) {}

  /** The session key that marks a session as logged in (the `authKey` option). */
  get authKey(): string {
    return this.runtime.options.authKey;
  }

  /**
   * The current request's session: the same handle the handler's `@Session()` gets, loaded at
   * most once per request. Rejects with a 503 error when the store fails.
   *
   * On a route with neither a `@Session()` parameter nor `@UseSession()`, nothing saves the
   * session after the handler: the handle is read-only there (a due touch is written at once),
   * and changing it throws an error that says to add `@UseSession()`.
   */
  load(context: ExecutionContext): Promise<Session> {
    const { req, res } = this.getRequestResponse(context);
    const loading = isSessionBound(context.getHandler(), context.getClass()) ? this.runtime.load(req, res) : this.runtime.loadDetached(req, res);
    // The handle is untyped inside; Session<T> is its public face.
    return loading as Promise<unknown> as Promise<Session>;
  }

  /**
   * Deletes a session from the store: by its id, or by the handle that `session.handle` and
   * `listByUser` report. Its cookie stops working at once.
   */
  async destroy(idOrHandle: string): Promise<void> {
    const handle = isSessionHandle(idOrHandle) ? idOrHandle : isSessionId(idOrHandle) ? sessionHandle(idOrHandle) : undefined;
    if (handle === undefined) {
      throw new TypeError('SessionService.destroy() takes a session id (session.id) or a session handle (session.handle).');
    }
    await this.runtime.destroyInStore(handle);
  }

  /**
   * The live sessions of a user (the sessions whose `authKey` value is `userId`), oldest first.
   * Pass the caller's session as `current` to have it marked. Needs a store with `listByUser`
   * (`MemoryStore`, `RedisStore` and `PostgresStore` have it).
   */
  async listByUser(userId: unknown, options: { current?: Session | string } = {}): Promise<UserSession[]> {
    const store = this.runtime.store;
    if (!store.listByUser) {
      throw new Error('SessionService.listByUser() needs a store that implements listByUser(); MemoryStore, RedisStore and PostgresStore do.');
    }
    const current = this.toHandle(options.current);
    let entries;
    try {
      entries = await store.listByUser(this.runtime.userKey(userId));
    } catch (error) {
      throw this.runtime.storeFailure('read', error);
    }
    return entries
      .map((e) => ({ handle: e.handle, createdAt: e.createdAt, lastSeenAt: e.touchedAt, current: e.handle === current }))
      .sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Destroys every session of a user, except the one named by `except` (an id, handle or
   * session: "log out my other devices"). Resolves the number destroyed.
   */
  async destroyByUser(userId: unknown, options: { except?: Session | string } = {}): Promise<number> {
    const except = this.toHandle(options.except);
    const sessions = await this.listByUser(userId);
    let destroyed = 0;
    for (const { handle } of sessions) {
      if (handle === except) continue;
      await this.runtime.destroyInStore(handle);
      destroyed++;
    }
    return destroyed;
  }

  private toHandle(value: Session | string | undefined): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') return value.handle;
    return isSessionHandle(value) ? value : sessionHandle(value);
  }

  /** Where the request and response are found; override for other transports. */
  protected getRequestResponse(context: ExecutionContext): { req: SessionHttpRequest; res: SessionHttpResponse } {
    const http = context.switchToHttp();
    return { req: http.getRequest<SessionHttpRequest>(), res: http.getResponse<SessionHttpResponse>() };
  }
}
