import { Logger } from '@nestjs/common';
import { SessionCookie, newSessionId, sessionHandle } from '../http/session-cookie.js';
import { SessionStoreUnavailableException } from './session.errors.js';
import { SessionHandle, type SessionHandleHost } from './session.handle.js';
import { type SessionHttpRequest, type SessionHttpResponse, sessionHttp } from '../http/session-http.adapter.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import type { SessionPatch, SessionRecord, SessionStore } from '../stores/session-store.interface.js';
import { SessionValueError, assertStorable, emptySessionData, storedSessionData } from './session-value.js';
import { privateCacheControl } from '../http/cache-control.js';
import { makeRoomForLogin } from './session-limit.js';

/** Where the request keeps its session: the handle once loaded, the pending load before. */
const kSession = Symbol('nestjs-sessionkit.session');

/** Marks a request that SessionInterceptor let through without a session, for a clear error on a late load(). */
const BYPASSED = Symbol('bypassed');

type SessionSlot = SessionHandle | Promise<SessionHandle> | typeof BYPASSED;
type RequestWithSession = SessionHttpRequest & { [kSession]?: SessionSlot };

/** The request's session if it was loaded already (internal; the decorator reads it). */
export function loadedSession(req: object): SessionHandle | undefined {
  const slot = (req as RequestWithSession)[kSession];
  return slot instanceof SessionHandle ? slot : undefined;
}

function isEmpty(data: Record<string, unknown>): boolean {
  for (const _ in data) return false;
  return true;
}

/**
 * Loads sessions from cookies and writes them back (internal): the lifecycle that the guard,
 * the interceptor, the decorator and `SessionService` share.
 */
export class SessionRuntime implements SessionHandleHost {
  private readonly logger = new Logger('SessionModule');
  readonly cookie: SessionCookie;

  constructor(
    readonly options: ResolvedSessionOptions,
    readonly store: SessionStore,
  ) {
    this.cookie = new SessionCookie(options);
  }

  /**
   * Claims the request for a route that does not use the session, unless something (a guard)
   * loaded it already. Returns false when the session is in use and must be written.
   */
  bypass(req: SessionHttpRequest): boolean {
    const r = req as RequestWithSession;
    if (r[kSession] !== undefined) return false;
    r[kSession] = BYPASSED;
    return true;
  }

  /** The request's session, loaded once per request however many callers ask. */
  load(req: SessionHttpRequest, res: SessionHttpResponse): Promise<SessionHandle> {
    const r = req as RequestWithSession;
    const slot = r[kSession];
    if (slot === BYPASSED) {
      return Promise.reject(
        new Error(
          'SessionService.load() was called after SessionInterceptor had let this request through without a session, so changes would not be saved. Call load() from a guard, or use @Session() in the handler.',
        ),
      );
    }
    if (slot !== undefined) return Promise.resolve(slot);
    const pending = this.read(req, res).then(
      (session) => (r[kSession] = session),
      (error: unknown) => {
        // A failed load may be retried by a later caller of the same request.
        r[kSession] = undefined;
        throw error;
      },
    );
    r[kSession] = pending;
    return pending;
  }

  /**
   * The request's session on a route SessionInterceptor is not bound to (a guard's load): what a
   * read-only request must write (a due touch, a re-signed cookie) is written at once, and the
   * handle refuses changes, since nothing would save them.
   */
  async loadDetached(req: SessionHttpRequest, res: SessionHttpResponse): Promise<SessionHandle> {
    const session = await this.load(req, res);
    if (!session.detached) {
      session.detached = true;
      await this.commit(session);
    }
    return session;
  }

  private async read(req: SessionHttpRequest, res: SessionHttpResponse): Promise<SessionHandle> {
    const cookie = this.cookie.read(sessionHttp.cookieHeader(req));
    if (cookie === undefined) return this.fresh(res);
    const handle = cookie.handle;
    let record: SessionRecord | undefined;
    try {
      record = await this.store.get(handle);
    } catch (error) {
      throw this.storeFailure('read', error);
    }
    if (record === undefined) return this.fresh(res);
    if (this.remainingTtl(record, Date.now()) <= 0) {
      // Expired by our clock even if the store still kept it: drop it and start afresh.
      this.store.destroy(handle).catch((error: unknown) => this.logFailure('destroy', error));
      return this.fresh(res);
    }
    record.data = storedSessionData(record.data);
    return new SessionHandle(this, res, cookie.id, handle, record, cookie.rotated);
  }

