import { AsyncLocalStorage } from 'node:async_hooks';
import { HttpException, Logger } from '@nestjs/common';
import { SessionCookie, type VerifiedCookie, newSessionId, sessionHandle } from '../http/session-cookie.js';
import { SessionCookieTooLargeError, SessionNotLoadedError, SessionResponseSentError, SessionStatelessError, SessionStoreUnavailableException } from './session.errors.js';
import { SessionHandle, type SessionHandleHost } from './session.handle.js';
import { type SessionHttpHost, type SessionHttpResponse, sessionHttp } from '../http/session-http.adapter.js';
import { type RequestSessionCookieInfo, type RequestSessionSource, createRequestSession } from '../integrations/request-session.facade.js';
import { COMMITTED, SessionContext, type SessionContextHost } from './session.context.js';
import type { ResolvedSessionOptions } from '../session-options.js';
import type { SessionPatch, SessionRecord, SessionStore } from '../stores/session-store.interface.js';
import { SessionValueError, assertStorable, emptySessionData, storedRecordData } from './session-value.js';
import { PERSIST_KEY } from '../session.constants.js';
import { SessionEvents } from './session.events.js';
import { assertSavedSize } from './session-size.js';
import { SessionTooLargeError } from './session.errors.js';
import { privateCacheControl } from '../http/cache-control.js';
import { makeRoomForLogin } from './session-limit.js';
import { CookieStore } from '../stores/cookie.store.js';
import { ExpressSessionStore } from '../stores/express-session.store.js';
import { type ReadNowStore, type WriteNowStore, patchNow, readNow, setNow } from '../stores/memory.store.js';
import { LegacySessions } from './legacy-session.js';
import { SessionSealer } from './session-seal.js';
import type { SessionService } from '../session.service.js';
import { graphqlFailure } from '../integrations/session-transport.js';

/** Where a request keeps its session context, on the Node request both frameworks share. */
const kContext = Symbol('nestjs-sessionkit.context');

type RequestWithContext = { [kContext]?: SessionContext };

function isEmpty(data: Record<string, unknown>): boolean {
  for (const _ in data) return false;
  return true;
}

/** The request being handled, as `asyncContext` keeps it for `SessionService.current()`. */
export interface CurrentRequest {
  req: object;
  res: object;
}

/**
 * What the OpenTelemetry instrumentation leaves on the runtime (internal; kept free of
 * `@opentelemetry/api` types, so that the declarations need the optional package only where it is used).
 */
export interface SessionRuntimeTelemetry {
  /** Wraps the service's calls that reach the store in spans. */
  instrumentService(service: SessionService): void;
  /** Stops what the instrumentation keeps running (the live-session gauge). */
  shutdown(): void;
}

/**
 * Loads sessions from cookies and writes them back (internal): the lifecycle that the adapter
 * hooks, `req.session`, the guard, the decorator and `SessionService` share.
 */
export class SessionRuntime implements SessionHandleHost, SessionContextHost, SessionHttpHost, RequestSessionSource {
  private readonly logger = new Logger('SessionModule');
  private warnedUserType = false;
  readonly cookie: SessionCookie;
  /** The request being handled; only with `asyncContext: true`. */
  readonly requests: AsyncLocalStorage<CurrentRequest> | undefined;
  readonly onRequest: SessionHttpHost['onRequest'];
  /** Lifecycle events, for `SessionService.events$` and the `@nestjs/event-emitter` bridge. */
  readonly events = new SessionEvents();
  /** With `CookieStore`: seals sessions into their cookies, which then replace the store. */
  private readonly sealer: SessionSealer | undefined;
  private readonly maxCookieBytes: number;
  /** With the `legacy` option: adopts express-session sessions (lib/core/legacy-session.ts). */
  private readonly legacy: LegacySessions | undefined;
  /** Set by the OpenTelemetry instrumentation (see `instrumentedRuntime`). */
  telemetry: SessionRuntimeTelemetry | undefined;
  /**
   * Refuses a feature the store cannot do (ExpressSessionStore without `all()`), naming it. Bound
   * here to the store as given: the instrumentation may wrap `store` later.
   */
  readonly assertStoreSupports: (feature: 'listByUser' | 'destroyByUser' | 'maxSessionsPerUser') => void;

