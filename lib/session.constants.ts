// Tokens are registered symbols (Symbol.for) and metadata keys plain strings, so the ES module
// build and the CommonJS build agree on them should an app ever load both.

/**
 * Injection token of the store the module uses. Inject it to reach the very same instance:
 * `constructor(@Inject(SESSION_STORE) private readonly store: SessionStore) {}`.
 */
export const SESSION_STORE: unique symbol = Symbol.for('nestjs-sessionkit:SESSION_STORE');

/** Token of the options after defaults are merged and checked (internal). */
export const SESSION_RESOLVED_OPTIONS: unique symbol = Symbol.for('nestjs-sessionkit:SESSION_RESOLVED_OPTIONS');

/** Metadata key of `@SessionLock()`: its options, on a handler or a class (internal). */
export const SESSION_LOCK_METADATA = 'nestjs-sessionkit:session-lock';

/** Data key under which flash messages live inside a session (internal). */
export const FLASH_KEY = '__flash';

/** Data key under which the session's CSRF secret lives (internal; rotated by regenerate() and destroy()). */
export const CSRF_KEY = '__csrf';

/** Data key under which a per-session cookie persistence chosen with `persist()` lives (internal). */
export const PERSIST_KEY = '__persist';

/** Data keys the library keeps for itself: hidden from `all()` and `req.session`'s keys. */
export const INTERNAL_KEYS: ReadonlySet<string> = new Set([FLASH_KEY, CSRF_KEY, PERSIST_KEY]);