  private fresh(res: SessionHttpResponse): SessionHandle {
    const id = newSessionId();
    return new SessionHandle(this, res, id, sessionHandle(id), undefined, true);
  }

  /** Milliseconds the session may still live, by both timeouts. */
  remainingTtl(record: { createdAt: number; touchedAt: number }, now: number): number {
    const { idleTimeout, absoluteTimeout } = this.options;
    const idle = record.touchedAt + idleTimeout - now;
    return absoluteTimeout > 0 ? Math.min(idle, record.createdAt + absoluteTimeout - now) : idle;
  }

  async destroyInStore(handle: string): Promise<void> {
    try {
      await this.store.destroy(handle);
    } catch (error) {
      throw this.storeFailure('write', error);
    }
  }

  /** Writes what the request changed, if anything, and sets the cookie headers. Called once per request by the interceptor. */
  async commit(session: SessionHandle): Promise<void> {
    const res = session.response;
    const now = Date.now();
    let setCookie: string | undefined;
    try {
      if (!session.inStore) {
        setCookie = await this.writeNew(session, now);
      } else {
        const patch = this.buildPatch(session, now);
        const ttl = this.remainingTtl({ createdAt: session.createdAt, touchedAt: now }, now);
        if (patch !== undefined) {
          if (typeof patch.user === 'string' && patch.user !== session.storedUser) await this.makeRoomForLogin(patch.user, session);
          if (this.store.patch) {
            // false: destroyed or expired meanwhile; it must stay gone. The handle goes on as after
            // destroy() (new id, no data, cookie cleared), so a later commit of this request
            // (the interceptor commits on each event) cannot write it back with set().
            if (!(await this.store.patch(session.handle, patch, ttl))) {
              session.inStore = false;
              await session.destroy();
            }
          } else {
            await this.store.set(session.handle, this.fullRecord(session, now), ttl);
          }
          if (session.inStore && patch.user !== undefined) session.storedUser = patch.user ?? undefined;
          session.touchedAt = now;
        } else if (session.touchRequested || now - session.touchedAt >= this.options.touchInterval) {
          const record = this.fullRecord(session, now);
          if (this.store.touch) await this.store.touch(session.handle, record, ttl);
          else await this.store.set(session.handle, record, ttl);
          session.touchedAt = now;
          if (this.options.cookie.persistent) setCookie = this.cookie.issue(session.id, ttl);
        }
        if (session.cookieStale && session.inStore) setCookie = this.cookie.issue(session.id, ttl);
        else if (!session.inStore && session.cookieToClear) setCookie = this.cookie.clear();
      }
    } catch (error) {
      if (error instanceof SessionValueError) throw error;
      throw this.storeFailure('write', error);
    }
    session.changed.clear();
    session.increments.clear();
    session.watched.clear();
    session.cleared = false;
    session.touchRequested = false;
    session.cookieStale = false;
    if (setCookie !== undefined) {
      session.cookieToClear = false;
      this.sendCookie(res, setCookie);
    }
  }

  /**
   * Writes a session that has no record under its handle yet: a new one (`set`), or one that
   * `regenerate()` moves from its old handle (`move`, only if the old record still exists).
   * Returns the `Set-Cookie` value to send, if any.
   */
  private async writeNew(session: SessionHandle, now: number): Promise<string | undefined> {
    const from = session.movedFrom;
    const record = isEmpty(session.data) ? undefined : this.fullRecord(session, now);
    const ttl = record === undefined ? 0 : this.remainingTtl(record, now);
    if (record === undefined || ttl <= 0) {
      // Nothing to keep: a regenerated session's old record goes all the same.
      if (from !== undefined) {
        await this.store.destroy(from);
        session.movedFrom = undefined;
        session.storedUser = undefined;
        session.cookieToClear = true;
      }
      return session.cookieToClear ? this.cookie.clear() : undefined;
    }
    if (record.user !== undefined && record.user !== (from === undefined ? undefined : session.storedUser)) {
      await this.makeRoomForLogin(record.user, session);
    }
    if (from === undefined) {
      await this.store.set(session.handle, record, ttl);
    } else {
      const moved = await this.move(from, session.handle, record, ttl);
      session.movedFrom = undefined;
      if (!moved) {
        // Destroyed meanwhile (a logout, destroyByUser): it stays destroyed, under either id, and
        // the handle goes on as after destroy(), so a later commit of this request writes nothing.
        session.cookieToClear = true;
        await session.destroy();
        return this.cookie.clear();
      }
    }
    session.inStore = true;
    session.storedUser = record.user;
    session.touchedAt = now;
    return this.cookie.issue(session.id, ttl);
  }

