// Types only: an app that never constructs a RedisStore never loads ioredis (an optional peer dependency).
import type { Cluster, Redis } from 'ioredis';
import { type LuaScript, SCRIPTS } from './redis.scripts.js';
import { randomBytes } from 'node:crypto';
import { FORWARDING_TTL_MS, type SessionPatch, type SessionRecord, type SessionStore, type SessionStoreLease, type SessionStoreLockRequest, type SessionStoreUserEntry } from './session-store.interface.js';
import { LockPoller } from './store-lock.poller.js';
import { SessionError } from '../core/session.errors.js';
import { CheckedSessionRecord, emptySessionData, isReservedKey, jsonMayHoldReservedKey } from '../core/session-value.js';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * The ioredis client to use: a `Redis` (one server, or a Sentinel-managed master with
   * `new Redis({ sentinels, name })`) or a `Cluster`. ioredis 5 and 6 are supported.
   *
   * The client stays yours: the store opens no connection or other handle of its own, and
   * `close()` does not quit the client. Quit it yourself on shutdown, after the app has closed.
   * With Sentinel, pass `new Redis({ sentinels: [{ host, port }], name: 'mymaster' })`: the
   * store follows the master ioredis is connected to.
   */
  client: Redis | Cluster;
  /**
   * Prefix of every key the store writes. Give each app (or environment) sharing one Redis its
   * own prefix. Session keys are `<prefix><handle>`, user indexes `<prefix>user:<user>`; an
   * ioredis `keyPrefix` set on the client is added in front of both, as usual.
   * @defaultValue `'sess:'`
   */
  prefix?: string;
  /**
   * Batch size of the scans the store runs: `listByUser` reads a user's index with `ZSCAN ...
   * COUNT scanCount` and checks that many sessions per batch of (pipelined) `HMGET`s. Raise it for
   * users with very many sessions; lower it to keep each reply small.
   * @defaultValue `100`
   */
  scanCount?: number;
  /**
   * The longest (milliseconds) any store operation may take, waiting for a connection included.
   * Past it the operation rejects, so a request that needs the session gets a 503 within this
   * bound while Redis is down instead of hanging in ioredis' offline queue (which, by default,
   * holds commands until the server is back). An operation that timed out while waiting for the
   * connection is never sent later. Works whatever the client's `enableOfflineQueue`,
   * `maxRetriesPerRequest` and `commandTimeout` settings are.
   * @defaultValue `2000`
   */
  commandTimeout?: number;
}

