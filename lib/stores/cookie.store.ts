import { SessionError, SessionStatelessError } from '../core/session.errors.js';
import type { SessionRecord, SessionStore } from './session-store.interface.js';

/** Options of {@link CookieStore}. */
export interface CookieStoreOptions {
  /**
   * The largest `Set-Cookie` header the store writes, in bytes (name, encrypted value and
   * attributes). A save that would exceed it fails the request with a `SessionCookieTooLargeError`.
   * Browsers keep cookies of at least 4,096 bytes; most refuse larger ones.
   * @defaultValue `4096`
   */
  maxCookieBytes?: number;
}

const DEFAULT_MAX_COOKIE_BYTES = 4096;

const NO_SERVER_STATE =
  'CookieStore keeps each session only in its browser\'s cookie, encrypted: there is no server-side record to read, write or remove. SessionModule uses it through the cookie; use RedisStore, PostgresStore, MysqlStore or MemoryStore where server-side access is needed.';

/**
 * A stateless store: the whole session lives in its cookie, encrypted and authenticated with
 * AES-256-GCM under keys derived from the module's `secret` list (the first encrypts, all
 * decrypt, and a cookie sealed under an older secret is re-issued under the first). Idle and
 * absolute expiry are checked from timestamps inside the ciphertext.
 *
 * What it cannot do, having no server-side state: revoke one session (`SessionService.destroy`),
 * list or log out a user's sessions (`listByUser`, `destroyByUser`, `maxSessionsPerUser`), merge
 * parallel writes (the last response's cookie wins, increments included), or save a change made
 * from a WebSocket message. Those APIs throw a {@link SessionStatelessError}. A copied cookie stays
 * valid until it expires, even after logout or `regenerate()`.
 *
 * @example
 * SessionModule.forRoot({ secret: process.env.SESSION_SECRET, store: new CookieStore() })
 */
export class CookieStore implements SessionStore {
  /** See {@link CookieStoreOptions.maxCookieBytes}. */
  readonly maxCookieBytes: number;

  constructor(options: CookieStoreOptions = {}) {
    const max = options.maxCookieBytes ?? DEFAULT_MAX_COOKIE_BYTES;
    if (!Number.isInteger(max) || max < 256) {
      throw new SessionError(`CookieStore: maxCookieBytes must be a whole number of bytes of at least 256, got ${String(options.maxCookieBytes)}. Leave it out for 4096.`);
    }
    this.maxCookieBytes = max;
  }

  /** Throws a {@link SessionStatelessError}: there are no server-side records. */
  get(): Promise<SessionRecord | undefined> {
    return Promise.reject(new SessionStatelessError(NO_SERVER_STATE));
  }

  /** Throws a {@link SessionStatelessError}: there are no server-side records. */
  set(): Promise<void> {
    return Promise.reject(new SessionStatelessError(NO_SERVER_STATE));
  }

  /** Throws a {@link SessionStatelessError}: a session in a cookie cannot be revoked server-side. */
  destroy(): Promise<void> {
    return Promise.reject(new SessionStatelessError(NO_SERVER_STATE));
  }

  /** Resolves at once: nothing server-side can be down. */
  ping(): Promise<void> {
    return Promise.resolve();
  }
}
