import { FORWARDING_TTL_MS, type SessionPatch, type SessionRecord, type SessionStore, type SessionStoreLease, type SessionStoreLockRequest, type SessionStoreUserEntry } from './session-store.interface.js';
import { SessionError } from '../core/session.errors.js';
import { recordFromJson } from '../core/session-value.js';
import { patchedSessionJson } from './session-json.splice.js';

/**
 * The synchronous read of a store that has one (internal, not exported from the package): see
 * `MemoryStore[readNow]`. Found by the runtime on the store it calls, and passed on by the
 * OpenTelemetry wrapper only while nothing is traced or timed.
 */
export const readNow: unique symbol = Symbol('nestjs-sessionkit.readNow');

/** A store with a synchronous read (internal): the record, `undefined` when none, `null` to read with `get` instead. */
export interface ReadNowStore {
  [readNow]?(handle: string): SessionRecord | undefined | null;
}

/**
 * The synchronous patch and set of a store that has them (internal, not exported from the
 * package): see `MemoryStore[patchNow]` and `MemoryStore[setNow]`. Used by the runtime's commit
 * done at once, and passed on by the OpenTelemetry wrapper only while nothing is traced or timed.
 */
export const patchNow: unique symbol = Symbol('nestjs-sessionkit.patchNow');
export const setNow: unique symbol = Symbol('nestjs-sessionkit.setNow');

/**
 * A store that writes synchronously (internal): what `patch` resolves to, `true` once set, or
 * `null`, with nothing done, to write with `patch` or `set` instead.
 */
export interface WriteNowStore {
  [patchNow]?(handle: string, patch: SessionPatch, ttlMs: number): boolean | null;
  [setNow]?(handle: string, record: SessionRecord, ttlMs: number): true | null;
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most sessions kept at once. When full, a new session evicts one used least recently, so
   * memory stays bounded whatever the traffic. Reads count as use, as do writes and touches.
   * Sessions without a user (no `authKey` value) are evicted first: a new session evicts an
   * anonymous one while any is held, and a logged-in one only when there is none, so a flood of
   * new visitors cannot push out logged-in users. Before either, a user holding more than its
   * share (1% of `maxSessions`, at least 1 session) loses its own oldest session (by when it was
   * logged in), so one account logging in over and over evicts only itself, never another user.
   * Within each kind eviction is
   * least-recently-used per shard (see {@link MemoryStore}): exact when `maxSessions` is below
   * 2,048 (one shard), close to the overall least recently used otherwise.
   * @defaultValue `100_000`
   */
  maxSessions?: number;
  /**
   * How often (milliseconds) expired sessions are swept out. Sweeping runs in small slices, so
   * it never blocks the event loop for long; reads also drop expired sessions on the spot.
   * @defaultValue `60_000`
   */
  sweepInterval?: number;
}

/**
 * One session, packed into a single flat string: a session costs a string and a `Map` slot, no
 * object and no boxed numbers (an object with three timestamps cost about 120 bytes more).
 *
 * - characters 0-23: `expiresAt`, `createdAt` and `touchedAt`, each the 8 bytes of its float64 as
 *   8 characters below 256 (exact for any number, and never turning the string two-byte);
 * - then, when the session has a user: its length in decimal, `:`, the user;
 * - then the data as JSON, which always starts with `{`, so a digit there means a user.
 */
type Packed = string;

const EXPIRES_AT = 0;
const CREATED_AT = 8;
const TOUCHED_AT = 16;
const HEADER = 24;
const OPEN_BRACE = 123;
const COLON = 58;
const ZERO = 48;

const times = new Float64Array(3);
const timeBytes = new Uint8Array(times.buffer);

function time(packed: Packed, at: number): number {
  for (let i = 0; i < 8; i++) timeBytes[i] = packed.charCodeAt(at + i);
  return times[0]!;
}

