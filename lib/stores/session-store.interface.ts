/**
 * The data of one session as a store keeps it.
 *
 * Values in `data` are plain JSON data (the core refuses anything else at `set()`), so a
 * store may serialize them with `JSON.stringify` and must give back an equal record.
 */
export interface SessionRecord {
  /** The session's values, by key. Plain JSON data only. */
  data: Record<string, unknown>;
  /** When the session was created (epoch milliseconds); `absoluteTimeout` counts from here. */
  createdAt: number;
  /** When the session was last written or touched (epoch milliseconds); `idleTimeout` counts from here. */
  touchedAt: number;
  /**
   * The user the session is logged in as: the string form of its user id at `authKey` (`42` is
   * `'42'`), when it holds one. Stores that keep a per-user index use it; others may ignore it.
   */
  user?: string;
}

/**
 * A partial, atomic change to an existing session, built by the core from what one request changed.
 *
 * A store applies it in this order: `clear`, `unset`, `set`, `incr`; then it sets `touchedAt`,
 * `user` (when present) and the expiry.
 */
export interface SessionPatch {
  /** Remove every value before applying the rest (the handler called `clear()`). */
  clear: boolean;
  /** Keys to write, with their new values. */
  set: Record<string, unknown>;
  /** Keys to remove. */
  unset: string[];
  /** Keys to add a number to, atomically (a missing or non-number value counts as 0). */
  incr: Record<string, number>;
  /** The new `touchedAt`. */
  touchedAt: number;
  /** The new per-user value: a string, `null` when the `authKey` value was removed, absent when unchanged. */
  user?: string | null;
}

/**
 * How long (milliseconds) the built-in stores keep a forwarding record after a move (see
 * `SessionStore.forwardingTtl`): long enough for a logout sent during a slow login to arrive,
 * short enough that a stale cookie soon stops reaching anything.
 */
export const FORWARDING_TTL_MS = 10_000;

/** One session of a user, as {@link SessionStore.listByUser} reports it. */
export interface SessionStoreUserEntry {
  /** The store handle of the session (not the secret session id). */
  handle: string;
  /** Creation time, epoch milliseconds. */
  createdAt: number;
  /** Last time the session was written or touched, epoch milliseconds. */
  touchedAt: number;
}

/** What {@link SessionStore.lock} is asked for. */
export interface SessionStoreLockRequest {
  /** How long the lock lives unless renewed (milliseconds): what a crashed holder blocks the session for. */
  ttlMs: number;
  /** How long to wait for a lock someone else holds (milliseconds); `0` tries once. */
  waitMs: number;
  /** Aborted when the waiter gives up early (its client disconnected): stop waiting and resolve `undefined`. */
  signal?: AbortSignal;
}

/**
 * One holder's lock on one session, as {@link SessionStore.lock} hands it out. Everything it does
 * is checked against the holder's own token, so a holder whose lock expired and was taken by
 * another can neither extend nor free the new holder's lock.
 */
export interface SessionStoreLease {
  /**
   * Extends the lock to `ttlMs` from now, only if this lease still holds it. Resolves `false`,
   * changing nothing, when it does not (it expired, and maybe another holder took it).
   */
  renew(ttlMs: number): Promise<boolean>;
  /** Frees the lock if this lease still holds it (the next waiter gets it); never frees another holder's. */
  release(): Promise<void>;
}

/**
 * What a session store must do. Write one to keep sessions anywhere (a SQL table, a document
 * database) and give it to `SessionModule` as `store`, an instance or a class Nest builds with DI.
 *
 * Every `handle` a store receives is an opaque string derived from the session id by a one-way
 * hash: the secret id in the cookie never reaches the store, so a copy of the store's data
 * cannot be used to take over live sessions.
 *
 * Guarantees the core gives only when the store implements {@link SessionStore.patch} and
 * {@link SessionStore.move}: two parallel requests that change different keys of one session
 * both keep their change, and a request still running when its session is destroyed cannot bring
 * the session back, not even by `regenerate()`. Without `patch`, the core writes the whole record
 * with `set`, and the last writer wins; without `move`, see there.
 *
 * A store reports failure by rejecting: the core answers 503 and never runs a handler with an
 * empty session in place of an unreadable one.
 */
