import type { Type } from '@nestjs/common';
import type { SessionStore } from './stores/session-store.interface.js';
import type { ExpressSessionStoreLike } from './stores/express-session.store.js';
import type { SessionLockOptions } from './core/session-lock.js';

/** Attributes of the session cookie. */
export interface SessionCookieOptions {
  /**
   * Cookie name. A name starting with `__Host-` forces `Secure`, `Path=/` and no `Domain`, one
   * starting with `__Secure-` forces `Secure` (either prefix in any case, as browsers read them);
   * options that conflict with that are refused at startup.
   * @defaultValue `'sid'`
   */
  name?: string;
  /** `Path` attribute. @defaultValue `'/'` */
  path?: string;
  /** `Domain` attribute. @defaultValue none: the cookie goes back only to the host that set it */
  domain?: string;
  /**
   * `Secure` attribute: the browser sends the cookie over HTTPS only. Turn it off for plain-HTTP
   * development only.
   * @defaultValue `true`
   */
  secure?: boolean;
  /** `HttpOnly` attribute: page scripts cannot read the cookie. @defaultValue `true` */
  httpOnly?: boolean;
  /** `SameSite` attribute: `'lax'`, `'strict'` or `'none'` (`'none'` needs `secure`). @defaultValue `'lax'` */
  sameSite?: 'lax' | 'strict' | 'none';
  /** `Partitioned` attribute (CHIPS); needs `secure`. @defaultValue `false` */
  partitioned?: boolean;
  /**
   * Make the cookie outlive the browser session: it is sent with `Max-Age` equal to the time the
   * session has left, and re-sent whenever the server extends the session.
   * @defaultValue `false`: a browser-session cookie; the server enforces the timeouts either way
   */
  persistent?: boolean;
}

/** Where {@link CsrfGuard} looks for the CSRF token of an unsafe request. */
export interface SessionCsrfOptions {
  /** Request header carrying the token (JSON clients, `fetch`). @defaultValue `'x-csrf-token'` */
  headerName?: string;
  /** Body field carrying the token (HTML forms). @defaultValue `'_csrf'` */
  fieldName?: string;
}

/**
 * The express-session setup an app moves from, for {@link SessionModuleOptions.legacy}: its
 * sessions are taken over on their next request, so nobody is logged out by the move.
 */
export interface SessionLegacyOptions {
  /**
   * The express-session store the old app used (connect-redis, connect-pg-simple, connect-mongo,
   * ...), on the same server and with the same prefix or table. Read for a request with a valid
   * old cookie and no live session of ours; the adopted record is destroyed from it.
   */
  store: ExpressSessionStoreLike;
  /**
   * The old app's `secret`, as express-session took it: a string, or a list of which every one
   * verifies. Used only to verify old cookies, never to sign.
   */
  secret: string | string[];
  /** The old app's cookie name (express-session's `name`). @defaultValue `'connect.sid'` */
  cookieName?: string;
  /** The old cookie's `Path`, so that clearing it reaches it. @defaultValue `'/'` */
  cookiePath?: string;
  /** The old cookie's `Domain`, so that clearing it reaches it. @defaultValue none (the old cookie had no `Domain`) */
  cookieDomain?: string;
}

/**
 * OpenTelemetry spans and metrics of the session layer. They are made only when the app has
 * `@opentelemetry/api` installed and has started an OpenTelemetry SDK before creating the Nest app;
 * otherwise nothing is recorded and nothing is measurably slower. No attribute ever holds a
 * session id or session data.
 */
export interface SessionTelemetryOptions {
  /** Set to `false` to make no spans and no metrics even when an SDK is running. @defaultValue `true` */
  enabled?: boolean;
  /**
   * Add the session's handle (the one-way hash of its id that stores key by, also shown by
   * `SessionService.listByUser`) to spans as `session.handle`, to follow one session across
   * traces. Never the id itself.
   * @defaultValue `false`
   */
  includeHandle?: boolean;
  /**
   * Report the number of live sessions (the `session.live` gauge) with stores where counting costs
   * a query: the store's `countSessions()` runs at every metric collection (`RedisStore`: a `SCAN` of its
   * keys; `PostgresStore` and `MysqlStore`: a `COUNT(*)`). `MemoryStore` is always counted: it costs nothing.
   * @defaultValue `false`
   */
  countSessions?: boolean;
}

