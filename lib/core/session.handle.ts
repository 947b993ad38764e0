import { CSRF_KEY, FLASH_KEY, INTERNAL_KEYS, PERSIST_KEY } from '../session.constants.js';
import { isCsrfSecret, maskCsrfToken, newCsrfSecret } from '../csrf/csrf.token.js';
import { assertSessionSize } from './session-size.js';
import { newSessionId, sessionHandle } from '../http/session-cookie.js';
import type { SessionRecord } from '../stores/session-store.interface.js';
import type { SessionContext } from './session.context.js';
import { SessionError, SessionGoneError } from './session.errors.js';
import { SessionValueError, assertSessionKey, assertStorable, emptySessionData } from './session-value.js';

/** What a handle needs from the runtime that created it (internal). */
export interface SessionHandleHost {
  destroyInStore(handle: string): Promise<void>;
  /** The session's record as its store (or, with `CookieStore`, the request's cookie) holds it. */
  reread(session: SessionHandle): Promise<SessionRecord | undefined>;
  readonly options: { readonly maxSessionBytes: number };
  remainingTtl(record: { createdAt: number; touchedAt: number }, now: number): number;
  /** Reports that `session` was destroyed by its own request (the `destroyed` event). */
  destroyed(session: SessionHandle): void;
}

function isObject(value: unknown): value is object {
  return value !== null && typeof value === 'object';
}

/**
 * The per-request session: data plus the bookkeeping the runtime needs to write only changes
 * (internal). Untyped inside; the public type is `Session<T>` (`SessionHandleApi`).
 */
export class SessionHandle {
  id: string;
  handle: string;
  isNew: boolean;
  createdAt: number;
  touchedAt: number;
  /** A record exists in the store under `handle`. */
  inStore: boolean;
  /**
   * After `regenerate()`: the handle of the stored record to move to `handle` on commit (only if
   * it still exists then, so a session destroyed meanwhile stays destroyed).
   */
  movedFrom: string | undefined;
  /** The user (`authKey` value) of the stored record, as last read or written. */
  storedUser: string | undefined;
  /** The cookie must be (re-)issued: new id or a cookie signed with an older secret. */
  cookieStale: boolean;
  /** The request came with a cookie whose session was destroyed: clear it unless a new one is issued. */
  cookieToClear = false;
  /**
   * The handle the request's cookie named when no session was found under it (gone, expired, or
   * moved by a login still running): `destroy()` destroys through it, which reaches a session
   * moved meanwhile on stores with forwarding records, and clears the cookie. `''` when the
   * request carried a session cookie that names no session at all (a bad signature, a value that
   * does not open): `destroy()` only clears it.
   */
  staleHandle: string | undefined;
  touchRequested = false;
  cleared = false;
  data: Record<string, unknown>;
  // The three records of what the request did are made on first use (most requests only read):
  // read them here without making them, add to them through `changed`, `increments`, `watched`.
  changedKeys: Set<string> | undefined;
  incrementsByKey: Map<string, number> | undefined;
  watchedJson: Map<string, string> | undefined;

  /** Keys set or deleted by this request. */
  get changed(): Set<string> {
    return (this.changedKeys ??= new Set<string>());
  }

  /** Atomic additions by this request, for keys it did not also set. */
  get increments(): Map<string, number> {
    return (this.incrementsByKey ??= new Map<string, number>());
  }

  /** Object values handed out, with their JSON when handed out, to catch changes made in place. */
  get watched(): Map<string, string> {
    return (this.watchedJson ??= new Map<string, string>());
  }

  /** True when the request neither changed, cleared nor was handed an object of the session (so there is nothing to save but a touch). */
  get untracked(): boolean {
    return !this.cleared && !this.changedKeys?.size && !this.incrementsByKey?.size && !this.watchedJson?.size;
  }

  /** Forgets what the request changed (saved, reloaded, or started anew). Dropped rather than cleared: `clear()` allocates a new table. */
  resetTracking(): void {
    this.changedKeys = undefined;
    this.incrementsByKey = undefined;
    this.watchedJson = undefined;
  }

  /** Forgets `key` as added to or handed out: it was just set or deleted. */
  private untrack(key: string): void {
    this.incrementsByKey?.delete(key);
    this.watchedJson?.delete(key);
  }

