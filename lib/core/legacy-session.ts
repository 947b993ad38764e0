import { Logger } from '@nestjs/common';
import { parseCookie, stringifySetCookie } from 'cookie';
import { unsign } from 'cookie-signature';
import { type ExpressSessionStoreLike, callExpressStore, storeName } from '../stores/express-session.store.js';
import type { SessionLegacyOptions } from '../session-module-options.interface.js';
import type { SessionHandle } from './session.handle.js';
import { emptySessionData, reservedKeyIn, storedSessionData } from './session-value.js';
import { SessionError } from './session.errors.js';

/** The `legacy` option with its defaults, checked (internal). */
export interface ResolvedLegacyOptions {
  store: ExpressSessionStoreLike;
  secrets: string[];
  cookieName: string;
  cookiePath: string;
  cookieDomain: string | undefined;
}

// RFC 6265 cookie-name token, as for our own cookie.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function fail(problem: string, fix: string): never {
  throw new SessionError(`SessionModule: legacy.${problem}. ${fix}`);
}

/**
 * Checks the `legacy` option and fills in its defaults, at startup. The secrets are the old app's
 * as they are: they verify old cookies only and never sign anything, so the length rules of
 * `secret` do not apply to them.
 */
export function resolveLegacyOptions(legacy: SessionLegacyOptions | undefined, ownCookieName: string): ResolvedLegacyOptions | undefined {
  if (legacy === undefined) return undefined;
  if (legacy === null || typeof legacy !== 'object') fail('must be an object', "Pass { store, secret } of the express-session app you move from, e.g. legacy: { store: oldRedisStore, secret: process.env.OLD_SESSION_SECRET }.");
  const store = legacy.store as Partial<ExpressSessionStoreLike> | undefined;
  if (store === null || typeof store !== 'object' || typeof store.get !== 'function' || typeof store.destroy !== 'function') {
    fail('store must be the express-session store the old app used', 'Pass the same store instance (connect-redis, connect-pg-simple, ...) on the same server and with the same prefix or table as the old app.');
  }
  const secrets: unknown[] = Array.isArray(legacy.secret) ? legacy.secret : [legacy.secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s === '')) {
    fail('secret must be the old app\'s express-session secret: a non-empty string or a list of them', 'Pass the `secret` the old app gave express-session, as it was (every one in the list verifies).');
  }
  const cookieName = legacy.cookieName ?? 'connect.sid';
  if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName)) fail(`cookieName "${String(cookieName)}" is not a valid cookie name`, "Use the old app's cookie name (express-session's `name`, 'connect.sid' by default).");
  if (cookieName === ownCookieName) {
    fail(`cookieName "${cookieName}" is also the name of this app's cookie`, "Give this app's cookie another name (cookie.name, 'sid' by default): the two formats cannot share one.");
  }
  const cookiePath = legacy.cookiePath ?? '/';
  if (typeof cookiePath !== 'string' || !cookiePath.startsWith('/')) fail(`cookiePath must be a path starting with "/", got ${String(cookiePath)}`, "Use the old app's cookie.path ('/' by default).");
  const cookieDomain = legacy.cookieDomain;
  if (cookieDomain !== undefined && (typeof cookieDomain !== 'string' || cookieDomain === '')) fail('cookieDomain must be a domain', "Use the old app's cookie.domain, or leave it out if it had none.");
  return { store: store as ExpressSessionStoreLike, secrets: secrets as string[], cookieName, cookiePath, cookieDomain };
}

/** How many refused legacy sessions are remembered so as to log each once; past it the memory starts over. */
const MAX_REMEMBERED_REFUSALS = 10_000;

/** What a request's session owes the legacy app once it is saved. */
interface Owed {
  /** The legacy record to destroy (its session was adopted, or is gone); never one whose data was refused. */
  sid?: string;
}

/** What the legacy module needs from the runtime (internal). */
export interface LegacySessionHost {
  storeFailure(operation: 'read' | 'write', error: unknown): Error;
}

/**
 * The move from express-session (internal): a request that has no live session of ours but a
 * valid express-session cookie adopts that session's data into a new session of ours, under a new
 * id; once that is saved, the old record is destroyed and the old cookie cleared. A request that
 * has a live session of ours gets the old cookie cleared. A cookie that is not signed with one of
 * the old secrets adopts nothing, and the old store is not read for it.
 *
 * Only requests that use the session come here (the runtime calls it after reading a session), so
 * routes that do not use the session pay nothing.
 */
export class LegacySessions {
  private readonly logger = new Logger('SessionModule');
  private readonly owed = new WeakMap<SessionHandle, Owed>();
  /** Legacy sessions already logged as refused, so that each of their requests does not log again. */
  private readonly refused = new Set<string>();
  private readonly prefix: string;
  private readonly clearHeader: string;