/** The subset of the ioredis API the store uses, common to `Redis` and `Cluster` in ioredis 5 and 6. */
interface CommandClient {
  readonly status: string;
  readonly isCluster?: boolean;
  readonly options?: { keyPrefix?: unknown };
  evalsha(sha: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<string | null>;
  ping(): Promise<string>;
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]>;
  hdel(key: string, ...fields: string[]): Promise<number>;
  zscan(key: string, cursor: string, countToken: 'COUNT', count: number): Promise<[string, string[]]>;
  scan(cursor: string, matchToken: 'MATCH', pattern: string, countToken: 'COUNT', count: number): Promise<[string, string[]]>;
  /** A Cluster's nodes. */
  nodes?(role: 'master'): CommandClient[];
  once(event: 'ready', listener: () => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
}

// Reserved hash fields. Data fields are the data key with a leading '.', so they can never clash.
const CREATED = '@c';
const TOUCHED = '@t';
const USER = '@u';
const INDEXED = '@x';
/** The field of a forwarding record (the handle its session moved to); no session hash has it. */
const MOVED_TO = '@m';
const DATA = '.';
/** Continuation fields of a long value: `+1.key`, `+2.key`, ... after `.key`. */
const MORE = '+';
const DATA_CODE = DATA.charCodeAt(0);
const MORE_CODE = MORE.charCodeAt(0);

/**
 * Values longer than this many bytes are split over several fields. Redis keeps a small hash in
 * one compact block (a listpack) only while every field and value is at most
 * `hash-max-listpack-value` bytes (64 by default); a single longer value turns the whole hash into
 * a hashtable, about twice the memory for a typical session.
 */
const CHUNK_BYTES = 64;
/** Longer values stay whole: the hash would outgrow a listpack anyway (`hash-max-listpack-entries`). */
const MAX_CHUNKS = 16;

/** Appends the field/value pairs that store `json` under `field`: one pair, or one per chunk. */
function pushValue(out: string[], field: string, json: string): void {
  if (json.length * 3 <= CHUNK_BYTES) {
    out.push(field, json);
    return;
  }
  const bytes = Buffer.byteLength(json);
  if (bytes <= CHUNK_BYTES || bytes > CHUNK_BYTES * MAX_CHUNKS) {
    out.push(field, json);
    return;
  }
  // Cut between characters (never inside a UTF-8 sequence or a surrogate pair): ioredis decodes each reply field alone.
  let chunk = 0;
  let start = 0;
  let size = 0;
  for (let i = 0; i < json.length; ) {
    const c = json.charCodeAt(i);
    const surrogatePair = c >= 0xd800 && c <= 0xdbff && i + 1 < json.length;
    const width = c < 0x80 ? 1 : c < 0x800 ? 2 : surrogatePair ? 4 : 3;
    if (size + width > CHUNK_BYTES) {
      out.push(chunk === 0 ? field : `${MORE}${chunk}${field}`, json.slice(start, i));
      chunk++;
      start = i;
      size = 0;
    }
    size += width;
    i += surrogatePair ? 2 : 1;
  }
  out.push(chunk === 0 ? field : `${MORE}${chunk}${field}`, json.slice(start));
}

/** The JSON stored under data field `field`, whose first piece is `first`, its continuation fields from `more` appended. */
function valueOf(first: string, field: string, more: Map<string, string>): string {
  let next = more.get(`${MORE}1${field}`);
  if (next === undefined) return first;
  let json = first;
  for (let chunk = 2; next !== undefined; chunk++) {
    json += next;
    next = more.get(`${MORE}${chunk}${field}`);
  }
  return json;
}

/** Client statuses in which a command would sit in ioredis' offline queue: wait for `ready` instead. */
const CONNECTING = new Set(['connecting', 'connect', 'reconnecting']);

/** What a cluster-mode session script asks the client to do on the user indexes. */
interface IndexFollowUp {
  put: { user: string; score: string } | undefined;
  remove: string | undefined;
}

function noop(): void {}

/** True when Redis would hash `key` by a `{tag}` in it rather than by the whole key. */
function hasHashTag(key: string): boolean {
  const open = key.indexOf('{');
  return open >= 0 && key.indexOf('}', open + 1) > open + 1;
}

function ttlArg(ttlMs: number): number {
  return Math.ceil(ttlMs);
}

/**
 * Sessions in Redis, shared by every instance of the app: `new RedisStore({ client })` with an
 * ioredis client (`npm install ioredis`; versions 5 and 6), given to `SessionModule.forRoot({ store })`.
 *
 * ```ts
 * import { Cluster, Redis } from 'ioredis';
 *
 * const client = new Redis(process.env.REDIS_URL);                                  // one server
 * // const client = new Redis({ sentinels: [{ host: 'sentinel-1', port: 26379 }], name: 'mymaster' }); // Sentinel
 * // const client = new Cluster([{ host: 'redis-1', port: 6379 }]);                  // Redis Cluster
 * SessionModule.forRoot({ secret, store: new RedisStore({ client }) });
 * ```
 *
 * **Ownership.** The client belongs to the caller: the store opens no connection and keeps no
 * background timer (only a timeout per running operation), and `close()` does not quit the
 * client. Quit it yourself after the app has closed.
 *
 * **Key layout.** Keys hold no session id: the core hands the store one-way hashes (handles).
 * - `<prefix><handle>`: a hash per session, expiring with the session (`PEXPIRE`). Fields:
 *   `@c` created at and `@t` last touched (epoch milliseconds, decimal), `@u` the user (the
 *   string form of the `authKey` value, when logged in), `@x` (Cluster only: the expiry last
 *   written to the user index), and one field per session value: `.` + the key, holding
 *   `JSON.stringify(value)`. A value of 65 bytes to 1 KiB is cut into pieces of at most 64 bytes:
 *   `.` + the key holds the first, `+1.` + the key the next, and so on, so that the hash stays in
 *   Redis's compact listpack encoding (see `hash-max-listpack-value`). Reserved fields start with
 *   `@`, data fields with `.`, continuations with `+`, so no key can clash with them.
 *   After a move, the old handle's key is a forwarding record for `forwardingTtl` (10 s): a hash
 *   with the one field `@m`, the new handle. Only `destroy` follows it; having no `@c`, it is no
 *   session to anything else.
 * - `<prefix>user:<user>`: a sorted set per logged-in user: members are the user's session
 *   handles, scored by their expiry (epoch milliseconds, Redis clock). Expired members are
 *   trimmed on every index write, and the key itself expires with its last member, so it never
 *   grows without bound.
 *
 * **Round trips and atomicity.** Loading is one read-only script (`EVALSHA`) that sends the hash
 * back as one JSON string, which the client decodes far faster than an `HGETALL` reply of two
 * strings per field. `set`, `patch`, `touch`, `move`,
 * `destroy` and `destroyByUser` are each one Lua script (`EVALSHA`, falling back to `EVAL` once per server), so a
 * change is applied whole or not at all; `patch`, `touch` and `move` change nothing when the
 * session no longer exists, so a destroyed or expired session is never brought back (on a
 * Cluster `move` takes two commands, see there). `incr` adds to the
 * JSON number inside Redis, so parallel increments are never lost. On a single server or
 * Sentinel the same script also updates the user index (a key it computes, which Redis allows
 * outside Cluster), so the index is always exact. On a Cluster the index lives in another hash
 * slot, so it is updated by a second command when a user logs in or out, and about once per
 * session lifetime otherwise (the index score carries one ttl of headroom). That is best
 * effort: `listByUser` checks every member and drops those whose session is gone or now
 * belongs to someone else, and a lost index write is retried by the session's next write.
 *
 * - `{<prefix><handle>}:lock` (`<prefix><handle>:lock` when the prefix holds a `{tag}` already;
 *   an ioredis `keyPrefix` goes inside the braces too, as well as in front): the session's lock while a `@SessionLock()` request holds it, a random token, expiring after
 *   the lock's `ttlMs`. The braces put it in the session's hash slot on a Cluster.
 *
 * **Locks** (`@SessionLock()`). Taken with `SET NX PX`; renewed and released by scripts that
 * act only while the key still holds the holder's token, so an expired holder never frees or
 * extends a newer holder's lock. Requests of one session on one instance queue in the process, in
 * arrival order, and the first of them tries `SET NX` with a growing wait (2 to 50 ms,
 * jittered) while another instance holds the lock: no pub/sub connection is opened, and across
 * instances whoever tries first after a release gets the lock. With Sentinel a failover can lose a
 * lock that was not yet replicated, as any single-key Redis lock can.
 *
 * **Failures.** Every failure is a rejection (the core answers 503), never an unhandled one.
 * While the client is (re)connecting, an operation waits for it to be ready at most
 * `commandTimeout` and is then dropped unsent, so nothing piles up in ioredis' offline queue.
 * A command already sent when the connection drops may still be resent by ioredis on reconnect
 * after its caller got the timeout; even then `patch` and `touch` never recreate a destroyed
 * session. When Redis is back, the client reconnects and the sessions it kept work again.
 */
export class RedisStore implements SessionStore {
  /** How long (milliseconds) a `move` leaves a forwarding record (`@m`: the new handle) under the old key. */
  readonly forwardingTtl = FORWARDING_TTL_MS;
  private readonly client: CommandClient;
  private readonly prefix: string;
  private readonly scanCount: number;
  private readonly commandTimeout: number;
  private readonly cluster: boolean;
  /** Prefix of user index keys as Lua scripts must spell them (ioredis' keyPrefix included). */
  private readonly luaIndexPrefix: string;
  /** Prefix of session keys as Lua scripts must spell them (ioredis' keyPrefix included). */
  private readonly luaKeyPrefix: string;
  /** Its length in bytes, as Lua counts: the patch script finds the handle in the key after it. */
  private readonly luaKeyPrefixBytes: number;
  private readyWaiter: Promise<void> | undefined;
  private stopWaiting: (() => void) | undefined;
  private closed = false;
  private readonly lockWaits = new LockPoller();