  constructor(
    private readonly host: SessionHandleHost,
    /** The request this handle belongs to: it saves the handle before the response leaves. */
    private readonly context: SessionContext,
    id: string,
    handle: string,
    record: SessionRecord | undefined,
    cookieStale: boolean,
  ) {
    this.id = id;
    this.handle = handle;
    this.isNew = record === undefined;
    this.inStore = record !== undefined;
    this.movedFrom = undefined;
    this.storedUser = record?.user;
    const now = Date.now();
    this.createdAt = record?.createdAt ?? now;
    this.touchedAt = record?.touchedAt ?? now;
    this.data = record?.data ?? emptySessionData();
    this.cookieStale = cookieStale;
  }

  /** The request the session was loaded for. */
  get request(): object {
    return this.context.request;
  }

  /** The response the session's cookie goes on. */
  get response(): object {
    return this.context.response;
  }

  private watch(key: string, value: unknown): void {
    if (isObject(value) && !this.changedKeys?.has(key) && !this.watchedJson?.has(key)) {
      this.watched.set(key, JSON.stringify(value));
    }
  }

  get(key: string): unknown {
    const value = this.data[key];
    this.watch(key, value);
    return value;
  }

  set(key: string, value: unknown): void {
    assertSessionKey(key);
    assertStorable(key, value);
    // The value the session already holds (and this request did not change): nothing to write.
    if (this.unchangedBy(key, value)) return;
    assertSessionSize(this.data, key, value, this.host.options.maxSessionBytes);
    this.data[key] = value;
    this.changed.add(key);
    this.untrack(key);
  }

  /**
   * True when `key` already holds `value` as stored (equal JSON for objects) and this request did
   * not change it: assigning it again writes nothing.
   */
  private unchangedBy(key: string, value: unknown): boolean {
    if (this.cleared || this.changedKeys?.has(key) || this.incrementsByKey?.has(key) || !(key in this.data)) return false;
    const current = this.data[key];
    if (!isObject(value)) return current === value;
    if (!isObject(current)) return false;
    const stored = this.watchedJson?.get(key) ?? JSON.stringify(current);
    if (JSON.stringify(value) !== stored) return false;
    // The new object is kept, watched against the stored JSON, so a later change in place is still saved.
    this.data[key] = value;
    this.watched.set(key, stored);
    return true;
  }

  has(key: string): boolean {
    return this.data[key] !== undefined;
  }

  delete(key: string): void {
    if (!(key in this.data) && !this.incrementsByKey?.has(key)) return;
    delete this.data[key];
    this.changed.add(key);
    this.untrack(key);
  }

  increment(key: string, by = 1): number {
    assertSessionKey(key);
    if (!Number.isFinite(by)) throw new SessionValueError(`Session increment of key "${key}" needs a finite number, got ${by}.`);
    const current = this.data[key];
    const next = (typeof current === 'number' ? current : 0) + by;
    this.data[key] = next;
    this.watchedJson?.delete(key);
    if (!this.changedKeys?.has(key)) this.increments.set(key, (this.incrementsByKey?.get(key) ?? 0) + by);
    return next;
  }

  clear(): void {
    this.data = emptySessionData();
    this.cleared = true;
    this.resetTracking();
  }