  constructor(
    readonly options: ResolvedSessionOptions,
    readonly store: SessionStore,
  ) {
    this.cookie = new SessionCookie(options);
    if (store instanceof CookieStore) {
      if (options.maxSessionsPerUser !== undefined) {
        throw new SessionStatelessError(
          'SessionModule: maxSessionsPerUser needs a store that knows every session of a user, and CookieStore keeps sessions only in browsers\' cookies. Remove maxSessionsPerUser, or use RedisStore, PostgresStore, MysqlStore or MemoryStore.',
        );
      }
      this.sealer = new SessionSealer(options.secrets, options.cookie.name);
    }
    this.assertStoreSupports = store instanceof ExpressSessionStore ? (feature) => store.assertSupports(feature) : () => undefined;
    if (options.maxSessionsPerUser !== undefined) this.assertStoreSupports('maxSessionsPerUser');
    this.maxCookieBytes = store instanceof CookieStore ? store.maxCookieBytes : 0;
    this.legacy = options.legacy === undefined ? undefined : new LegacySessions(options.legacy, this);
    const requests = options.asyncContext ? new AsyncLocalStorage<CurrentRequest>() : undefined;
    this.requests = requests;
    const { preload } = options;
    this.onRequest =
      !preload && requests === undefined
        ? undefined
        : (req, res, next) => {
            const go = requests === undefined ? next : () => requests.run({ req, res }, next);
            if (preload) this.contextOf(req, res).preload().then(go);
            else go();
          };
  }

  requestSession(req: object, res: object): object {
    return createRequestSession(this, req, res);
  }

  failure(error: unknown, context: { readonly request: object }): { status: number; body: object } {
    if (error instanceof HttpException) {
      const body = error.getResponse();
      const status = error.getStatus();
      return { status, body: graphqlFailure(context.request, status, error.message) ?? (typeof body === 'object' ? body : { statusCode: status, message: body }) };
    }
    this.logger.error(`The session could not be saved: ${error instanceof Error ? error.message : String(error)}`);
    return { status: 500, body: graphqlFailure(context.request, 500, 'Internal server error') ?? { statusCode: 500, message: 'Internal server error' } };
  }

  logLate(error: unknown): void {
    this.logger.error(`The session could not be saved after the response headers were sent; the connection was closed: ${error instanceof Error ? error.message : String(error)}`);
  }

  cookieInfo(session: SessionHandle | undefined): RequestSessionCookieInfo {
    const { path, domain, secure, httpOnly, sameSite, partitioned } = this.options.cookie;
    const persistent = session !== undefined && this.persistent(session);
    const maxAge = persistent ? Math.max(0, this.cookieMaxAge(session, this.remainingTtl(session, Date.now()))) : null;
    const chosen = session?.data[PERSIST_KEY];
    const originalMaxAge = persistent ? (typeof chosen === 'number' ? chosen : this.options.idleTimeout) : null;
    return { path, domain, secure, httpOnly, sameSite, partitioned, maxAge, originalMaxAge };
  }