  /** The store's `move`, or for stores without it a check, a destroy and a set (not atomic: see `SessionStore.move`). */
  private async move(from: string, to: string, record: SessionRecord, ttl: number): Promise<boolean> {
    if (this.store.move) return this.store.move(from, to, record, ttl);
    if ((await this.store.get(from)) === undefined) return false;
    await this.store.destroy(from);
    await this.store.set(to, record, ttl);
    return true;
  }

  /** Enforces `maxSessionsPerUser` before `session` is written as logged in as `user`. */
  private async makeRoomForLogin(user: string, session: SessionHandle): Promise<void> {
    const max = this.options.maxSessionsPerUser;
    if (max === undefined) return;
    const keep = [session.handle];
    if (session.movedFrom !== undefined) keep.push(session.movedFrom);
    await makeRoomForLogin(this.store, user, max, keep);
  }

  private sendCookie(res: SessionHttpResponse, value: string): void {
    if (sessionHttp.headersSent(res)) {
      throw new Error('The session cookie could not be set because the response was already sent. In handlers that use @Res(), call `await session.save()` before sending.');
    }
    sessionHttp.appendSetCookie(res, value);
    // A shared cache must never hand one user's cookie to another.
    const cacheControl = privateCacheControl(sessionHttp.getHeader(res, 'cache-control'));
    if (cacheControl !== undefined) sessionHttp.setHeader(res, 'cache-control', cacheControl);
  }

  /** The string by which stores index a user: strings as they are, other values as JSON. */
  userKey(value: unknown): string {
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  private userOf(data: Record<string, unknown>): string | undefined {
    const value = data[this.options.authKey];
    return value === undefined || value === null ? undefined : this.userKey(value);
  }

  private fullRecord(session: SessionHandle, now: number): SessionRecord {
    for (const key in session.data) {
      const value = session.data[key];
      if (value !== null && typeof value === 'object') assertStorable(key, value);
    }
    const record: SessionRecord = { data: session.data, createdAt: session.createdAt, touchedAt: now };
    const user = this.userOf(session.data);
    if (user !== undefined) record.user = user;
    return record;
  }

  /** What this request changed, or `undefined` if nothing. */
  private buildPatch(session: SessionHandle, now: number): SessionPatch | undefined {
    const { data, changed, increments, watched } = session;
    if (!session.cleared && changed.size === 0 && increments.size === 0 && watched.size === 0) return undefined;
    let dirty = session.cleared || changed.size > 0 || increments.size > 0;
    const set = emptySessionData();
    const unset: string[] = [];
    for (const key of changed) {
      if (key in data) {
        const value = data[key];
        // Re-checked: an object may have been changed in place after set().
        if (value !== null && typeof value === 'object') assertStorable(key, value);
        set[key] = value;
      } else unset.push(key);
    }
    for (const [key, before] of watched) {
      const value = data[key];
      assertStorable(key, value);
      if (JSON.stringify(value) !== before) {
        set[key] = value;
        dirty = true;
      }
    }
    if (!dirty) return undefined;
    const patch: SessionPatch = { clear: session.cleared, set, unset, incr: Object.fromEntries(increments), touchedAt: now };
    const authKey = this.options.authKey;
    if (session.cleared || changed.has(authKey)) patch.user = this.userOf(data) ?? null;
    return patch;
  }

  storeFailure(operation: 'read' | 'write', error: unknown): SessionStoreUnavailableException {
    this.logFailure(operation, error);
    return new SessionStoreUnavailableException(operation, { cause: error });
  }

  private logFailure(operation: string, error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.error(`Session store ${operation} failed: ${reason}`);
  }
}