  constructor(options: RedisStoreOptions) {
    const client = options?.client as unknown as CommandClient | undefined;
    if (client === undefined || client === null || typeof client.evalsha !== 'function' || typeof client.hmget !== 'function') {
      throw new SessionError('RedisStore: `client` must be an ioredis Redis or Cluster instance, e.g. new RedisStore({ client: new Redis(process.env.REDIS_URL) }).');
    }
    this.client = client;
    this.prefix = options.prefix ?? 'sess:';
    if (typeof this.prefix !== 'string') throw new SessionError(`RedisStore: prefix must be a string, got ${String(options.prefix)}.`);
    this.scanCount = options.scanCount ?? 100;
    if (!Number.isInteger(this.scanCount) || this.scanCount < 1) {
      throw new SessionError(`RedisStore: scanCount must be a positive whole number, got ${String(options.scanCount)}.`);
    }
    this.commandTimeout = options.commandTimeout ?? 2_000;
    if (typeof this.commandTimeout !== 'number' || !(this.commandTimeout > 0) || !Number.isFinite(this.commandTimeout)) {
      throw new SessionError(`RedisStore: commandTimeout must be a positive number of milliseconds, got ${String(options.commandTimeout)}.`);
    }
    this.cluster = client.isCluster === true;
    const keyPrefix = client.options?.keyPrefix;
    this.luaKeyPrefix = `${keyPrefix === undefined || keyPrefix === null ? '' : String(keyPrefix)}${this.prefix}`;
    this.luaIndexPrefix = `${this.luaKeyPrefix}user:`;
    this.luaKeyPrefixBytes = Buffer.byteLength(this.luaKeyPrefix);
  }

