import { ConflictException, ServiceUnavailableException } from '@nestjs/common';

/**
 * The session store failed or did not answer in time. Nest answers `503 Service Unavailable`;
 * the request's changes were not saved and the handler did not run with an empty session.
 */
export class SessionStoreUnavailableException extends ServiceUnavailableException {
  constructor(operation: 'read' | 'write', options?: { cause?: unknown }) {
    super(
      `The session store could not ${operation === 'read' ? 'load' : 'save'} the session. Please try again shortly.`,
      { cause: options?.cause, description: 'Session store unavailable' },
    );
  }
}

/**
 * A `@SessionLock()` request waited `waitMs` for its session's lock, held all that time by other
 * requests of the same session. Nest answers `409 Conflict`; the request did not run, and nothing
 * of the session changed.
 */
export class SessionBusyException extends ConflictException {
  constructor(waitMs: number) {
    super(
      `The session is busy: other requests of this session held its lock for more than ${waitMs} ms. Nothing was changed; please try again.`,
      { description: 'Session busy' },
    );
  }
}

/**
 * A `@SessionLock()` request outlived its lock (it ran past the lock's `ttlMs` and the lock could
 * not be renewed, so another request may hold it now): its changes to the session were not saved,
 * lest they overwrite the newer holder's. Nest answers `503 Service Unavailable`.
 */
export class SessionLockLostException extends ServiceUnavailableException {
  constructor() {
    super(
      "This request outlived its session lock (it ran longer than the lock's ttlMs and the lock could not be renewed), so its changes to the session were not saved: another request of the session may hold the lock now. Please try again; if it keeps happening, raise ttlMs in @SessionLock() or SessionModule.forRoot({ lock }).",
      { description: 'Session lock lost' },
    );
  }
}

/** Base class of the library's errors that are not HTTP answers: catch it to handle them all. */
export class SessionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The session changed after the response headers had left, so the change could not reach the
 * client (a new cookie) or was made too late to be saved.
 */
export class SessionResponseSentError extends SessionError {
  constructor() {
    super(
      'The session was changed after the response headers were sent, so the change cannot be saved. Change the session before sending the response (before the first write of a streamed response).',
    );
  }
}

/**
 * `req.session` was read synchronously before anything loaded the session. Raised instead of
 * answering with an empty value that would look like a logged-out user.
 */
export class SessionNotLoadedError extends SessionError {
  constructor(what: string) {
    super(
      `${what.startsWith('req.') ? what : `req.session.${what}`} was read before the session was loaded. Set \`preload: true\` in SessionModule.forRoot() to load it before the app's middleware runs (needed for passport.session()), or read it through @Session() in a handler, \`await sessionService.load(context)\` in a guard, interceptor or filter, or \`await sessionService.current()\` from any provider (that one needs \`asyncContext: true\` in SessionModule.forRoot()).`,
    );
  }
}

/** `SessionService.current()` was called where no request is being handled, or without `asyncContext`. */
export class SessionContextError extends SessionError {}

/**
 * A change would make the session's data larger than `maxSessionBytes`. Thrown by `set()` (the
 * session is left unchanged) or by the save of a value grown in place (nothing is written).
 */
export class SessionTooLargeError extends SessionError {
  constructor(
    /** The key whose value made the session too large. */
    readonly key: string,
    /** The size the session's data would have, in bytes of JSON. */
    readonly size: number,
    /** The `maxSessionBytes` limit. */
    readonly limit: number,
  ) {
    super(
      `Session value "${key}" would make the session ${size} bytes, over maxSessionBytes (${limit}); the session was left unchanged. Keep large data elsewhere (a database row, a cache) and store its id in the session, or raise maxSessionBytes.`,
    );
  }
}

/**
 * A handle method (`get`, `set`, ...) was called on `req.session`: the parameter was injected by
 * Nest's own `@Session()` from `@nestjs/common` rather than the library's.
 */
export class SessionWrongDecoratorError extends SessionError {
  constructor(method: string) {
    super(
      `session.${method}() was called on req.session, which is what Nest's own @Session() from @nestjs/common injects. Import the decorator from the library instead: import { Session } from 'nestjs-sessionkit'.`,
    );
  }
}

/**
 * An API that needs sessions kept on the server was called with `CookieStore`, which keeps each
 * session only in its browser's cookie: revoking another session, listing a user's sessions,
 * `maxSessionsPerUser`, or changing a session from a WebSocket message (no response to carry the cookie).
 */
export class SessionStatelessError extends SessionError {}

/**
 * With `CookieStore`: the session would make its `Set-Cookie` header larger than browsers keep.
 * Raised before any header is sent, so the request fails and the browser keeps its previous,
 * still valid cookie.
 */
export class SessionCookieTooLargeError extends SessionError {
  constructor(
    /** Bytes the `Set-Cookie` header would have had. */
    readonly size: number,
    /** The `maxCookieBytes` limit of the `CookieStore`. */
    readonly limit: number,
  ) {
    super(
      `The session would make its cookie ${size} bytes, over the ${limit}-byte limit (CookieStore keeps the whole session, encrypted, in the cookie); nothing was saved and the browser keeps its previous cookie. Store less in the session (ids rather than whole objects), or use a server-side store (MemoryStore, RedisStore, PostgresStore, MysqlStore).`,
    );
  }
}

/**
 * A feature needs something the store cannot do: with `ExpressSessionStore`, listing a user's
 * sessions (`listByUser`, `destroyByUser`, `maxSessionsPerUser`) over a wrapped store without
 * `all()`. The message names the feature, the reason and the way out.
 */
export class SessionStoreCapabilityError extends SessionError {}

/**
 * `req.session.reload()` found the session gone from the store: destroyed (a logout elsewhere,
 * `destroyByUser`) or expired since the request began. The session was left as it was.
 */
export class SessionGoneError extends SessionError {
  constructor() {
    super(
      'failed to load session: it is no longer in the store (destroyed or expired since this request began), so reload() had nothing to read. Treat the user as logged out; req.session.regenerate() starts a new session.',
    );
  }
}

/**
 * A cookie attribute the module fixes for every session (`httpOnly`, `secure`, `sameSite`,
 * `domain`, `path`, ...) was assigned through `req.session.cookie`, or a lifetime that cannot be
 * applied (`maxAge` of zero or less, an `expires` in the past) was given.
 */
export class SessionCookieOptionError extends SessionError {}
