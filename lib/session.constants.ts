// Tokens are registered symbols (Symbol.for) and metadata keys plain strings, so the ES module
// build and the CommonJS build agree on them should an app ever load both.

/**
 * Injection token of the store the module uses. Inject it to reach the very same instance:
 * `constructor(@Inject(SESSION_STORE) private readonly store: SessionStore) {}`.
 */
export const SESSION_STORE: unique symbol = Symbol.for('nestjs-sessionkit:SESSION_STORE');

/** Token of the options after defaults are merged and checked (internal). */
export const SESSION_RESOLVED_OPTIONS: unique symbol = Symbol.for('nestjs-sessionkit:SESSION_RESOLVED_OPTIONS');

/** Metadata key set by `@Session()` on a handler, so the interceptor knows to load the session (internal). */
export const SESSION_USED_METADATA = 'sessionkit:used';

/** Metadata key set on handlers and controllers that `SessionInterceptor` is bound to (internal). */
export const SESSION_BOUND_METADATA = 'sessionkit:bound';

/** Data key under which flash messages live inside a session (internal). */
export const FLASH_KEY = '__flash';
