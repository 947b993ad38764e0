/**
 * The shape of session data. Empty by default, so any key is accepted and values are `unknown`.
 * Declare your data once to have `get`, `set` and friends checked against it:
 *
 * ```ts
 * declare module 'nestjs-sessionkit' {
 *   interface SessionData { userId: number; cart: CartItem[] }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SessionData {}

/** The keys a session of data type `T` accepts: any string until `T` declares some. */
export type SessionKey<T> = [keyof T] extends [never] ? string : Extract<keyof T, string>;

/** The value type stored under key `K` of data type `T` (`unknown` for undeclared data). */
export type SessionValue<T, K> = K extends keyof T ? T[K] : unknown;

/** The keys of `T` whose values are numbers (any key for undeclared data). */
export type SessionNumberKey<T> = [keyof T] extends [never]
  ? string
  : { [K in Extract<keyof T, string>]: NonNullable<T[K]> extends number ? K : never }[Extract<keyof T, string>];

/**
 * The session of the current request, as `@Session()` injects it and `SessionService.load()`
 * returns it. One handle per request, whoever asks for it.
 *
 * Changes are kept in memory and written to the store once, before the response is sent (only
 * what changed). Values must be plain JSON data; anything else is refused with a `TypeError`.
 */
export interface SessionHandleApi<T extends object = SessionData> {
  /** The session id (secret: it is what the cookie carries). Changes on `regenerate()` and `destroy()`. */
  readonly id: string;
  /**
   * The store's name for this session: a one-way hash of `id`, safe to log or show
   * (what `SessionService.listByUser` reports and `SessionService.destroy` accepts).
   */
  readonly handle: string;
  /** True when the request brought no valid, live session, so this one was just created. */
  readonly isNew: boolean;
  /** When the session was created (epoch milliseconds). */
  readonly createdAt: number;
  /** The value under `key`, or `undefined`. Objects may be changed in place: the change is saved. */
  get<K extends SessionKey<T>>(key: K): SessionValue<T, K> | undefined;
  /**
   * Sets `key` to `value`. Throws, naming the key and changing nothing, a `TypeError` if `value`
   * is not plain JSON data or if `key` (or a key inside `value`) is `__proto__`, `constructor` or
   * `prototype`, or a `SessionTooLargeError` if the session would exceed `maxSessionBytes`.
   */
  set<K extends SessionKey<T>>(key: K, value: SessionValue<T, K>): void;
  /** True when the session holds a value under `key`. */
  has(key: SessionKey<T>): boolean;
  /** Removes `key`. */
  delete(key: SessionKey<T>): void;
  /**
   * Adds `by` (default 1) to the number under `key` (missing counts as 0) and returns the new
   * value. Saved as an atomic increment: parallel requests do not lose each other's additions.
   */
  increment(key: SessionNumberKey<T>, by?: number): number;
  /** Removes every value. */
  clear(): void;
  /** A shallow copy of every value. */
  all(): Partial<T> & Record<string, unknown>;
  /**
   * Moves the session to a new id, keeping its data. Call it on login to prevent session fixation.
   * The move happens when the session is saved (before the response, or on `save()`): the old id
   * stops working then, and only if the session still exists then. A session destroyed meanwhile
   * (a logout from another tab, `SessionService.destroyByUser`) stays destroyed: the request ends
   * with no session and its cookie cleared.
   */
  regenerate(): Promise<void>;
  /**
   * Deletes the session from the store now; the response clears the cookie. The handle goes on
   * as a new, empty session, so a flash message set afterwards reaches the next page.
   */
  destroy(): Promise<void>;
  /**
   * Writes pending changes now and sets the cookie on the response. Only needed in handlers
   * that send the response themselves with `@Res()`: call it before sending.
   */
  save(): Promise<void>;
  /** Extends the idle expiry on this request even if nothing changed and the touch interval has not passed. */
  touch(): void;
  /** Queues a flash message of `type`, to be read once by a later request. */
  flash(type: string, message: unknown): void;
  /** Reads and removes the flash messages of `type` (an empty array if there are none). */
  flash(type: string): unknown[];
  /**
   * When the session expires unless used again: the earlier of its idle and absolute deadlines
   * (epoch milliseconds), as of its last write or touch.
   */
  readonly expiresAt: number;
  /**
   * A CSRF token for this session, to put in a form's `_csrf` field or send in the `x-csrf-token`
   * header; `CsrfGuard` checks it. The session keeps a secret, created on first use and replaced
   * by `regenerate()` and `destroy()`; each call returns that secret under a new random mask, so
   * the token differs on every page (which defeats BREACH-style compression attacks) and every
   * token handed out stays valid until the secret changes.
   */
  csrfToken(): string;
  /**
   * Chooses this session's cookie kind, whatever the module's `cookie.persistent` says ("remember
   * me"): `persist()` sends it with a `Max-Age` of the session's remaining life, `persist(ms)` with
   * `ms` (at most the remaining life), `persist(false)` as a browser-session cookie. Kept with the
   * session, across `regenerate()`, until `destroy()`. Throws a `TypeError` for anything but a
   * positive number of milliseconds or `false`.
   */
  persist(ms?: number | false): void;
}