/** A session's string: `rest` is what follows the times (the user part, then the JSON). */
function pack(expiresAt: number, createdAt: number, touchedAt: number, rest: string): Packed {
  times[0] = expiresAt;
  times[1] = createdAt;
  times[2] = touchedAt;
  const b = timeBytes;
  // prettier-ignore
  const header = String.fromCharCode(
    b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, b[5]!, b[6]!, b[7]!, b[8]!, b[9]!, b[10]!, b[11]!,
    b[12]!, b[13]!, b[14]!, b[15]!, b[16]!, b[17]!, b[18]!, b[19]!, b[20]!, b[21]!, b[22]!, b[23]!,
  );
  // One flat block: V8 keeps a concatenation (and JSON.stringify's output) as a tree of pieces,
  // about 100 bytes more for a typical session; join() copies the pieces into one new string.
  return [header, rest].join('');
}

function rest(user: string | undefined, json: string): string {
  return user === undefined ? json : `${user.length}:${user}${json}`;
}

/** The user length that {@link userStart} read last: its second result, without allocating a pair. */
let userLength = 0;
/** Where the user of a logged-in session starts, after `<length>:`. */
function userStart(packed: Packed): number {
  // The digits are read in place: no string is made (the sweep calls this for each session it drops).
  let length = 0;
  let i = HEADER;
  for (let c = packed.charCodeAt(i); c !== COLON; c = packed.charCodeAt(++i)) length = length * 10 + (c - ZERO);
  userLength = length;
  return i + 1;
}

/** Where the JSON starts. */
function jsonStart(packed: Packed): number {
  if (packed.charCodeAt(HEADER) === OPEN_BRACE) return HEADER;
  return userStart(packed) + userLength;
}

function userOf(packed: Packed): string | undefined {
  if (packed.charCodeAt(HEADER) === OPEN_BRACE) return undefined;
  const start = userStart(packed);
  return packed.slice(start, start + userLength);
}

/** The handles of one user: one handle as a plain string (the usual case, no `Set` to pay for), more as a `Set`. */
type UserHandles = string | Set<string>;

/** A request waiting for a session's lock in a {@link MemoryStore}. */
interface LockWaiter {
  ttlMs: number;
  grant(lease: MemoryLease): void;
}

/** The lock of one session in a {@link MemoryStore}: its holder, and the waiters in arrival order. */
interface LockQueue {
  holder: MemoryLease | undefined;
  waiters: LockWaiter[];
}

/** A holder of a {@link MemoryStore} lock; it expires by a timer that never keeps the process alive. */
class MemoryLease implements SessionStoreLease {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly locks: Map<string, LockQueue>,
    private readonly handle: string,
    private readonly queue: LockQueue,
    ttlMs: number,
  ) {
    this.expireIn(ttlMs);
  }

  private expireIn(ttlMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.free(), ttlMs);
    this.timer.unref();
  }

  get held(): boolean {
    return this.queue.holder === this;
  }

  async renew(ttlMs: number): Promise<boolean> {
    if (!this.held) return false;
    this.expireIn(ttlMs);
    return true;
  }

  async release(): Promise<void> {
    if (this.held) this.free();
  }

  /** Hands the lock to the first waiter, or forgets the queue when none waits. */
  private free(): void {
    clearTimeout(this.timer);
    if (!this.held) return;
    const next = this.queue.waiters.shift();
    if (next === undefined) {
      this.queue.holder = undefined;
      this.locks.delete(this.handle);
      return;
    }
    const lease = new MemoryLease(this.locks, this.handle, this.queue, next.ttlMs);
    this.queue.holder = lease;
    next.grant(lease);
  }
}

/** The most sessions checked per slice of a sweep. */
const SWEEP_SLICE = 2_000;
/**
 * The time a sweep slice may take (milliseconds) before it yields, whatever it has checked: one
 * session costs about a microsecond when the store is large (cache misses), more while the CPU is
 * shared, so a fixed count alone could block the event loop for several milliseconds.
 */
