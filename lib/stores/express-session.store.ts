import { Logger } from '@nestjs/common';
import { SessionError, SessionStoreCapabilityError } from '../core/session.errors.js';
import { FORWARDING_TTL_MS, type SessionPatch, type SessionRecord, type SessionStore, type SessionStoreUserEntry } from './session-store.interface.js';

/** The Node-style callback an express-session store calls when an operation ends. */
export type ExpressSessionStoreCallback = (error?: unknown, result?: unknown) => void;

/**
 * What {@link ExpressSessionStore} (and the `legacy` option) use of an express-session store: the
 * store interface of express-session (`get`, `set`, `destroy`; `all`, `touch`, `length`, `clear`
 * optional). Each method may call its callback, return a promise, or both: connect-redis,
 * connect-pg-simple, connect-mongo, express-mysql-session, memorystore and the others all fit.
 */
export interface ExpressSessionStoreLike {
  /** The record under `sid`, or `null`/`undefined` when there is none. */
  get(sid: string, callback: ExpressSessionStoreCallback): unknown;
  /** Stores `session` under `sid`, for the life its `cookie` gives. */
  set(sid: string, session: ExpressSessionRecord, callback: ExpressSessionStoreCallback): unknown;
  /** Removes the record under `sid`. */
  destroy(sid: string, callback: ExpressSessionStoreCallback): unknown;
  /** Every session, as an array (entries carrying their `id`) or an object keyed by session id. Used for listing a user's sessions. */
  all?(callback: ExpressSessionStoreCallback): unknown;
  /** Extends the life of the record under `sid`. Not used: it leaves `touchedAt` inside the record stale. */
  touch?(sid: string, session: ExpressSessionRecord, callback: ExpressSessionStoreCallback): unknown;
  /** How many sessions there are. Not used. */
  length?(callback: ExpressSessionStoreCallback): unknown;
  /** Removes every session. Not used. */
  clear?(callback: ExpressSessionStoreCallback): unknown;
}

/**
 * A session as express-session stores are given it: the `cookie` they take the record's life from
 * (`expires`, `originalMaxAge`), and the session's data beside it.
 */
export interface ExpressSessionRecord {
  cookie: { originalMaxAge: number | null; expires?: Date | null };
}

/** Options of {@link ExpressSessionStore}. */
export interface ExpressSessionStoreOptions {
  /**
   * The key under which a session's data and timestamps are kept inside the express-session
   * record, beside its `cookie`. Change it only if the wrapped store's records already use it.
   * @defaultValue `'sessionkit'`
   */
  key?: string;
  /**
   * The longest (milliseconds) one call to the wrapped store may take; past it the operation
   * rejects and the request gets a 503, rather than hanging on a store that never calls back (a
   * client queueing commands while its server is down). The wrapped call itself cannot be
   * cancelled and may still complete later.
   * @defaultValue `5000`
   */
  timeout?: number;
}

/** How many moves `destroy` follows from a forwarding record, at most. */
const MAX_FORWARD_HOPS = 8;

/** What a forwarding record keeps under the reserved key, in place of a session: the handle it moved to. */
interface Forward {
  movedTo: string;
}

/** What nestjs-sessionkit keeps under the reserved key of an express-session record. */
interface Kept {
  data: Record<string, unknown>;
  createdAt: number;
  touchedAt: number;
  user?: string;
}

/**
 * The `cookie` of a record, as express-session's own `Cookie` has it: `expires` (a `Date`, JSON
 * as ISO text) and `originalMaxAge`, which connect-redis, connect-pg-simple, connect-mongo and
 * express-mysql-session take the record's life from, and the `maxAge` getter (not serialized) that
 * memorystore reads.
 */
class RecordCookie {
  readonly originalMaxAge: number;
  readonly expires: Date;

  constructor(ttlMs: number) {
    this.originalMaxAge = ttlMs;
    this.expires = new Date(Date.now() + ttlMs);
  }