  async get(handle: string): Promise<SessionRecord | undefined> {
    const reply = await this.run('get', () => this.script(SCRIPTS.read, this.key(handle), []));
    if (typeof reply !== 'string') return undefined;
    // The hash as the read script sends it: field, value, field, value, ...
    const hash = JSON.parse(reply) as string[];
    let created: string | undefined;
    let touched: string | undefined;
    let user: string | undefined;
    // Continuation fields, if the hash has any: `+1.key` holds the second piece of `.key`'s value.
    let more: Map<string, string> | undefined;
    for (let i = 0; i + 1 < hash.length; i += 2) {
      const field = hash[i]!;
      if (field.charCodeAt(0) === MORE_CODE) (more ??= new Map()).set(field, hash[i + 1]!);
      else if (field === CREATED) created = hash[i + 1];
      else if (field === TOUCHED) touched = hash[i + 1];
      else if (field === USER) user = hash[i + 1];
    }
    if (created === undefined) return undefined;
    // Prototype-less: a field named ".__proto__" becomes an own key, never the prototype.
    const data = emptySessionData();
    // Whether no key or value can hold a reserved key: then the runtime takes the data as it is.
    let checked = true;
    for (let i = 0; i + 1 < hash.length; i += 2) {
      const field = hash[i]!;
      if (field.charCodeAt(0) !== DATA_CODE) continue;
      const key = field.slice(1);
      const json = more === undefined ? hash[i + 1]! : valueOf(hash[i + 1]!, field, more);
      if (checked && (isReservedKey(key) || jsonMayHoldReservedKey(json))) checked = false;
      data[key] = JSON.parse(json);
    }
    const createdAt = Number(created);
    const touchedAt = Number(touched ?? created);
    if (checked) return new CheckedSessionRecord(data, createdAt, touchedAt, user);
    return user === undefined ? { data, createdAt, touchedAt } : { data, createdAt, touchedAt, user };
  }

  async set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    await this.run('set', () => this.write(handle, this.recordArgs(this.recordHeader(record, ttlMs), record)));
  }

  /**
   * One script on a single server, which also leaves a forwarding record under `from` for
   * {@link RedisStore.forwardingTtl}. On a Cluster the new session is written first, then the
   * old one claimed (replaced by the forwarding record, only if it still exists) by a second
   * script; when the claim fails, the new session, which has no cookie yet, is destroyed again.
   * So whatever `destroy` or `destroyByUser` lands in between, under either handle, wins.
   */
  async move(from: string, to: string, record: SessionRecord, ttlMs: number): Promise<boolean> {
    const header = this.recordHeader(record, ttlMs);
    const claim = `${header} ${this.forwardingTtl} ${to}`;
    return this.run('move', async () => {
      // On a Cluster the script only claims the old session: the record goes to the set script.
      if (this.cluster) await this.write(to, this.recordArgs(header, record));
      const reply = await this.script(SCRIPTS.move, this.key(from), this.cluster ? [claim] : this.recordArgs(claim, record));
      if (!this.applied(reply)) {
        if (this.cluster) await this.destroyFrom(to, '');
        return false;
      }
      if (this.cluster) {
        const [, hadUser, oldUser] = reply as unknown[];
        // Best effort: a member left behind is dropped by listByUser, its session being gone.
        if (Number(hadUser) === 1) await this.script(SCRIPTS.index, this.indexKey(String(oldUser)), ['rem', from]).catch(noop);
      }
      return true;
    });
  }