  all(): Record<string, unknown> {
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(this.data)) {
      if (INTERNAL_KEYS.has(key)) continue;
      const value = this.data[key];
      this.watch(key, value);
      copy[key] = value;
    }
    return copy;
  }

  private renew(): void {
    this.id = newSessionId();
    this.handle = sessionHandle(this.id);
    this.inStore = false;
    this.resetTracking();
    this.cleared = false;
  }

  async regenerate(): Promise<void> {
    // The old record is moved to the new id on commit, if it still exists then: deleting it here
    // and writing the new one unconditionally later would undo a logout that lands in between.
    if (this.inStore) this.movedFrom = this.handle;
    this.renew();
    // A new CSRF secret with the new id: tokens handed out before login stop working.
    if (CSRF_KEY in this.data) this.setInternal(CSRF_KEY, newCsrfSecret());
    this.cookieStale = true;
  }

  async destroy(): Promise<void> {
    if (this.inStore) {
      await this.host.destroyInStore(this.handle);
      this.host.destroyed(this);
    }
    if (this.movedFrom !== undefined) await this.host.destroyInStore(this.movedFrom);
    else if (!this.inStore && this.staleHandle) await this.host.destroyInStore(this.staleHandle);
    // A browser holding a cookie for a stored session (or for one not found) must be told to drop it.
    this.cookieToClear ||= this.inStore || this.movedFrom !== undefined || !this.isNew || this.staleHandle !== undefined;
    this.staleHandle = undefined;
    this.empty();
  }

  /**
   * The stored session this handle was read from is gone (destroyed, expired, or moved by a login,
   * in another request since this one read it): goes on as the new, empty session a read that
   * found no record gives, with unsaved changes dropped. As after such a read, `destroy()` still
   * reaches the gone session through {@link staleHandle}, and the cookie is left alone: the request
   * that removed the session sent the browser its answer (a login's new cookie among them).
   */
  startAfresh(): void {
    const gone = this.handle;
    this.empty();
    this.staleHandle = gone;
  }

  /** Becomes a new, empty session with a new id, never stored. */
  private empty(): void {
    this.movedFrom = undefined;
    this.storedUser = undefined;
    this.renew();
    this.data = emptySessionData();
    this.isNew = true;
    this.cookieStale = false;
    this.touchRequested = false;
    this.createdAt = Date.now();
    this.touchedAt = this.createdAt;
  }

  /**
   * Drops unsaved changes and reads the session again from the store. A session that was stored
   * and is gone now (destroyed or expired meanwhile) throws a {@link SessionGoneError} and is left
   * as it was; one never stored goes back to empty.
   */
  async reload(): Promise<void> {
    const record = this.inStore ? await this.host.reread(this) : undefined;
    if (record === undefined && this.inStore) throw new SessionGoneError();
    this.resetTracking();
    this.cleared = false;
    this.touchRequested = false;
    if (record === undefined) {
      this.data = emptySessionData();
      return;
    }
    this.data = record.data;
    this.createdAt = record.createdAt;
    this.touchedAt = record.touchedAt;
  }

  save(): Promise<void> {
    return this.context.flush();
  }

  touch(): void {
    this.touchRequested = true;
  }

  flash(type: string, message: unknown): void;
  flash(type: string): unknown[];
  flash(type: string, ...message: unknown[]): unknown[] | void {
    assertSessionKey(type);
    const store = this.data[FLASH_KEY] as Record<string, unknown[]> | undefined;
    if (message.length > 0) {
      assertStorable(`${FLASH_KEY}.${type}`, message[0]);
      const next = { ...store, [type]: [...(store?.[type] ?? []), message[0]] };
      this.setInternal(FLASH_KEY, next);
      return;
    }
    const messages = store?.[type];
    if (!messages) return [];
    const rest = { ...store };
    delete rest[type];
    if (Object.keys(rest).length === 0) this.delete(FLASH_KEY);
    else this.setInternal(FLASH_KEY, rest);
    return messages;
  }

  /** Earlier of the idle and absolute deadlines, epoch ms, as of the last write or touch. */
  get expiresAt(): number {
    const now = Date.now();
    return now + this.host.remainingTtl(this, now);
  }

  csrfToken(): string {
    const stored = this.data[CSRF_KEY];
    const secret = isCsrfSecret(stored) ? stored : newCsrfSecret();
    if (secret !== stored) this.setInternal(CSRF_KEY, secret);
    return maskCsrfToken(secret);
  }

  persist(ms?: number | false): void {
    if (ms !== undefined && ms !== false && !(typeof ms === 'number' && Number.isFinite(ms) && ms > 0)) {
      throw new SessionError(`session.persist() takes a positive number of milliseconds or false, got ${String(ms)}.`);
    }
    // The choice the session already has: nothing to write, no cookie to re-send.
    if (this.data[PERSIST_KEY] === (ms ?? true)) return;
    this.setInternal(PERSIST_KEY, ms ?? true);
    // The cookie changes (Max-Age added or removed) even if nothing else does.
    this.cookieStale = true;
  }

  private setInternal(key: string, value: unknown): void {
    assertSessionSize(this.data, key, value, this.host.options.maxSessionBytes);
    this.data[key] = value;
    this.changed.add(key);
    this.untrack(key);
  }
}
