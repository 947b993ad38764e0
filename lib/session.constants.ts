/**
 * Injection token of the store the module uses. Inject it to reach the very same instance:
 * `constructor(@Inject(SESSION_STORE) private readonly store: SessionStore) {}`.
 */
export const SESSION_STORE = Symbol('SESSION_STORE');

/** Token of the options after defaults are merged and checked (internal). */
export const SESSION_RESOLVED_OPTIONS = Symbol('SESSION_RESOLVED_OPTIONS');

/** Data key under which flash messages live inside a session (internal). */
export const FLASH_KEY = '__flash';