  callbackFailed(req: object, res: object, error: unknown): void {
    if (!sessionHttp.failRequest(req, res, error)) {
      this.logger.error(`A callback given to req.session threw after the response was sent: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  sessionID(req: object): string {
    const session = this.contextIf(req)?.loaded;
    if (session === undefined) throw new SessionNotLoadedError('req.sessionID');
    return session.handle;
  }

  /** The record the store holds now under `handle`; a store failure becomes a 503. */
  async readRecord(handle: string): Promise<SessionRecord | undefined> {
    let record: SessionRecord | undefined;
    try {
      record = await this.store.get(handle);
    } catch (error) {
      throw this.storeFailure('read', error, handle);
    }
    return this.checked(record);
  }

  /** Refuses reserved keys and gives the data a null prototype, whatever the store returned. */
  private checked(record: SessionRecord | undefined): SessionRecord | undefined {
    if (record !== undefined) record.data = storedRecordData(record);
    return record;
  }

  /** The request's session context if anything used the session yet. */
  contextIf(req: object): SessionContext | undefined {
    // Looked up on the request first: an Express request is the Node request, where one lookup
    // finds it (Express gives its requests a new shape on every request, so that each property
    // read there misses V8's caches and costs thousands of instructions). A Fastify request,
    // whose lookups V8 caches, has none of its own: its Node request has.
    const context = (req as RequestWithContext)[kContext];
    if (context !== undefined) return context;
    const node = sessionHttp.nodeRequest(req);
    return node === req ? undefined : (node as RequestWithContext)[kContext];
  }

  /** The request's session context, created on first use. */
  contextOf(req: object, res: object): SessionContext {
    let context = (req as RequestWithContext)[kContext];
    if (context !== undefined) return context;
    const node = sessionHttp.nodeRequest(req) as RequestWithContext;
    if (node !== req) context = node[kContext];
    if (context === undefined) {
      context = node[kContext] = new SessionContext(this, req, res);
      sessionHttp.commitBeforeHeaders(context, this);
    }
    return context;
  }

  /** The request's session, loaded once per request however many callers ask. */
  load(req: object, res: object): Promise<SessionHandle> {
    return this.contextOf(req, res).load();
  }

  /** True with `CookieStore`: sessions live in their cookies only. */
  get stateless(): boolean {
    return this.sealer !== undefined;
  }

  /** Throws a {@link SessionStatelessError} for `what` when sessions live in their cookies only. */
  assertServerSide(what: string): void {
    if (this.sealer !== undefined) {
      throw new SessionStatelessError(
        `${what} needs sessions kept on the server, and CookieStore keeps each session only in its browser's cookie. Use RedisStore, PostgresStore, MysqlStore or MemoryStore for this.`,
      );
    }
  }

  /**
   * Reads the session the request's cookie names, or starts a new one (for {@link SessionContext});
   * with `legacy`, a new one may adopt an express-session session, unless `adopt` is false (a
   * socket message, which could carry neither the new cookie nor the clearing of the old one).
   */
  read(context: SessionContext, adopt = true): Promise<SessionHandle> {
    const legacy = this.legacy;
    // Without `legacy`, no extra step on the hot path.
    if (legacy === undefined || !adopt) return this.readOwn(context);
    return this.readOwn(context).then((session) => legacy.read(session, sessionHttp.cookieHeader(context.request)));
  }

  /**
   * {@link read} done before it returns, where it can be (see `SessionContextHost.readNow`): a
   * sealed cookie, a first visit, or a record from a store that reads at once (MemoryStore's own
   * `get`). Throws what `read` would reject with. `undefined`, with nothing read, for the rest:
   * sessions that may adopt an express-session session (`legacy`), stores that must be waited for,
   * and a store that declines to read at once (the instrumented store while it traces or times).
   */
  readNow(context: SessionContext): SessionHandle | undefined {
    if (this.legacy !== undefined) return undefined;
    // Checked before the cookie is verified, so that a store read later does not verify it twice.
    if (this.sealer === undefined && (this.store as SessionStore & ReadNowStore)[readNow] === undefined) return undefined;
    const read = this.readAtOnce(context);
    return read instanceof SessionHandle ? read : undefined;
  }