const SWEEP_SLICE_MS = 1;
/** Sessions checked between two looks at the clock. */
const SWEEP_CLOCK_EVERY = 64;
/** The fewest sessions a shard is sized for: with fewer, eviction would stray further from least-recently-used. */
const MIN_SESSIONS_PER_SHARD = 1_024;
/** The most shards (a power of two). */
const MAX_SHARDS = 1_024;

/** The sessions of one kind (anonymous or logged in) in one shard, least recently used first. */
class Shard extends Map<string, Packed> {
  /**
   * The session at the most-recently-used end, if known: a session used again right after its
   * last use (one visitor's requests in a row) stays where it is, with no delete and re-insert.
   */
  newest: string | undefined = undefined;
}

/**
 * Which shard a key goes to: a 32-bit FNV-1a hash of the key (of its first and last 8 characters
 * when it is longer than 16), mixed and masked. Store handles are 64 hex characters of a hash,
 * but any string works, and sequential keys (`user1`, `user2`, ...) spread evenly too.
 */
function shardOf(key: string, mask: number): number {
  if (mask === 0) return 0;
  const n = key.length;
  let h = 0x811c9dc5;
  if (n <= 16) {
    for (let i = 0; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  } else {
    for (let i = 0; i < 8; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    for (let i = n - 8; i < n; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x45d9f3b);
  h ^= h >>> 16;
  return h & mask;
}

/**
 * Sessions in this process's memory: the default store. For one instance only (sessions are
 * lost on restart and not shared between instances); use `RedisStore` behind a load balancer.
 *
 * Values are kept serialized, so no object is shared between the store and request handles.
 * Every operation is synchronous inside, which makes `patch` atomic: parallel requests keep
 * each other's changes. One instance may serve several apps in one process; its sweeper timer
 * never keeps the process alive, and `close()` stops it.
 *
 * Sessions (and the per-user index) are spread over many small `Map`s by a hash of the handle
 * (of the user), about one shard per 1,024 of `maxSessions`, up to 1,024 shards. A `Map` shrinks
 * and rehashes itself when deletes leave it under a quarter full, which for one `Map` of a
 * million sessions blocks the event loop for tens of milliseconds; small shards keep each such
 * step, and each sweep slice, short. Because of the shards, eviction at `maxSessions` is
 * least-recently-used within the shard a new session goes to, approximately LRU overall. Each
 * shard keeps anonymous and logged-in sessions in two `Map`s, each in least-recently-used order
 * (a read, write or touch moves a session to the end), so eviction can take anonymous ones first.
 */
export class MemoryStore implements SessionStore {
  /** How long (milliseconds) a `move` leaves a forwarding record under the old handle. */
  readonly forwardingTtl = FORWARDING_TTL_MS;
  /** Sessions without a user, by shard, least recently used first. */
  private readonly anonymous: Shard[];
  /** Sessions with a user, by shard, least recently used first. */
  private readonly loggedIn: Shard[];
  /** Every session `Map`, for the sweep. */
  private readonly shards: Shard[];
  private readonly users: Map<string, UserHandles>[];
  /** The most sessions one user holds before its own go first at eviction: 1% of `maxSessions`. */
  private readonly userShare: number;
  /**
   * Users holding more than {@link MemoryStore.userShare} sessions, each with its handles in the
   * order they were logged in, from `head` on (a queue: handles destroyed since are skipped when
   * reached, since walking a `Set` from its front past deleted slots would cost more each time).
   */
  private readonly overShare = new Map<string, { queue: string[]; head: number }>();
  /** Shard count − 1 (the count is a power of two). */
  private readonly mask: number;
  private readonly maxSessions: number;
  private readonly sweepInterval: number;
  private count = 0;
  /** Forwarding records: old handle → where it moved and until when, oldest first (one ttl for all). */
  private readonly forwards = new Map<string, { to: string; until: number }>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** Session locks (`@SessionLock()`) held or waited for, by handle. */
  private readonly locks = new Map<string, LockQueue>();

  constructor(options: MemoryStoreOptions = {}) {
    this.maxSessions = options.maxSessions ?? 100_000;
    this.sweepInterval = options.sweepInterval ?? 60_000;
    if (!Number.isInteger(this.maxSessions) || this.maxSessions < 1) {
      throw new SessionError(`MemoryStore: maxSessions must be a positive whole number, got ${String(options.maxSessions)}.`);
    }
    if (!(this.sweepInterval > 0)) {
      throw new SessionError(`MemoryStore: sweepInterval must be a positive number of milliseconds, got ${String(options.sweepInterval)}.`);
    }
    this.userShare = Math.max(1, Math.floor(this.maxSessions / 100));
    let shards = 1;
    while (shards < MAX_SHARDS && this.maxSessions / (shards * 2) >= MIN_SESSIONS_PER_SHARD) shards *= 2;
    this.mask = shards - 1;
    this.anonymous = Array.from({ length: shards }, () => new Shard());
    this.loggedIn = Array.from({ length: shards }, () => new Shard());
    this.shards = [...this.anonymous, ...this.loggedIn];
    this.users = Array.from({ length: shards }, () => new Map<string, UserHandles>());
  }

  /** How many sessions are held, expired ones not yet swept included. */
  get size(): number {
    return this.count;
  }

  /** The session under `handle` in shard `index`, expired or not. */
  private find(index: number, handle: string): Packed | undefined {
    return this.loggedIn[index]!.get(handle) ?? this.anonymous[index]!.get(handle);
  }

  /** The `Map` of shard `index` for a session with or without a user. */
  private mapOf(index: number, packed: Packed): Shard {
    return (packed.charCodeAt(HEADER) === OPEN_BRACE ? this.anonymous : this.loggedIn)[index]!;
  }

  private live(index: number, handle: string, now: number): Packed | undefined {
    const packed = this.find(index, handle);
    if (packed === undefined) return undefined;
    if (time(packed, EXPIRES_AT) <= now) {
      this.remove(this.mapOf(index, packed), handle, packed);
      return undefined;
    }
    return packed;
  }

  async get(handle: string): Promise<SessionRecord | undefined> {
    return this.read(handle);
  }

  /**
   * What `get` resolves to, at once (for the runtime: no promise, no async frame on a read);
   * `null` when `get` is not this class's own (a subclass or a test replaced it): read through it then.
   */
  [readNow](handle: string): SessionRecord | undefined | null {
    return this.get === MemoryStore.prototype.get ? this.read(handle) : null;
  }

  private read(handle: string): SessionRecord | undefined {
    const index = shardOf(handle, this.mask);
    const packed = this.live(index, handle, Date.now());
    if (packed === undefined) return undefined;
    // A read is a use: the session moves away from eviction.
    bump(this.mapOf(index, packed), handle, packed);
    return recordFromJson(packed.slice(jsonStart(packed)), time(packed, CREATED_AT), time(packed, TOUCHED_AT), userOf(packed));
  }

  async set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    this.put(handle, record, ttlMs);
  }

  /** `set`, done at once (for the runtime, as `patchNow`); `null`, with nothing written, when `set` is not this class's own. */
  [setNow](handle: string, record: SessionRecord, ttlMs: number): true | null {
    if (this.set !== MemoryStore.prototype.set) return null;
    this.put(handle, record, ttlMs);
    return true;
  }

  async move(from: string, to: string, record: SessionRecord, ttlMs: number): Promise<boolean> {
    const index = shardOf(from, this.mask);
    const packed = this.live(index, from, Date.now());
    if (packed === undefined) return false;
    this.remove(this.mapOf(index, packed), from, packed);
    this.put(to, record, ttlMs);
    const now = Date.now();
    this.pruneForwards(now);
    // Bounded like the sessions: a flood of logins cannot grow it past maxSessions.
    if (this.forwards.size >= this.maxSessions) this.forwards.delete(this.forwards.keys().next().value!);
    this.forwards.set(from, { to, until: now + this.forwardingTtl });
    return true;
  }

  /** Drops the forwarding records that expired: they are in expiry order. */
  private pruneForwards(now: number): void {
    for (const [from, { until }] of this.forwards) {
      if (until > now) return;
      this.forwards.delete(from);
    }
  }

  async touch(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    const now = Date.now();
    const index = shardOf(handle, this.mask);
    const packed = this.live(index, handle, now);
    if (packed === undefined) return;
    bump(this.mapOf(index, packed), handle, pack(now + ttlMs, time(packed, CREATED_AT), record.touchedAt, packed.slice(HEADER)));
  }

  async patch(handle: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    return this.patchSync(handle, patch, ttlMs);
  }

  /**
   * What `patch` resolves to, at once (for the runtime: no promise, no async frame on a commit);
   * `null`, with nothing written, when `patch` is not this class's own: patch through it then.
   */
  [patchNow](handle: string, patch: SessionPatch, ttlMs: number): boolean | null {
    return this.patch === MemoryStore.prototype.patch ? this.patchSync(handle, patch, ttlMs) : null;
  }

  private patchSync(handle: string, patch: SessionPatch, ttlMs: number): boolean {
    const now = Date.now();
    const index = shardOf(handle, this.mask);
    const packed = this.live(index, handle, now);
    if (packed === undefined) return false;
    // Spliced into the stored text where it can be: no parse and stringify of the whole session.
    const json = patchedSessionJson(packed, jsonStart(packed), patch);
    const old = userOf(packed);
    const user = patch.user === undefined ? old : (patch.user ?? undefined);
    const next = pack(now + ttlMs, time(packed, CREATED_AT), patch.touchedAt, rest(user, json));
    if (user !== old) {
      // Logged in or out: the session changes index, and Map (anonymous or logged-in).
      this.remove(this.mapOf(index, packed), handle, packed);
      this.insert(index, handle, next, user);
    } else {
      bump(this.mapOf(index, next), handle, next);
    }
    return true;
  }

  async destroy(handle: string): Promise<void> {
    const index = shardOf(handle, this.mask);
    const packed = this.find(index, handle);
    if (packed !== undefined) {
      this.remove(this.mapOf(index, packed), handle, packed);
      return;
    }
    // A moved session: follow its forwarding records to where it lives now.
    const now = Date.now();
    for (let from = handle, hops = 0; hops < this.forwards.size + 1; hops++) {
      const forward = this.forwards.get(from);
      if (forward === undefined || forward.until <= now) return;
      this.forwards.delete(from);
      const to = this.find(shardOf(forward.to, this.mask), forward.to);
      if (to !== undefined) {
        this.remove(this.mapOf(shardOf(forward.to, this.mask), to), forward.to, to);
        return;
      }
      from = forward.to;
    }
  }

  /** Removes every session of `user` but `except`, at once: nothing runs in between. */
  async destroyByUser(user: string, except?: string): Promise<string[]> {
    const handles = this.users[shardOf(user, this.mask)]!.get(user);
    if (handles === undefined) return [];
    const now = Date.now();
    const destroyed: string[] = [];
    for (const handle of typeof handles === 'string' ? [handles] : [...handles]) {
      if (handle === except) continue;
      const index = shardOf(handle, this.mask);
      const packed = this.find(index, handle);
      if (packed === undefined) continue;
      this.remove(this.mapOf(index, packed), handle, packed);
      if (time(packed, EXPIRES_AT) > now) destroyed.push(handle);
    }
    return destroyed;
  }

  async listByUser(user: string): Promise<SessionStoreUserEntry[]> {
    const handles = this.users[shardOf(user, this.mask)]!.get(user);
    if (handles === undefined) return [];
    const now = Date.now();
    const entries: SessionStoreUserEntry[] = [];
    for (const handle of typeof handles === 'string' ? [handles] : [...handles]) {
      const packed = this.live(shardOf(handle, this.mask), handle, now);
      if (packed !== undefined) entries.push({ handle, createdAt: time(packed, CREATED_AT), touchedAt: time(packed, TOUCHED_AT) });
    }
    return entries;
  }

  /**
   * The lock of a session for `@SessionLock()`: an in-process queue per session, so waiting
   * requests get the lock strictly in arrival order, the moment it is freed.
   */
  lock(handle: string, request: SessionStoreLockRequest): Promise<SessionStoreLease | undefined> {
    let queue = this.locks.get(handle);
    if (queue === undefined) {
      queue = { holder: undefined, waiters: [] };
      this.locks.set(handle, queue);
    }
    if (queue.holder === undefined) {
      const lease = new MemoryLease(this.locks, handle, queue, request.ttlMs);
      queue.holder = lease;
      return Promise.resolve(lease);
    }
    if (request.waitMs <= 0 || request.signal?.aborted === true) return Promise.resolve(undefined);
    const waiters = queue.waiters;
    const { signal } = request;
    return new Promise((resolve) => {
      const giveUp = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        const at = waiters.indexOf(waiter);
        if (at >= 0) waiters.splice(at, 1);
        resolve(undefined);
      };
      const waiter: LockWaiter = {
        ttlMs: request.ttlMs,
        grant: (lease) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', giveUp);
          resolve(lease);
        },
      };
      const timer = setTimeout(giveUp, request.waitMs);
      signal?.addEventListener('abort', giveUp, { once: true });
      waiters.push(waiter);
    });
  }

  /** Always up: the sessions are in this process. */
  async ping(): Promise<void> {}

  /** Stops the sweeper and drops every session. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const shard of this.shards) {
      shard.clear();
      shard.newest = undefined;
    }
    for (const shard of this.users) shard.clear();
    this.overShare.clear();
    this.forwards.clear();
    this.count = 0;
  }

  /**
   * Removes every expired session, a slice at a time (at most 2,000 sessions or about 1 ms per
   * slice), yielding to the event loop with `setImmediate` between slices.
   */
  sweep(): Promise<void> {
    if (this.sweeping) return Promise.resolve();
    this.sweeping = true;
    let shardIndex = 0;
    let iterator: IterableIterator<[string, Packed]> | undefined;
    this.pruneForwards(Date.now());
    return new Promise<void>((resolve) => {
      const slice = (): void => {
        const started = performance.now();
        const now = Date.now();
        let checked = 0;
        while (checked < SWEEP_SLICE) {
          if (checked % SWEEP_CLOCK_EVERY === SWEEP_CLOCK_EVERY - 1 && performance.now() - started >= SWEEP_SLICE_MS) break;
          if (iterator === undefined) {
            if (shardIndex >= this.shards.length) {
              this.sweeping = false;
              if (this.count === 0 && this.timer !== undefined) {
                clearInterval(this.timer);
                this.timer = undefined;
              }
              resolve();
              return;
            }
            iterator = this.shards[shardIndex]!.entries();
          }
          const next = iterator.next();
          if (next.done) {
            iterator = undefined;
            shardIndex++;
            continue;
          }
          checked++;
          const [handle, packed] = next.value;
          if (time(packed, EXPIRES_AT) <= now) this.remove(this.shards[shardIndex]!, handle, packed);
        }
        setImmediate(slice);
      };
      slice();
    });
  }

  /** `set` inside: stores `record` under `handle`, evicting a session if the store is full. */
  private put(handle: string, record: SessionRecord, ttlMs: number): void {
    const index = shardOf(handle, this.mask);
    const old = this.find(index, handle);
    if (old !== undefined) this.remove(this.mapOf(index, old), handle, old);
    else if (this.count >= this.maxSessions) this.evictOne(index);
    const packed = pack(Date.now() + ttlMs, record.createdAt, record.touchedAt, rest(record.user, JSON.stringify(record.data)));
    this.insert(index, handle, packed, record.user);
  }

  private insert(index: number, handle: string, packed: Packed, user: string | undefined): void {
    const shard = this.mapOf(index, packed);
    shard.set(handle, packed);
    shard.newest = handle;
    this.count++;
    this.index(handle, user);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.sweep(), this.sweepInterval);
      this.timer.unref();
    }
  }

  /**
   * Evicts the oldest session of a user holding more than its share, if there is one. Otherwise
   * the least recently used anonymous session of shard `index`, where the new session goes, or of
   * the next shard that has one; only when no anonymous session is held, the least recently used
   * logged-in one, the same way.
   */
  private evictOne(index: number): void {
    for (const [user, order] of this.overShare) {
      const handles = this.users[shardOf(user, this.mask)]!.get(user);
      while (typeof handles === 'object' && order.head < order.queue.length) {
        const oldest = order.queue[order.head++]!;
        if (!handles.has(oldest)) continue;
        const at = shardOf(oldest, this.mask);
        const packed = this.find(at, oldest);
        if (packed === undefined) continue;
        this.remove(this.mapOf(at, packed), oldest, packed);
        if (order.head > 1_024 && order.head * 2 > order.queue.length) {
          order.queue = order.queue.slice(order.head);
          order.head = 0;
        }
        return;
      }
      this.overShare.delete(user);
    }
    for (const shards of [this.anonymous, this.loggedIn]) {
      for (let i = 0; i <= this.mask; i++) {
        const shard = shards[(index + i) & this.mask]!;
        if (shard.size === 0) continue;
        const first = shard.entries().next();
        if (!first.done) this.remove(shard, first.value[0], first.value[1]);
        return;
      }
    }
  }

  private remove(shard: Shard, handle: string, packed: Packed): void {
    if (shard.delete(handle)) {
      this.count--;
      if (shard.newest === handle) shard.newest = undefined;
    }
    this.unindex(handle, userOf(packed));
  }

  private index(handle: string, user: string | undefined): void {
    if (user === undefined) return;
    const shard = this.users[shardOf(user, this.mask)]!;
    const handles = shard.get(user);
    if (handles === undefined) shard.set(user, handle);
    else if (typeof handles !== 'string') {
      if (handles.has(handle)) return;
      handles.add(handle);
      if (handles.size > this.userShare) this.queueOverShare(user, handles, handle);
    } else if (handles !== handle) {
      const both = new Set([handles, handle]);
      shard.set(user, both);
      if (both.size > this.userShare) this.queueOverShare(user, both, handle);
    }
  }

  /** Keeps the eviction order of a user over its share: `handle` was just logged in. */
  private queueOverShare(user: string, handles: Set<string>, handle: string): void {
    const order = this.overShare.get(user);
    if (order === undefined) this.overShare.set(user, { queue: [...handles], head: 0 });
    else if (order.queue.length - order.head > 2 * handles.size + 1_024) {
      // Mostly handles destroyed since: start again from the user's live ones.
      order.queue = [...handles];
      order.head = 0;
    } else order.queue.push(handle);
  }

  private unindex(handle: string, user: string | undefined): void {
    if (user === undefined) return;
    const shard = this.users[shardOf(user, this.mask)]!;
    const handles = shard.get(user);
    if (handles === undefined) return;
    if (typeof handles === 'string') {
      if (handles === handle) shard.delete(user);
      return;
    }
    handles.delete(handle);
    if (handles.size <= this.userShare) this.overShare.delete(user);
    if (handles.size === 0) shard.delete(user);
    else if (handles.size === 1) shard.set(user, handles.values().next().value!);
  }
}

/** Moves a session to the most-recently-used end of its shard, so eviction takes the least used. */
function bump(shard: Shard, handle: string, packed: Packed): void {
  if (shard.newest === handle) {
    // Already the most recently used: only the value changes, in place.
    shard.set(handle, packed);
    return;
  }
  shard.delete(handle);
  shard.set(handle, packed);
  shard.newest = handle;
}