  get maxAge(): number {
    return this.expires.getTime() - Date.now();
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object';
}

/** When the record's cookie says it expires (epoch ms), or `undefined` when it does not say. */
function expiresAt(record: Record<string, unknown>): number | undefined {
  const cookie = record.cookie;
  if (!isObject(cookie)) return undefined;
  const expires = cookie.expires ?? cookie._expires;
  if (expires === undefined || expires === null) return undefined;
  const at = expires instanceof Date ? expires.getTime() : Date.parse(String(expires));
  return Number.isNaN(at) ? undefined : at;
}

/**
 * Calls an express-session store method (internal) and settles with its result, however the store reports
 * it: through the callback (express-session's contract), a returned promise (connect-redis 9,
 * express-mysql-session), or both (the first to report wins). A synchronous throw rejects.
 */
export function callExpressStore(store: ExpressSessionStoreLike, method: keyof ExpressSessionStoreLike, args: unknown[], timeoutMs = 5_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(
      () =>
        done(
          new SessionError(
            `${storeName(store)}.${method}() did not answer within ${timeoutMs} ms, so the operation was given up (the store call itself may still complete later). Check that the store's server is up and reachable, or raise ExpressSessionStore's timeout option.`,
          ),
        ),
      timeoutMs,
    );
    timer.unref();
    const done: ExpressSessionStoreCallback = (error, result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // The store's own errors pass as they are; anything else it reports becomes one of ours.
      if (error !== undefined && error !== null) reject(error instanceof Error ? error : new SessionError(`${storeName(store)}.${method}() failed: ${String(error)}.`, { cause: error }));
      else resolve(result);
    };
    let returned: unknown;
    try {
      returned = (store[method] as (...a: unknown[]) => unknown).call(store, ...args, done);
    } catch (error) {
      done(error ?? new SessionError(`${storeName(store)}.${method}() threw without an error.`));
      return;
    }
    if (isObject(returned) && typeof returned.then === 'function') {
      (returned as unknown as PromiseLike<unknown>).then(
        (result) => done(null, result),
        (error: unknown) => done(error ?? new SessionError(`${storeName(store)}.${method}() rejected without an error.`)),
      );
    }
  });
}