  private readOwn(context: SessionContext): Promise<SessionHandle> {
    // Only a read that must wait for the store gets an async frame: a first visit (no cookie)
    // and a store that reads at once (MemoryStore) get none.
    try {
      const read = this.readAtOnce(context);
      return read instanceof SessionHandle ? Promise.resolve(read) : this.readStored(context, read);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The request's session where it can be read at once (a sealed cookie, a first visit, a store
   * that reads at once), or else the verified cookie whose record must be read from the store.
   * Throws what a read rejects with.
   */
  private readAtOnce(context: SessionContext): SessionHandle | VerifiedCookie {
    if (this.sealer !== undefined) return this.readSealed(context, this.sealer);
    const header = sessionHttp.cookieHeader(context.request);
    const cookie = this.cookie.read(header);
    if (cookie === undefined) return this.fresh(context, this.cookie.carried(header) ? '' : undefined);
    const store = this.store as SessionStore & ReadNowStore;
    if (store[readNow] === undefined) return cookie;
    let stored: SessionRecord | undefined | null;
    try {
      stored = store[readNow](cookie.handle);
    } catch (error) {
      throw this.storeFailure('read', error, cookie.handle);
    }
    return stored === null ? cookie : this.found(context, cookie, stored);
  }

  /** The session the request's verified cookie names, read from the store. */
  private async readStored(context: SessionContext, cookie: VerifiedCookie): Promise<SessionHandle> {
    let stored: SessionRecord | undefined;
    try {
      stored = await this.store.get(cookie.handle);
    } catch (error) {
      throw this.storeFailure('read', error, cookie.handle);
    }
    return this.found(context, cookie, stored);
  }

  /** The request's session, given what the store holds under its cookie's handle. */
  private found(context: SessionContext, cookie: VerifiedCookie, stored: SessionRecord | undefined): SessionHandle {
    const handle = cookie.handle;
    const record = this.checked(stored);
    if (record === undefined) return this.fresh(context, handle);
    if (this.remainingTtl(record, Date.now()) <= 0) {
      // Expired by our clock even if the store still kept it: drop it and start afresh.
      this.store.destroy(handle).catch((error: unknown) => this.logFailure('destroy', error));
      this.events.emit({ type: 'expired', handle, user: record.user });
      return this.fresh(context, handle);
    }
    return new SessionHandle(this, context, cookie.id, handle, record, cookie.rotated);
  }

  /** A new session; `staleHandle`: what the request's cookie named, where no session was found (see `SessionHandle.staleHandle`). */
  private fresh(context: SessionContext, staleHandle?: string): SessionHandle {
    const id = newSessionId();
    const session = new SessionHandle(this, context, id, sessionHandle(id), undefined, true);
    session.staleHandle = staleHandle;
    return session;
  }

  /** The session sealed in the request's cookie, or a new one when there is none that opens. */
  private readSealed(context: SessionContext, sealer: SessionSealer): SessionHandle {
    const header = sessionHttp.cookieHeader(context.request);
    const opened = this.cookie.readSealed(header, (value) => sealer.open(value));
    if (opened === undefined) return this.fresh(context, this.cookie.carried(header) ? '' : undefined);
    const { id, record } = opened;
    const handle = sessionHandle(id);
    record.user = this.userOf(record.data);
    if (this.remainingTtl(record, Date.now()) <= 0) {
      this.events.emit({ type: 'expired', handle, user: record.user });
      const session = this.fresh(context);
      session.cookieToClear = true;
      return session;
    }
    return new SessionHandle(this, context, id, handle, record, opened.rotated);
  }

  /** The session's record as it was when the request came (for `reload()`): the store's, or its cookie's. */
  async reread(session: SessionHandle): Promise<SessionRecord | undefined> {
    if (this.sealer === undefined) return this.readRecord(session.handle);
    const sealer = this.sealer;
    const opened = this.cookie.readSealed(sessionHttp.cookieHeader(session.request), (value) => sealer.open(value));
    return opened !== undefined && sessionHandle(opened.id) === session.handle && this.remainingTtl(opened.record, Date.now()) > 0 ? opened.record : undefined;
  }

  /** Milliseconds the session may still live, by both timeouts. */
  remainingTtl(record: { createdAt: number; touchedAt: number }, now: number): number {
    const { idleTimeout, absoluteTimeout } = this.options;
    const idle = record.touchedAt + idleTimeout - now;
    return absoluteTimeout > 0 ? Math.min(idle, record.createdAt + absoluteTimeout - now) : idle;
  }

  async destroyInStore(handle: string): Promise<void> {
    // A session in a cookie goes when the cookie is cleared; there is nothing else to remove.
    if (this.sealer !== undefined) return;
    try {
      await this.store.destroy(handle);
    } catch (error) {
      throw this.storeFailure('write', error, handle);
    }
  }

  destroyed(session: SessionHandle): void {
    this.events.emit({ type: 'destroyed', handle: session.handle, user: this.userOf(session.data) });
  }

  /** Whether the session's cookie carries a `Max-Age`: its own `persist()` choice, or the module's. */
  private persistent(session: SessionHandle): boolean {
    const chosen = session.data[PERSIST_KEY];
    return typeof chosen === 'number' || typeof chosen === 'boolean' ? chosen !== false : this.options.cookie.persistent;
  }

  /** The cookie's `Max-Age` in ms: the session's remaining life, or less if `persist(ms)` asked for less. */
  private cookieMaxAge(session: SessionHandle, ttl: number): number {
    const chosen = session.data[PERSIST_KEY];
    return typeof chosen === 'number' ? Math.min(chosen, ttl) : ttl;
  }

  private issueCookie(session: SessionHandle, ttl: number): string {
    return this.cookie.issue(session.id, this.cookieMaxAge(session, ttl), this.persistent(session));
  }

  /** Writes what the request changed, if anything, and sets the cookie headers (through {@link SessionContext.flush}, which serializes commits). */
  commit(session: SessionHandle): Promise<void> {
    const legacy = this.legacy;
    if (legacy === undefined) return this.commitOwn(session);
    // Moving from express-session: the old record and cookie go once the new session is saved.
    return this.commitOwn(session).then(() => legacy.committed(session, (setCookie) => this.sendCookie(session.response, setCookie)));
  }

  private commitOwn(session: SessionHandle): Promise<void> {
    if (this.nothingToWrite(session)) {
      // What the full commit would end with, without its async frame (a read's commit).
      this.committed(session, undefined);
      return COMMITTED;
    }
    return this.commitChanges(session);
  }

  /**
   * {@link commit} done before it returns, where it can be (see `SessionContextHost.commitNow`):
   * into a store that writes at once (MemoryStore's own `patch` and `set`), a stored session's
   * changes, or a new session's first record, by the steps of {@link commitChanges} with no async
   * frame or promise between them. `undefined`, with nothing written, for the rest: sessions to
   * adopt from express-session (`legacy`), CookieStore, a regenerated session, a touch alone, a
   * login that must make room (`maxSessionsPerUser`), and a session gone meanwhile (the full commit
   * finds it gone as well, and ends it as `destroy()` does).
   */
  commitNow(session: SessionHandle): Promise<void> | undefined {
    if (this.legacy !== undefined) return undefined;
    const store = this.store as SessionStore & WriteNowStore;
    const now = Date.now();
    let setCookie: string | undefined;
    try {
      if (session.inStore) {
        if (session.untracked || store[patchNow] === undefined) return undefined;
        const patch = this.checkedPatch(session, now);
        if (patch === undefined || this.roomNeeded(patch.user, session.storedUser)) return undefined;
        const ttl = this.remainingTtl({ createdAt: session.createdAt, touchedAt: now }, now);
        if (store[patchNow](session.handle, patch, ttl) !== true) return undefined;
        setCookie = this.storedCookie(session, this.patched(session, patch, now, ttl), ttl);
      } else {
        // As writeNew() for a session that was not regenerated and has something to keep.
        if (session.movedFrom !== undefined || isEmpty(session.data) || store[setNow] === undefined) return undefined;
        const record = this.fullRecord(session, now);
        const ttl = this.remainingTtl(record, now);
        if (ttl <= 0) return undefined;
        assertSavedSize(session.data, Object.keys(session.data), this.options.maxSessionBytes);
        if (this.roomNeeded(record.user, undefined) || store[setNow](session.handle, record, ttl) === null) return undefined;
        this.events.emit({ type: 'created', handle: session.handle, user: record.user });
        setCookie = this.stored(session, record, now, ttl);
      }
    } catch (error) {
      return Promise.reject(this.commitFailure(error, session));
    }
    try {
      this.committed(session, setCookie);
    } catch (error) {
      return Promise.reject(error);
    }
    return COMMITTED;
  }

  /**
   * True when a commit would write nothing and send no cookie: a stored session the request did
   * not change, with no touch due and its cookie current (a sealed one not past its expiry, which
   * lives in the cookie), or a new one left empty with nothing to clear.
   */
  private nothingToWrite(session: SessionHandle): boolean {
    if (session.inStore) {
      if (!session.untracked || session.touchRequested || session.cookieStale) return false;
      const now = Date.now();
      return now - session.touchedAt < this.options.touchInterval && (this.sealer === undefined || this.remainingTtl(session, now) > 0);
    }
    return session.movedFrom === undefined && !session.cookieToClear && isEmpty(session.data);
  }

  private async commitChanges(session: SessionHandle): Promise<void> {
    if (this.sealer !== undefined) return this.commitSealed(session, this.sealer);
    const now = Date.now();
    let setCookie: string | undefined;
    try {
      if (!session.inStore) {
        setCookie = await this.writeNew(session, now);
      } else {
        const patch = this.checkedPatch(session, now);
        const ttl = this.remainingTtl({ createdAt: session.createdAt, touchedAt: now }, now);
        let refresh: string | undefined;
        if (patch !== undefined) {
          if (this.roomNeeded(patch.user, session.storedUser)) await this.makeRoomForLogin(patch.user, session);
          if (this.store.patch) {
            // false: destroyed or expired meanwhile; it must stay gone. The handle goes on as after
            // destroy() (new id, no data, cookie cleared), so a later commit of this request
            // (save() then the response's own commit) cannot write it back with set().
            if (!(await this.store.patch(session.handle, patch, ttl))) {
              session.inStore = false;
              session.staleHandle = undefined;
              await session.destroy();
            }
          } else {
            await this.store.set(session.handle, this.fullRecord(session, now), ttl);
          }
          refresh = this.patched(session, patch, now, ttl);
        } else if (session.touchRequested || now - session.touchedAt >= this.options.touchInterval) {
          const record = this.fullRecord(session, now);
          if (this.store.touch) await this.store.touch(session.handle, record, ttl);
          else await this.store.set(session.handle, record, ttl);
          session.touchedAt = now;
          if (this.persistent(session)) refresh = this.issueCookie(session, ttl);
        }
        setCookie = this.storedCookie(session, refresh, ttl);
      }
    } catch (error) {
      throw this.commitFailure(error, session);
    }
    this.committed(session, setCookie);
  }

  /** What the request changed in a stored session, checked against `maxSessionBytes`, or `undefined` if nothing. */
  private checkedPatch(session: SessionHandle, now: number): SessionPatch | undefined {
    const patch = this.buildPatch(session, now);
    if (patch !== undefined && !isEmpty(patch.set)) assertSavedSize(session.data, Object.keys(patch.set), this.options.maxSessionBytes);
    return patch;
  }

  /** True when a patch logging the session in as `user` must first make room for it under `maxSessionsPerUser`. */
  private roomNeeded(user: string | null | undefined, storedUser: string | undefined): user is string {
    return typeof user === 'string' && user !== storedUser && this.options.maxSessionsPerUser !== undefined;
  }

  /** Notes a patch as written (unless the session was gone); returns the cookie that refreshes a persistent cookie's Max-Age. */
  private patched(session: SessionHandle, patch: SessionPatch, now: number, ttl: number): string | undefined {
    if (session.inStore && patch.user !== undefined) session.storedUser = patch.user ?? undefined;
    session.touchedAt = now;
    // The expiry moved with the write: a persistent cookie must move with it.
    return session.inStore && this.persistent(session) ? this.issueCookie(session, ttl) : undefined;
  }

  /**
   * The cookie to send after a stored session's commit, given `refresh`, the one that refreshes
   * the Max-Age of the cookie the browser holds: a new cookie when the old one is stale, a clearing
   * one when the session is gone.
   */
  private storedCookie(session: SessionHandle, refresh: string | undefined, ttl: number): string | undefined {
    if (session.cookieStale && session.inStore) return this.issueCookie(session, ttl);
    if (!session.inStore && session.cookieToClear) return this.cookie.clear();
    // After the headers left (a streamed body), a refresh is skipped: the browser's cookie still
    // names the session, and the store has the new expiry; the next response carries the cookie.
    return refresh !== undefined && sessionHttp.headersSent(session.response) ? undefined : refresh;
  }

  /** What a failed commit rejects with: a value refused or too large as it is, anything else as the store's failure. */
  private commitFailure(error: unknown, session: SessionHandle): unknown {
    if (error instanceof SessionValueError || error instanceof SessionTooLargeError) return error;
    return this.storeFailure('write', error, session.handle);
  }

  /** Resets what the request changed, now saved, and sends the cookie if it changed. */
  private committed(session: SessionHandle, setCookie: string | undefined): void {
    session.resetTracking();
    session.cleared = false;
    session.touchRequested = false;
    session.cookieStale = false;
    if (setCookie !== undefined) {
      session.cookieToClear = false;
      this.sendCookie(session.response, setCookie);
    }
  }

  /**
   * True when {@link commit} would write nothing and send no cookie now: the hooks before the
   * headers then let the response go at once, and the interceptor passes the handler's result on.
   * Errs towards false (a commit then finds nothing to do).
   */
  settled(session: SessionHandle): boolean {
    // Moving from express-session: a commit may still have the old record and cookie to drop.
    return this.legacy === undefined && this.nothingToWrite(session);
  }

  /** True when the request changed `session` (for sockets, which cannot save a sealed session). */
  hasChanges(session: SessionHandle): boolean {
    return session.inStore ? this.buildPatch(session, Date.now()) !== undefined : !isEmpty(session.data);
  }

  /**
   * With `CookieStore`: seals the whole session into a new cookie when anything changed, the
   * cookie is stale (new id, older secret, `persist()`) or a touch is due, since the idle expiry
   * lives inside the ciphertext. A cookie over `maxCookieBytes` fails before any header is sent.
   */
  private async commitSealed(session: SessionHandle, sealer: SessionSealer): Promise<void> {
    const now = Date.now();
    let setCookie: string | undefined;
    if (session.inStore && this.remainingTtl(session, now) <= 0) {
      // Expired while the request ran: it ends as a stored session that expired would, with its
      // data dropped and its cookie cleared, never sealed again under a fresh expiry.
      session.inStore = false;
      this.events.emit({ type: 'expired', handle: session.handle, user: session.storedUser });
      await session.destroy();
    }
    const empty = isEmpty(session.data);
    const changed =
      session.cookieStale ||
      session.touchRequested ||
      (!session.inStore && !empty) ||
      (session.inStore && this.buildPatch(session, now) !== undefined);
    // A touch that falls due after the headers left (a long stream) waits for the next response:
    // the cookie the browser holds is still valid.
    const due = changed || (now - session.touchedAt >= this.options.touchInterval && !sessionHttp.headersSent(session.response));
    if (due && !(empty && !session.inStore)) {
      const record = this.fullRecord(session, now);
      const ttl = this.remainingTtl(record, now);
      if (ttl > 0) {
        assertSavedSize(session.data, session.changed, this.options.maxSessionBytes);
        setCookie = this.cookie.issueValue(sealer.seal(session.id, record), this.cookieMaxAge(session, ttl), this.persistent(session));
        const size = Buffer.byteLength(setCookie, 'utf8');
        if (size > this.maxCookieBytes) throw new SessionCookieTooLargeError(size, this.maxCookieBytes);
        if (!session.inStore) {
          const from = session.movedFrom;
          this.events.emit(from === undefined ? { type: 'created', handle: session.handle, user: record.user } : { type: 'regenerated', handle: session.handle, previousHandle: from, user: record.user });
        }
        session.inStore = true;
        session.movedFrom = undefined;
        session.storedUser = record.user;
        session.touchedAt = now;
      } else {
        // Past its absolute timeout: the session ends here.
        session.inStore = false;
        session.cookieToClear = true;
      }
    }
    if (setCookie === undefined && session.cookieToClear && !session.inStore) setCookie = this.cookie.clear();
    this.committed(session, setCookie);
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
    assertSavedSize(session.data, Object.keys(session.data), this.options.maxSessionBytes);
    if (this.roomNeeded(record.user, from === undefined ? undefined : session.storedUser)) await this.makeRoomForLogin(record.user, session);
    if (from === undefined) {
      await this.store.set(session.handle, record, ttl);
      this.events.emit({ type: 'created', handle: session.handle, user: record.user });
    } else {
      const moved = await this.move(from, session.handle, record, ttl);
      session.movedFrom = undefined;
      if (!moved) {
        // Destroyed meanwhile (a logout, destroyByUser): it stays destroyed, under either id, and
        // the handle goes on as after destroy(), so a later commit of this request writes nothing.
        session.cookieToClear = true;
        session.staleHandle = undefined;
        await session.destroy();
        return this.cookie.clear();
      }
      this.events.emit({ type: 'regenerated', handle: session.handle, previousHandle: from, user: record.user });
    }
    return this.stored(session, record, now, ttl);
  }

  /** Notes a session's first record under its handle as written; returns its cookie. */
  private stored(session: SessionHandle, record: SessionRecord, now: number, ttl: number): string {
    session.inStore = true;
    session.storedUser = record.user;
    session.touchedAt = now;
    return this.issueCookie(session, ttl);
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
      throw new SessionResponseSentError();
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

  /** The user a session's data is logged in as: the string form of the value at `authKey`. */
  private userOf(data: Record<string, unknown>): string | undefined {
    return this.userFrom(data[this.options.authPath[0]!]);
  }

  /**
   * The user, given the value of `authKey`'s first key (the rest of the path is walked down from
   * it): a non-empty string as it is, a number as its decimal form, anything else none.
   */
  userFrom(first: unknown): string | undefined {
    const path = this.options.authPath;
    let value = first;
    for (let i = 1; i < path.length && value !== undefined; i++) {
      value = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, path[i]!) ? (value as Record<string, unknown>)[path[i]!] : undefined;
    }
    if (typeof value === 'string') return value === '' ? undefined : value;
    if (typeof value === 'number') return this.userKey(value);
    if (value !== undefined && value !== null && !this.warnedUserType) {
      // A whole user object (Passport's serializeUser giving `user`) would never match listByUser(id).
      this.warnedUserType = true;
      this.logger.warn(
        `The session value at authKey "${this.options.authKey}" is ${Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not a user id (a string or a number): such a session counts as logged out (SessionGuard refuses it, and it is not indexed by user). Keep the user's id there (with Passport: serializeUser calls done(null, user.id)).`,
      );
    }
    return undefined;
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
    if (session.untracked) return undefined;
    // Read without making the collections the request never used.
    const { data, changedKeys, incrementsByKey, watchedJson } = session;
    let dirty = session.cleared || (changedKeys?.size ?? 0) > 0 || (incrementsByKey?.size ?? 0) > 0;
    const set = emptySessionData();
    const unset: string[] = [];
    if (changedKeys !== undefined) {
      for (const key of changedKeys) {
        if (key in data) {
          const value = data[key];
          // Re-checked: an object may have been changed in place after set().
          if (value !== null && typeof value === 'object') assertStorable(key, value);
          set[key] = value;
        } else unset.push(key);
      }
    }
    if (watchedJson !== undefined) {
      for (const [key, before] of watchedJson) {
        const value = data[key];
        assertStorable(key, value);
        if (JSON.stringify(value) !== before) {
          set[key] = value;
          dirty = true;
        }
      }
    }
    if (!dirty) return undefined;
    const incr: Record<string, number> = {};
    // forEach: no entry array per key (increment() refused reserved keys, so plain assignment is safe).
    incrementsByKey?.forEach((by, key) => {
      incr[key] = by;
    });
    const patch: SessionPatch = { clear: session.cleared, set, unset, incr, touchedAt: now };
    // The user changes with the top key of authKey's path, set, removed or changed in place.
    const authTop = this.options.authPath[0]!;
    if (session.cleared || authTop in set || unset.includes(authTop)) patch.user = this.userOf(data) ?? null;
    return patch;
  }

  storeFailure(operation: 'read' | 'write', error: unknown, handle?: string): SessionStoreUnavailableException {
    this.logFailure(operation, error);
    this.events.emit({ type: 'store-error', handle, operation, error });
    return new SessionStoreUnavailableException(operation, { cause: error });
  }

  private logFailure(operation: string, error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.error(`Session store ${operation} failed: ${reason}`);
  }
}