export interface SessionStore {
  /** The record for `handle`, or `undefined` if there is none or it has expired. */
  get(handle: string): Promise<SessionRecord | undefined>;
  /** Stores `record` under `handle` for `ttlMs` milliseconds, replacing any record there. */
  set(handle: string, record: SessionRecord, ttlMs: number): Promise<void>;
  /**
   * Removes the record for `handle`. Removing a missing record is not an error. When `handle`
   * holds a forwarding record (see {@link SessionStore.forwardingTtl}), removes it and the session
   * it names too, whatever handle that session has moved on to since.
   */
  destroy(handle: string): Promise<void>;
  /**
   * Extends the life of an unchanged session to `ttlMs` and sets its `touchedAt` to
   * `record.touchedAt`, only if the record still exists (it must not recreate a destroyed
   * session). Optional: the core falls back to `set` when it is absent.
   */
  touch?(handle: string, record: SessionRecord, ttlMs: number): Promise<void>;
  /**
   * Applies `patch` to the record for `handle` atomically and sets its life to `ttlMs`, only if
   * that record still exists. Resolves `false`, changing nothing, when it does not (destroyed or
   * expired meanwhile). Optional, but required for the concurrency guarantees above.
   */
  patch?(handle: string, patch: SessionPatch, ttlMs: number): Promise<boolean>;
  /**
   * Moves a session to a new handle, as `regenerate()` asks: stores `record` under `to` for `ttlMs`
   * (like `set`) and removes the record under `from`, in one atomic step, **only if the record
   * under `from` still exists**. Resolves `false`, changing nothing, when it does not (destroyed or
   * expired meanwhile), and the core then treats the session as destroyed: so a logout, or
   * `destroyByUser`, that lands while a login is running is not undone by the login.
   *
   * Optional. Without it the core checks with `get(from)`, then calls `destroy(from)` and
   * `set(to, ...)`: not atomic, so a destroy that lands between that check and `destroy(from)`
   * is lost, and the session lives on under its new handle.
   *
   * A store with a {@link SessionStore.forwardingTtl} leaves a forwarding record under `from`,
   * in the same atomic step: see there.
   */
  move?(from: string, to: string, record: SessionRecord, ttlMs: number): Promise<boolean>;
  /**
   * Set by a store whose `move` leaves a forwarding record behind: for this many milliseconds
   * after a move, the old handle names the new one, and `destroy(from)` removes the moved session
   * too (following further moves). Nothing else sees a forwarding record: `get`, `patch`,
   * `touch`, `move` and `listByUser` treat the old handle as gone, so an old cookie never reads
   * the moved session. It is what lets a logout sent with the pre-login cookie win over a login
   * still running (the core destroys through the request's cookie even when it found no session),
   * and what makes `SessionService.destroyByUser` hold against a `regenerate()` in flight on
   * stores without {@link SessionStore.destroyByUser}.
   *
   * Optional: without it, a logout that reaches the server after the login moved its session
   * only clears the browser's cookie. `MemoryStore`, `RedisStore`, `PostgresStore` and
   * `MysqlStore` keep forwarding records for 10 seconds; so does `ExpressSessionStore`, in separate
   * calls to the wrapped store (serialized within one process, not atomic across instances).
   */
  readonly forwardingTtl?: number;
  /** The live sessions whose `user` is `user`. Optional: needed for `SessionService.listByUser`. */
  listByUser?(user: string): Promise<SessionStoreUserEntry[]>;
  /**
   * Removes every live session whose `user` is `user`, except the one under `except`, in one
   * atomic step (a script, one statement), so that no `move` can slip between finding a session and
   * removing it; resolves the handles removed. Optional: without it `SessionService.destroyByUser`
   * lists the sessions with `listByUser` and destroys them one by one, which holds against a
   * `regenerate()` in flight only if the store has a {@link SessionStore.forwardingTtl}.
   */
  destroyByUser?(user: string, except?: string): Promise<string[]>;
  /**
   * How many live sessions the store holds. Optional: read by the `session.live` OpenTelemetry
   * gauge when the `telemetry.countSessions` option asks for it, at every metric collection, so it
   * may cost a query but should not lock anything.
   */
  countSessions?(): Promise<number>;
  /**
   * Resolves when the store can serve requests, rejects otherwise (a round trip to its server:
   * `PING`, `SELECT 1`). Optional: used by `SessionStoreHealthIndicator`, which reads a missing
   * session with `get` instead when it is absent.
   */
  ping?(): Promise<void>;
  /**
   * Prepares the store (for example, creates its table). Optional. `SessionModule` awaits it at
   * startup, so a failure stops the app with its message; a store should still prepare itself
   * on first use when nobody calls it.
   */
  init?(): Promise<void>;
  /**
   * Deletes expired records and resolves how many it deleted. Optional: for stores whose backend
   * does not expire records by itself (a SQL table). `SessionModule` calls it every
   * {@link SessionStore.cleanupInterval} milliseconds while the app runs, on a timer that never
   * keeps the process alive and stops on shutdown; it must be safe when several app instances
   * clean up at once, and keep each step short (delete in small batches).
   */
  cleanup?(): Promise<number>;
  /**
   * How often (milliseconds) `SessionModule` calls {@link SessionStore.cleanup}; `0` for never.
   * @defaultValue `300_000` (5 minutes) when the store has `cleanup`
   */
  readonly cleanupInterval?: number;
  /**
   * Takes the lock of the session `handle` for one request of `@SessionLock()`: resolves a lease
   * once the lock is held, or `undefined` when `waitMs` passed (or `signal` aborted) before it was
   * free. The lock must expire by itself `ttlMs` after it was taken or last renewed, so a holder
   * that crashed blocks the session at most that long, and must hand the lock to waiters in
   * arrival order as far as the backend allows. The handle needs no record: a lock may be taken
   * on a session that does not exist (yet). Optional: without it `@SessionLock()` refuses to
   * start the app.
   */
  lock?(handle: string, request: SessionStoreLockRequest): Promise<SessionStoreLease | undefined>;
  /** Releases what the store holds (timers, connections it opened). Called on shutdown for stores the module created. */
  close?(): Promise<void>;
}