  async patch(handle: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    const user = patch.user;
    // args[0], the header, is written last: it counts what follows.
    const args: string[] = [''];
    if (typeof user === 'string') args.push(user);
    for (const key of patch.unset) args.push(DATA + key);
    let unset = patch.unset.length;
    let set: string[] | undefined;
    for (const key of Object.keys(patch.set)) {
      const json = JSON.stringify(patch.set[key]);
      if (json === undefined) {
        args.push(DATA + key);
        unset++;
      } else pushValue((set ??= []), DATA + key, json);
    }
    if (set !== undefined) for (const item of set) args.push(item);
    let incr = 0;
    for (const key of Object.keys(patch.incr)) {
      args.push(DATA + key, String(patch.incr[key]));
      incr++;
    }
    const userOp = user === undefined ? 'k' : user === null ? 'd' : 's';
    args[0] = `${this.inline}${patch.clear ? '1' : '0'}${userOp} ${this.luaKeyPrefixBytes} ${ttlArg(ttlMs)} ${patch.touchedAt} ${unset} ${(set?.length ?? 0) / 2} ${incr}`;
    return this.run('patch', () => this.script(SCRIPTS.patch, this.key(handle), args).then((reply) => this.afterWrite(handle, reply)));
  }

  async touch(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    const header = `${this.inline} ${this.luaKeyPrefixBytes} ${ttlArg(ttlMs)} ${record.touchedAt}`;
    await this.run('touch', () => this.script(SCRIPTS.touch, this.key(handle), [header]).then((reply) => this.afterWrite(handle, reply)));
  }

  /** Deletes the session, or the forwarding record a move left under `handle` and the session it leads to. */
  async destroy(handle: string): Promise<void> {
    await this.run('destroy', () => this.destroyFrom(handle, ''));
  }

  /**
   * Deletes every session of `user` but `except`. On a single server one script does it all at
   * once. On a Cluster the sessions live in other hash slots than the index: one script reads the
   * index, then each session is destroyed by its own script, only if it still belongs to `user`,
   * following the forwarding record of a session moved meanwhile.
   */
  async destroyByUser(user: string, except?: string): Promise<string[]> {
    return this.run('destroyByUser', async () => {
      const reply = (await this.script(SCRIPTS.destroyUser, this.indexKey(user), [this.inline, this.luaKeyPrefix, user, except ?? ''])) as string[];
      if (!this.cluster) return reply.map(String);
      const destroyed: string[] = [];
      for (const handle of reply.map(String)) {
        if (handle !== except && (await this.destroyFrom(handle, user))) destroyed.push(handle);
      }
      return destroyed;
    });
  }

  /**
   * Runs the destroy script on `handle` (with `user`: only a session of that user) and, on a
   * Cluster, the index upkeep and the forwarding hops it asks for. True if a session was deleted.
   */
  private async destroyFrom(handle: string, user: string): Promise<boolean> {
    let deleted = false;
    let current = handle;
    for (let hop = 0; hop < 8; hop++) {
      const reply = await this.script(SCRIPTS.destroy, this.key(current), [`${this.inline} ${this.luaKeyPrefixBytes} ${user}`]);
      // One server: a number, the script having followed the moves itself.
      if (!Array.isArray(reply)) return deleted || reply === 1;
      deleted ||= Number(reply[4]) === 1;
      if (Number(reply[1]) === 1) {
        // Best effort: a member left behind is dropped by listByUser, its session being gone.
        await this.script(SCRIPTS.index, this.indexKey(String(reply[2])), ['rem', current]).catch(noop);
      }
      const to = String(reply[3]);
      if (to === '') break;
      current = to;
    }
    return deleted;
  }