  constructor(
    private readonly options: ResolvedLegacyOptions,
    private readonly host: LegacySessionHost,
  ) {
    this.prefix = `${options.cookieName}=`;
    this.clearHeader = stringifySetCookie(options.cookieName, '', { path: options.cookiePath, domain: options.cookieDomain, maxAge: 0, expires: new Date(0) });
    this.logger.log(`Moving from express-session: a valid "${options.cookieName}" cookie whose session is in ${storeName(options.store)} moves that session to a new one of ours.`);
  }

  /**
   * `session` is what the request's own cookie gave (a live session, or a new empty one). With a
   * legacy cookie beside it: a live session is kept and the legacy cookie marked for clearing; a
   * new one adopts the legacy session when the cookie verifies and its record exists.
   */
  async read(session: SessionHandle, header: string | undefined): Promise<SessionHandle> {
    // The quick check spares the parse on requests without the old cookie.
    if (header === undefined || !header.includes(this.prefix)) return session;
    const value = parseCookie(header)[this.options.cookieName];
    if (value === undefined) return session;
    if (!session.isNew || session.inStore) {
      this.owed.set(session, {});
      return session;
    }
    const sid = this.verify(value);
    if (sid === undefined) return session;
    let raw: unknown;
    try {
      raw = await callExpressStore(this.options.store, 'get', [sid]);
    } catch (error) {
      throw this.host.storeFailure('read', error);
    }
    const found = this.dataOf(raw);
    if (found.refused !== undefined) {
      // Not ours to adopt, and destroying it would log the user out and lose the data: the record
      // and its cookie stay, and the request goes on with the fresh session.
      this.warnRefused(sid, found.refused);
      return session;
    }
    // Adopted, or gone or expired (nothing to adopt, and the cookie is of no use any more).
    this.owed.set(session, { sid });
    if (found.data !== undefined && Object.keys(found.data).length > 0) {
      session.data = found.data;
    }
    return session;
  }

  /**
   * After the request's session was saved: destroys the adopted (or dead) legacy record and clears
   * the legacy cookie through `send`. Once per request; a commit that failed never gets here, so
   * the old session stays until a later request saves the new one.
   */
  async committed(session: SessionHandle, send: (setCookie: string) => void): Promise<void> {
    const owed = this.owed.get(session);
    if (owed === undefined) return;
    this.owed.delete(session);
    if (owed.sid !== undefined) {
      try {
        await callExpressStore(this.options.store, 'destroy', [owed.sid]);
      } catch (error) {
        // The new session is saved; the old record expires on its own in the old store.
        this.logger.warn(`Moving from express-session: the old session could not be destroyed in ${storeName(this.options.store)}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    send(this.clearHeader);
  }

  /** The session id in a legacy cookie value signed as express-session signs it (`s:` + cookie-signature), or `undefined`. */
  private verify(value: string): string | undefined {
    if (!value.startsWith('s:')) return undefined;
    const signed = value.slice(2);
    for (const secret of this.options.secrets) {
      const sid = unsign(signed, secret);
      if (sid !== false && sid !== '') return sid;
    }
    return undefined;
  }

  /**
   * The data of a legacy record without its `cookie`: `{}` with no data when the record is missing
   * or expired, `refused` (why) when its data cannot be taken (a reserved key such as `__proto__`).
   */
  private dataOf(raw: unknown): { data?: Record<string, unknown>; refused?: string } {
    if (raw === null || typeof raw !== 'object') return {};
    const record = raw as Record<string, unknown>;
    const cookie = record.cookie as { expires?: unknown } | undefined;
    const expires = cookie?.expires;
    if (expires !== undefined && expires !== null && Date.parse(String(expires instanceof Date ? expires.toISOString() : expires)) <= Date.now()) return {};
    // Prototype-less, so that a `__proto__` key stays a key (and is then refused) rather than a prototype.
    const data = emptySessionData();
    for (const key of Object.keys(record)) if (key !== 'cookie') data[key] = record[key];
    const reserved = reservedKeyIn(data);
    if (reserved !== undefined) return { refused: `its data has the reserved key "${reserved}", which could change object prototypes (prototype pollution)` };
    return { data: storedSessionData(data) };
  }

  /** Logs, once per legacy session (while this process remembers it), why it was not adopted. */
  private warnRefused(sid: string, reason: string): void {
    if (this.refused.has(sid)) return;
    if (this.refused.size >= MAX_REMEMBERED_REFUSALS) this.refused.clear();
    this.refused.add(sid);
    this.logger.warn(
      `Moving from express-session: an old session in ${storeName(this.options.store)} was not adopted, because ${reason}. It was left in the old store, with its cookie, and its requests get a fresh session: fix or remove that record in the old store.`,
    );
  }
}