/** Options of `SessionModule.forRoot()` and of the factory of `forRootAsync()`. */
export interface SessionModuleOptions {
  /**
   * Secret(s) used to sign the session cookie with HMAC-SHA256, each random, at least 32 bytes
   * (UTF-8) and of at least 8 distinct characters: `openssl rand -base64 48` makes a good one.
   * The first signs; all verify. To rotate, put the new secret first and keep the old one
   * until the sessions it signed have expired: their cookies are re-issued under the new one.
   * With `CookieStore`, the same list gives the encryption keys, and rotation works the same way.
   */
  secret: string | string[];
  /**
   * Where sessions are kept: an instance, or a class that Nest builds with dependency injection.
   * A class store is closed on shutdown; an instance you pass is yours to close. `CookieStore`
   * keeps no server-side state: the session lives in its encrypted cookie.
   * @defaultValue a new {@link MemoryStore} (one process only; closed on shutdown)
   */
  store?: SessionStore | Type<SessionStore>;
  /** Cookie attributes. @defaultValue `{ name: 'sid', path: '/', secure: true, httpOnly: true, sameSite: 'lax' }` */
  cookie?: SessionCookieOptions;
  /**
   * A session not used for this long (milliseconds) expires, enforced on the server.
   * @defaultValue `86_400_000` (24 hours)
   */
  idleTimeout?: number;
  /**
   * A session older than this (milliseconds since it was created) expires, however active.
   * `regenerate()` does not reset it. Use `0` for no absolute limit.
   * @defaultValue `604_800_000` (7 days)
   */
  absoluteTimeout?: number;
  /**
   * A request that changes nothing extends the idle expiry by writing to the store at most once
   * per this many milliseconds. Must be less than `idleTimeout`.
   * @defaultValue `60_000`, or a tenth of `idleTimeout` if that is less
   */
  touchInterval?: number;
  /**
   * Where the session keeps the logged-in user's id: a session key (`'userId'`), or a path of
   * keys separated by dots (`'passport.user'`, where Passport keeps the id its serializer
   * returns). A dot always separates keys, so a key that itself contains a dot cannot be named
   * here. The value there makes the session logged in when it is a non-empty string or a number
   * (`42` and `'42'` are the same user); anything else (absent, `null`, `''`, an object, a
   * boolean) counts as not logged in, and an object or boolean also logs a warning once.
   * `SessionGuard`, the per-user index of the stores (`SessionService.listByUser`,
   * `destroyByUser`), `maxSessionsPerUser` and the `user` of session events all read it.
   * @defaultValue `'userId'`
   */
  authKey?: string;
  /**
   * Load the session named by a valid cookie before any middleware of the app runs, so
   * `req.session` can be read synchronously everywhere: needed by `passport.session()`. Costs one
   * store read for every request that carries a session cookie (and a little work on the others),
   * whether the route uses the session or not.
   * Without it the session loads on first use; `req.session.x = 1` is accepted at any time, and a
   * synchronous read before anything loaded the session throws an error saying what to do.
   * @defaultValue `false`
   */
  preload?: boolean;
  /**
   * Keep the current request in an `AsyncLocalStorage`, so `SessionService.current()` works from
   * any provider without an `ExecutionContext`. Costs every request of the app, session or not,
   * an async context switch (a few percent of a bare Fastify app's throughput on Node 20; see
   * docs/lifecycle.md); off, `current()` rejects with an error naming this option.
   * @defaultValue `false`
   */
  asyncContext?: boolean;
  /**
   * The largest a session's data may grow, in bytes of its JSON: a `set()` past it throws a
   * `SessionTooLargeError` naming the key, leaving the session unchanged; a value grown in place
   * past it fails the save. `0` for no limit.
   * @defaultValue `65_536` (64 KiB)
   */
  maxSessionBytes?: number;
  /** Where `CsrfGuard` reads the token. @defaultValue `{ headerName: 'x-csrf-token', fieldName: '_csrf' }` */
  csrf?: SessionCsrfOptions;
  /**
   * The most sessions one user may hold at once. When a login (a session getting an `authKey`
   * value) would exceed it, that user's oldest sessions (by creation time) are destroyed first,
   * so `maxSessionsPerUser: 1` keeps one session per user. Needs a store with `listByUser`
   * (`MemoryStore`, `RedisStore`, `PostgresStore`, `MysqlStore`, and `ExpressSessionStore` over a store with `all()`, have it; with other stores it is not
   * enforced; with `CookieStore`, or an `ExpressSessionStore` whose store has no `all()`, the app
   * does not start), and costs
   * one `listByUser` per login.
   * @defaultValue none: no limit
   */
  maxSessionsPerUser?: number;
  /**
   * Move from express-session without logging anyone out: a request that has no live session of
   * ours but a valid express-session cookie (signed with `legacy.secret`) whose record is in
   * `legacy.store` gets a new session of ours holding that data (a Passport login included),
   * under a new id; once it is saved, the old record is destroyed and the old cookie cleared.
   * Remove the option once the old app's cookie `maxAge` has passed since the move. Costs nothing
   * to requests without an old cookie, and nothing to routes that do not use the session.
   * See "Moving a live app" in the README.
   * @defaultValue none: old cookies are ignored
   */
  legacy?: SessionLegacyOptions;
  /**
   * OpenTelemetry spans and metrics (with `@opentelemetry/api` installed and an SDK started): see
   * {@link SessionTelemetryOptions}.
   * @defaultValue `{ enabled: true, includeHandle: false, countSessions: false }`
   */
  telemetry?: SessionTelemetryOptions;
  /**
   * Register `SessionInterceptor` as a global interceptor (`APP_INTERCEPTOR`): it commits a
   * handler's session through Nest's pipeline as soon as the handler's result is ready, so a store
   * failure on save reaches the app's exception filters (an HTTP `SessionStoreUnavailableException`,
   * 503), and it saves what every WebSocket gateway handler changed before its reply, however the
   * handler reached the session (`@Session()`, `SessionService.current()`, `load()`). `false` leaves
   * it out: the hooks before the response headers then save every HTTP request on their own (a
   * store failure on save is answered with the library's fixed 503 JSON body, which exception
   * filters never see), and only `@SubscribeMessage()` handlers that take `@Session()` save theirs.
   * On a route that never uses the session the interceptor costs about as much as any no-op global
   * interceptor (see the README for figures).
   * @defaultValue `true`
   */
  globalInterceptor?: boolean;
  /**
   * Defaults of `@SessionLock()`: how long a request waits for its session's lock (`waitMs`), and
   * how long a lock outlives a crashed instance (`ttlMs`, renewed while the request runs). Only
   * handlers marked `@SessionLock()` take a lock.
   * @defaultValue `{ waitMs: 10_000, ttlMs: 30_000 }`
   */
  lock?: SessionLockOptions;
}