  async listByUser(user: string): Promise<SessionStoreUserEntry[]> {
    return this.run('listByUser', async () => {
      const indexKey = this.indexKey(user);
      const members = new Map<string, string>();
      let cursor = '0';
      do {
        const [next, items] = await this.client.zscan(indexKey, cursor, 'COUNT', this.scanCount);
        for (let i = 0; i + 1 < items.length; i += 2) members.set(items[i]!, items[i + 1]!);
        cursor = String(next);
      } while (cursor !== '0');

      const entries: SessionStoreUserEntry[] = [];
      const dead: string[] = [];
      const handles = [...members.keys()];
      for (let i = 0; i < handles.length; i += this.scanCount) {
        const batch = handles.slice(i, i + this.scanCount);
        const rows = await Promise.all(batch.map((h) => this.client.hmget(this.key(h), CREATED, TOUCHED, USER)));
        rows.forEach(([created, touched, owner], j) => {
          const handle = batch[j]!;
          if (created !== null && owner === user) {
            entries.push({ handle, createdAt: Number(created), touchedAt: Number(touched ?? created) });
          } else {
            // Expired, destroyed, or now another user's session: drop it unless re-added meanwhile.
            dead.push(handle, members.get(handle)!);
          }
        });
      }
      if (dead.length > 0) await this.script(SCRIPTS.index, indexKey, ['drop', ...dead]);
      return entries;
    });
  }