/** The name of a store's class, for messages (internal). */
export function storeName(store: object): string {
  const name = (store as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'the express-session store';
}

/**
 * Any express-session store as a nestjs-sessionkit store: connect-mongo, express-mysql-session,
 * connect-dynamodb, connect-sqlite3, memcached and the rest of the thirty-odd community stores.
 *
 * ```ts
 * import MongoStore from 'connect-mongo';
 *
 * SessionModule.forRoot({ secret, store: new ExpressSessionStore(MongoStore.create({ mongoUrl })) });
 * ```
 *
 * **Records.** Each session is one express-session record under its handle (the one-way hash of
 * the session id; the id itself never reaches the store): a `cookie` with `expires` and
 * `originalMaxAge` as express-session writes it, so the wrapped store expires the record on time,
 * and the session's data, timestamps and user under the key `sessionkit`. Reads also check
 * `cookie.expires`, so an expired record is never used even if the store keeps it a little longer
 * (whole-second expiries, sweepers).
 *
 * **What it cannot promise** (the wrapped store has no atomic update; see the README table):
 * - A change is read, modified and written back (`get` then `set`). Inside one process these steps
 *   are serialized per session, so parallel requests of one instance lose nothing and
 *   `increment()` counts exactly; requests of one session on several instances at once may lose a
 *   change, and a destroy made by another instance while a change is on its way may be undone.
 * - `regenerate()` writes the new record, then replaces the old one with a forwarding record
 *   naming the new handle for 10 seconds ({@link ExpressSessionStore.forwardingTtl}), so a logout
 *   sent with the pre-login cookie, or a `destroyByUser` that listed the old handle, still reaches
 *   the moved session. These are separate calls to the wrapped store: serialized per session within
 *   one process (a destroy of the old handle there either comes first, and nothing moves, or
 *   follows the forwarding record), not across instances (a destroy made by another instance
 *   between the check and the forwarding record is lost).
 * - A touch (extending an unchanged session) is a `get` and a `set`: the stores' own `touch`
 *   extends the record's life but leaves `touchedAt` inside it stale, which the idle timeout counts from.
 * - `listByUser`, `destroyByUser` and `maxSessionsPerUser` read every session through `all()`,
 *   so they cost a full scan; without `all()` they are refused with a {@link SessionStoreCapabilityError}.
 *
 * At startup it logs one line saying which of these hold with the wrapped store. The wrapped store
 * stays yours: `close()` does not close it.
 */
export class ExpressSessionStore implements SessionStore {
  private readonly logger = new Logger('SessionModule');
  private readonly key: string;
  private readonly name: string;
  private readonly timeout: number;
  /**
   * How long (milliseconds) a `move` leaves a forwarding record under the old handle, written with
   * the wrapped store's `set` and a `cookie` expiring then, so the store drops it by itself.
   */
  readonly forwardingTtl = FORWARDING_TTL_MS;
  /** The last write of each session under way in this process, so writes of one session never interleave. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    /** The wrapped express-session store. */
    readonly store: ExpressSessionStoreLike,
    options: ExpressSessionStoreOptions = {},
  ) {
    if (!isObject(store) || typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.destroy !== 'function') {
      throw new SessionError(
        'ExpressSessionStore: wrap an express-session store (an object with get, set and destroy methods), e.g. new ExpressSessionStore(new RedisStore({ client })) with RedisStore from connect-redis.',
      );
    }
    const key = options.key ?? 'sessionkit';
    if (typeof key !== 'string' || key === '' || key === 'cookie') {
      throw new SessionError(
        `ExpressSessionStore: key must be a non-empty string other than "cookie", got ${JSON.stringify(key)}. Leave it out (the default is 'sessionkit') or pass a key the wrapped store's records do not use.`,
      );
    }
    this.key = key;
    this.name = storeName(store);
    const timeout = options.timeout ?? 5_000;
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) {
      throw new SessionError(`ExpressSessionStore: timeout must be a positive number of milliseconds, got ${String(options.timeout)}. Leave it out for the default (5000) or pass e.g. timeout: 2_000.`);
    }
    this.timeout = timeout;
  }

  /** What holds with the wrapped store, in one line. */
  describe(): string {
    const all = typeof this.store.all === 'function';
    return (
      `ExpressSessionStore over ${this.name}: changes are read then written back, serialized per session in this process only ` +
      '(requests of one session on several instances at once may lose a change); regenerate() is not atomic, and its old handle ' +
      `forwards to the new one for ${this.forwardingTtl / 1_000} s against destroys made in this process only; ` +
      (all
        ? 'listByUser, destroyByUser and maxSessionsPerUser scan every session through all().'
        : 'listByUser, destroyByUser and maxSessionsPerUser are refused (the store has no all()).')
    );
  }

  /** Logs {@link ExpressSessionStore.describe} (`SessionModule` calls this at startup). */
  async init(): Promise<void> {
    this.logger.log(this.describe());
  }

  /**
   * Throws a {@link SessionStoreCapabilityError} when `feature` needs what the wrapped store lacks
   * (`all()` for listing a user's sessions).
   */
  assertSupports(feature: 'listByUser' | 'destroyByUser' | 'maxSessionsPerUser'): void {
    if (typeof this.store.all === 'function') return;
    throw new SessionStoreCapabilityError(
      `${feature} needs to find every session of a user, and ExpressSessionStore can do that only through the wrapped store's all(), which ${this.name} does not have. ` +
        'Wrap a store with all() (connect-redis, connect-mongo, express-mysql-session, memorystore), use a native store (RedisStore, PostgresStore), or do without ' +
        feature +
        '.',
    );
  }

  async get(handle: string): Promise<SessionRecord | undefined> {
    return this.unwrap(await this.call('get', [handle]), Date.now());
  }

  set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    return this.serial(handle, () => this.write(handle, record, ttlMs));
  }

  /**
   * Removes the record; when it was a live forwarding record, the session it names too, following
   * further moves (at most 8). Each step is serialized with the writes of
   * its handle in this process, so a move of the next handle under way here ends first and is followed.
   */
  async destroy(handle: string): Promise<void> {
    let next: string | undefined = handle;
    for (let hops = 0; next !== undefined && hops <= MAX_FORWARD_HOPS; hops++) {
      const current: string = next;
      next = await this.serial(current, async () => {
        // Read first only to learn where a forwarding record leads; the destroy happens either way.
        const raw = await this.call('get', [current]);
        await this.call('destroy', [current]);
        return this.forwardOf(raw, Date.now());
      });
    }
  }

  /** Reads the record and writes it back with the new `touchedAt` and life, only if it still exists. */
  touch(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    return this.serial(handle, async () => {
      const stored = await this.get(handle);
      if (stored === undefined) return;
      await this.write(handle, { ...stored, touchedAt: record.touchedAt }, ttlMs);
    });
  }

  /**
   * Reads the record, applies `patch` and writes it back, serialized with every other write of the
   * session in this process: atomic against them, not against other processes.
   */
  patch(handle: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    return this.serial(handle, async () => {
      const stored = await this.get(handle);
      if (stored === undefined) return false;
      // Prototype-less, so that no key given here can reach Object.prototype.
      const data = Object.create(null) as Record<string, unknown>;
      if (!patch.clear) Object.assign(data, stored.data);
      for (const key of patch.unset) delete data[key];
      Object.assign(data, patch.set);
      for (const key in patch.incr) {
        const current = data[key];
        data[key] = (typeof current === 'number' ? current : 0) + patch.incr[key]!;
      }
      const next: SessionRecord = { data, createdAt: stored.createdAt, touchedAt: patch.touchedAt };
      const user = patch.user === undefined ? stored.user : (patch.user ?? undefined);
      if (user !== undefined) next.user = user;
      await this.write(handle, next, ttlMs);
      return true;
    });
  }

  /**
   * Checks that `from` still holds a session, writes `to`, then replaces `from` with a forwarding
   * record naming `to` for {@link ExpressSessionStore.forwardingTtl}: three calls to the wrapped
   * store, serialized with every other write of `from` and `to` in this process, not atomic
   * against other processes (see the class).
   */
  move(from: string, to: string, record: SessionRecord, ttlMs: number): Promise<boolean> {
    return this.serial(from, async () => {
      if ((await this.get(from)) === undefined) return false;
      await this.serial(to, () => this.write(to, record, ttlMs));
      const forward = { cookie: new RecordCookie(this.forwardingTtl), [this.key]: { movedTo: to } satisfies Forward };
      await this.call('set', [from, forward]);
      return true;
    });
  }

  /**
   * Scans every session through the wrapped store's `all()`; refused without it. A forwarding
   * record found by the scan is no session, but the session it leads to is followed and listed
   * when the scan missed it: the scan of most stores is not one snapshot (connect-redis: `SCAN`,
   * then `MGET`), so a move between the two would otherwise hide the session from
   * `destroyByUser` under both handles.
   */
  async listByUser(user: string): Promise<SessionStoreUserEntry[]> {
    this.assertSupports('listByUser');
    const all = await this.call('all', []);
    const now = Date.now();
    const entries: SessionStoreUserEntry[] = [];
    const scanned = new Set<string>();
    const forwarded: string[] = [];
    const consider = (handle: unknown, raw: unknown): void => {
      if (typeof handle !== 'string') return;
      scanned.add(handle);
      const to = this.forwardOf(raw, now);
      if (to !== undefined) forwarded.push(to);
      const record = this.unwrap(raw, now);
      if (record?.user === user) entries.push({ handle, createdAt: record.createdAt, touchedAt: record.touchedAt });
    };
    if (Array.isArray(all)) {
      for (const raw of all) consider(isObject(raw) ? (raw.id ?? raw._id ?? raw.sid) : undefined, raw);
    } else if (isObject(all)) {
      for (const handle of Object.keys(all)) consider(handle, all[handle]);
    }
    for (let next of forwarded) {
      for (let hops = 0; hops < MAX_FORWARD_HOPS && !scanned.has(next); hops++) {
        scanned.add(next);
        const raw = await this.call('get', [next]);
        const record = this.unwrap(raw, Date.now());
        if (record?.user === user) entries.push({ handle: next, createdAt: record.createdAt, touchedAt: record.touchedAt });
        const to = this.forwardOf(raw, Date.now());
        if (to === undefined) break;
        next = to;
      }
    }
    return entries;
  }

  /** Does nothing: the wrapped store is the caller's to close. */
  async close(): Promise<void> {}

  private async write(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) {
      await this.call('destroy', [handle]);
      return;
    }
    const kept: Kept = { data: record.data, createdAt: record.createdAt, touchedAt: record.touchedAt };
    if (record.user !== undefined) kept.user = record.user;
    const session = { cookie: new RecordCookie(ttlMs), [this.key]: kept };
    await this.call('set', [handle, session]);
  }

  /** Our record inside an express-session record, or `undefined` if it is missing, expired, a forwarding record or not ours. */
  private unwrap(raw: unknown, now: number): SessionRecord | undefined {
    if (!isObject(raw)) return undefined;
    const kept = raw[this.key];
    if (isObject(kept) && 'movedTo' in kept) return undefined;
    if (!isObject(kept) || !isObject(kept.data) || typeof kept.createdAt !== 'number' || typeof kept.touchedAt !== 'number') return undefined;
    const expires = expiresAt(raw);
    if (expires !== undefined && expires <= now) return undefined;
    const record: SessionRecord = { data: kept.data, createdAt: kept.createdAt, touchedAt: kept.touchedAt };
    if (typeof kept.user === 'string') record.user = kept.user;
    return record;
  }

  /** Where a live forwarding record leads, or `undefined` when `raw` is none (a session, nothing, expired). */
  private forwardOf(raw: unknown, now: number): string | undefined {
    if (!isObject(raw)) return undefined;
    const kept = raw[this.key];
    if (!isObject(kept) || typeof kept.movedTo !== 'string') return undefined;
    const expires = expiresAt(raw);
    return expires === undefined || expires > now ? kept.movedTo : undefined;
  }

  private call(method: keyof ExpressSessionStoreLike, args: unknown[]): Promise<unknown> {
    return callExpressStore(this.store, method, args, this.timeout);
  }

  /** Runs `operation` after every earlier write of `handle` in this process has ended. */
  private serial<T>(handle: string, operation: () => Promise<T>): Promise<T> {
    const before = this.queues.get(handle) ?? Promise.resolve();
    const result = before.then(operation, operation);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(handle, tail);
    void tail.then(() => {
      if (this.queues.get(handle) === tail) this.queues.delete(handle);
    });
    return result;
  }
}