  /**
   * How many sessions Redis holds under the store's prefix: a `SCAN` of the keyspace (of every
   * master, in a cluster), `scanCount` keys a step, each step within `commandTimeout`. Costs a
   * walk over all keys, so the `session.live` gauge reads it only when `telemetry.countSessions` asks.
   */
  async countSessions(): Promise<number> {
    // MATCH patterns are not given ioredis' keyPrefix, and keys come back with it.
    const pattern = `${this.luaKeyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let count = 0;
    for (const node of this.cluster ? (this.client.nodes?.('master') ?? []) : [this.client]) {
      // Keys come back with the client's keyPrefix, which commands add again: strip it.
      const clientPrefix = node.options?.keyPrefix;
      const strip = clientPrefix === undefined || clientPrefix === null ? 0 : String(clientPrefix).length;
      let cursor = '0';
      do {
        const [next, keys] = await this.run('countSessions', () => node.scan(cursor, 'MATCH', pattern, 'COUNT', this.scanCount));
        // User indexes and session locks (`…:lock`, which a handle never ends with) share the prefix.
        const sessions = keys.filter((key) => !key.startsWith(this.luaIndexPrefix) && !key.endsWith(':lock'));
        // Forwarding records left by moves share the session key space but are not sessions.
        const moved = await this.run('countSessions', () => Promise.all(sessions.map((key) => node.hmget(key.slice(strip), MOVED_TO))));
        for (const [value] of moved) if (value === null || value === undefined) count++;
        cursor = String(next);
      } while (cursor !== '0');
    }
    return count;
  }

  /** The session's lock for `@SessionLock()`: `SET NX PX` with a random token, retried until `waitMs`. */
  async lock(handle: string, request: SessionStoreLockRequest): Promise<SessionStoreLease | undefined> {
    const key = this.lockKey(handle);
    const token = randomBytes(16).toString('base64url');
    const ttl = ttlArg(request.ttlMs);
    return this.lockWaits.lock(handle, request, {
      take: async () => (await this.run('lock', () => this.client.set(key, token, 'PX', ttl, 'NX'))) === 'OK',
      renew: async (ttlMs) => Number(await this.run('renewLock', () => this.script(SCRIPTS.lockRenew, key, [token, ttlArg(ttlMs)]))) === 1,
      release: async () => {
        await this.run('releaseLock', () => this.script(SCRIPTS.lockRelease, key, [token]));
      },
    });
  }

  /** Sends `PING`; rejects if Redis does not answer within `commandTimeout` (for health checks). */
  async ping(): Promise<void> {
    await this.run('ping', () => this.client.ping());
  }

  /**
   * Stops waiting for the client to become ready; later calls reject. Does not quit the client,
   * which belongs to the caller.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWaiting?.();
  }

  /** The header the set and move scripts read first (one argument rather than eight: each costs the client some encoding). */
  private recordHeader(record: SessionRecord, ttlMs: number): string {
    return `${this.inline}${record.user === undefined ? '0' : '1'} ${this.luaKeyPrefixBytes} ${ttlArg(ttlMs)} ${record.createdAt} ${record.touchedAt}`;
  }

  /** The arguments of the set or move script writing `record`: `header`, the user if any, the values. */
  private recordArgs(header: string, record: SessionRecord): string[] {
    const args = [header];
    if (record.user !== undefined) args.push(record.user);
    for (const key of Object.keys(record.data)) {
      const json = JSON.stringify(record.data[key]);
      if (json !== undefined) pushValue(args, DATA + key, json);
    }
    return args;
  }

  /** Runs the set script. A failed index write fails it: the new session never gets its cookie, so it is unreachable. */
  private write(handle: string, args: string[]): Promise<unknown> {
    const written = this.script(SCRIPTS.set, this.key(handle), args);
    // On one server the script kept the index itself: no follow-up to wait for.
    return this.cluster ? written.then((reply) => this.followUp(handle, reply, true)) : written;
  }

  private get inline(): string {
    return this.cluster ? '0' : '1';
  }

  private key(handle: string): string {
    return this.prefix + handle;
  }

  /** The lock key of a session, in the session's hash slot. */
  private lockKey(handle: string): string {
    // ioredis puts its keyPrefix in front of the key it is given; the tag must cover that too.
    return hasHashTag(this.luaKeyPrefix + handle) ? `${this.key(handle)}:lock` : `{${this.luaKeyPrefix}${handle}}:lock`;
  }

  private indexKey(user: string): string {
    return `${this.prefix}user:${user}`;
  }

  /** Whether a session script did its work: 1 on one server, 0 when the session was gone, a list starting with 1 on a Cluster. */
  private applied(reply: unknown): boolean {
    return reply === 1 || (Array.isArray(reply) && Number(reply[0]) === 1);
  }

  /** Whether a patch or touch script found the session; on a Cluster, once the index upkeep it asked for is done. */
  private afterWrite(handle: string, reply: unknown): boolean | Promise<boolean> {
    if (!this.applied(reply)) return false;
    return this.cluster ? this.followUp(handle, reply, false).then(() => true) : true;
  }

  /** Cluster mode: carries out on the user indexes what the session script asked for. */
  private async followUp(handle: string, reply: unknown, strict: boolean): Promise<void> {
    if (!this.cluster || !Array.isArray(reply)) return;
    const todo: IndexFollowUp = {
      put: Number(reply[1]) === 1 ? { user: String(reply[2]), score: String(reply[3]) } : undefined,
      remove: Number(reply[4]) === 1 ? String(reply[5]) : undefined,
    };
    if (todo.remove !== undefined) {
      // Best effort: listByUser drops members whose session now belongs to someone else.
      await this.script(SCRIPTS.index, this.indexKey(todo.remove), ['rem', handle]).catch(noop);
    }
    if (todo.put !== undefined) {
      try {
        await this.script(SCRIPTS.index, this.indexKey(todo.put.user), ['put', handle, todo.put.score]);
      } catch (error) {
        // Forget the index write so that the session's next write tries again.
        await this.client.hdel(this.key(handle), INDEXED).catch(noop);
        if (strict) throw error;
      }
    }
  }

  /** Runs a script by its SHA1, sending its source only when the server does not know it yet. */
  private script(script: LuaScript, key: string, args: (string | number)[]): Promise<unknown> {
    return this.client.evalsha(script.sha, 1, key, ...args).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.client.eval(script.source, 1, key, ...args);
    });
  }

  /**
   * Runs `operation` within `commandTimeout`, waiting for a (re)connecting client to become ready
   * first. Whatever `operation` does after the deadline can no longer reject unhandled. One
   * promise and one timer per operation: this runs on every request.
   */
  private run<T>(name: string, operation: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SessionError(`RedisStore: ${name} called after close().`));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new SessionError(`RedisStore: ${name} got no answer from Redis within ${this.commandTimeout} ms (client status: ${this.client.status}).`));
      }, this.commandTimeout);
      timer.unref();
      const succeed = (result: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const fail = (error: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      };
      const start = (): void => {
        // Too late: the caller was already told it failed, so it must not happen now.
        if (settled) return;
        try {
          operation().then(succeed, fail);
        } catch (error) {
          fail(error);
        }
      };
      if (CONNECTING.has(this.client.status)) void this.whenReady().then(start);
      else start();
    });
  }

  /** One shared wait for the client's next `ready` event, however many operations wait. */
  private whenReady(): Promise<void> {
    this.readyWaiter ??= new Promise<void>((resolve) => {
      const onReady = (): void => {
        this.readyWaiter = undefined;
        this.stopWaiting = undefined;
        resolve();
      };
      this.client.once('ready', onReady);
      this.stopWaiting = () => {
        this.client.off('ready', onReady);
        this.readyWaiter = undefined;
        this.stopWaiting = undefined;
      };
    });
    return this.readyWaiter;
  }
}
