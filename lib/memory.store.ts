import type { SessionPatch, SessionRecord, SessionStore, SessionStoreUserEntry } from './session-store.interface.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most sessions kept at once. When full, a new session evicts the one used least recently,
   * so memory stays bounded whatever the traffic.
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

interface Entry {
  json: string;
  createdAt: number;
  touchedAt: number;
  expiresAt: number;
  user: string | undefined;
}

/** Sessions checked per slice of a sweep: small enough that one slice takes well under a millisecond. */
const SWEEP_SLICE = 2_000;

/**
 * Sessions in this process's memory: the default store. For one instance only (sessions are
 * lost on restart and not shared between instances); use `RedisStore` behind a load balancer.
 *
 * Values are kept serialized, so no object is shared between the store and request handles.
 * Every operation is synchronous inside, which makes `patch` atomic: parallel requests keep
 * each other's changes. One instance may serve several apps in one process; its sweeper timer
 * never keeps the process alive, and `close()` stops it.
 */
export class MemoryStore implements SessionStore {
  private readonly sessions = new Map<string, Entry>();
  private readonly users = new Map<string, Set<string>>();
  private readonly maxSessions: number;
  private readonly sweepInterval: number;
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.maxSessions = options.maxSessions ?? 100_000;
    this.sweepInterval = options.sweepInterval ?? 60_000;
    if (!Number.isInteger(this.maxSessions) || this.maxSessions < 1) {
      throw new Error(`MemoryStore: maxSessions must be a positive whole number, got ${String(options.maxSessions)}.`);
    }
    if (!(this.sweepInterval > 0)) {
      throw new Error(`MemoryStore: sweepInterval must be a positive number of milliseconds, got ${String(options.sweepInterval)}.`);
    }
  }

  /** How many sessions are held, expired ones not yet swept included. */
  get size(): number {
    return this.sessions.size;
  }

  private live(handle: string, now: number): Entry | undefined {
    const entry = this.sessions.get(handle);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.remove(handle, entry);
      return undefined;
    }
    return entry;
  }

  async get(handle: string): Promise<SessionRecord | undefined> {
    const entry = this.live(handle, Date.now());
    if (entry === undefined) return undefined;
    const record: SessionRecord = { data: JSON.parse(entry.json) as Record<string, unknown>, createdAt: entry.createdAt, touchedAt: entry.touchedAt };
    if (entry.user !== undefined) record.user = entry.user;
    return record;
  }

  async set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    const old = this.sessions.get(handle);
    if (old !== undefined) this.remove(handle, old);
    else if (this.sessions.size >= this.maxSessions) this.evictOne();
    const entry: Entry = {
      json: JSON.stringify(record.data),
      createdAt: record.createdAt,
      touchedAt: record.touchedAt,
      expiresAt: Date.now() + ttlMs,
      user: record.user,
    };
    this.insert(handle, entry);
  }

  async touch(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    const now = Date.now();
    const entry = this.live(handle, now);
    if (entry === undefined) return;
    entry.touchedAt = record.touchedAt;
    entry.expiresAt = now + ttlMs;
    this.bump(handle, entry);
  }

  async patch(handle: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const entry = this.live(handle, now);
    if (entry === undefined) return false;
    const data = patch.clear ? {} : (JSON.parse(entry.json) as Record<string, unknown>);
    for (const key of patch.unset) delete data[key];
    Object.assign(data, patch.set);
    for (const key in patch.incr) {
      const current = data[key];
      data[key] = (typeof current === 'number' ? current : 0) + patch.incr[key]!;
    }
    entry.json = JSON.stringify(data);
    entry.touchedAt = patch.touchedAt;
    entry.expiresAt = now + ttlMs;
    if (patch.user !== undefined) {
      this.unindex(handle, entry.user);
      entry.user = patch.user ?? undefined;
      this.index(handle, entry.user);
    }
    this.bump(handle, entry);
    return true;
  }

  async destroy(handle: string): Promise<void> {
    const entry = this.sessions.get(handle);
    if (entry !== undefined) this.remove(handle, entry);
  }

  async listByUser(user: string): Promise<SessionStoreUserEntry[]> {
    const handles = this.users.get(user);
    if (handles === undefined) return [];
    const now = Date.now();
    const entries: SessionStoreUserEntry[] = [];
    for (const handle of [...handles]) {
      const entry = this.live(handle, now);
      if (entry !== undefined) entries.push({ handle, createdAt: entry.createdAt, touchedAt: entry.touchedAt });
    }
    return entries;
  }

  /** Stops the sweeper and drops every session. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.sessions.clear();
    this.users.clear();
  }

  /** Removes every expired session, a slice at a time, yielding to the event loop between slices. */
  sweep(): Promise<void> {
    if (this.sweeping) return Promise.resolve();
    this.sweeping = true;
    const iterator = this.sessions.entries();
    return new Promise<void>((resolve) => {
      const slice = (): void => {
        const now = Date.now();
        for (let i = 0; i < SWEEP_SLICE; i++) {
          const next = iterator.next();
          if (next.done) {
            this.sweeping = false;
            if (this.sessions.size === 0 && this.timer !== undefined) {
              clearInterval(this.timer);
              this.timer = undefined;
            }
            resolve();
            return;
          }
          const [handle, entry] = next.value;
          if (entry.expiresAt <= now) this.remove(handle, entry);
        }
        setImmediate(slice);
      };
      slice();
    });
  }

  private insert(handle: string, entry: Entry): void {
    this.sessions.set(handle, entry);
    this.index(handle, entry.user);
    if (this.timer === undefined) {
      this.timer = setInterval(() => void this.sweep(), this.sweepInterval);
      this.timer.unref();
    }
  }

  /** Moves a session to the most-recently-used end, so eviction takes the least used. */
  private bump(handle: string, entry: Entry): void {
    this.sessions.delete(handle);
    this.sessions.set(handle, entry);
  }

  private evictOne(): void {
    const first = this.sessions.entries().next();
    if (!first.done) this.remove(first.value[0], first.value[1]);
  }

  private remove(handle: string, entry: Entry): void {
    this.sessions.delete(handle);
    this.unindex(handle, entry.user);
  }

  private index(handle: string, user: string | undefined): void {
    if (user === undefined) return;
    let handles = this.users.get(user);
    if (handles === undefined) this.users.set(user, (handles = new Set()));
    handles.add(handle);
  }

  private unindex(handle: string, user: string | undefined): void {
    if (user === undefined) return;
    const handles = this.users.get(user);
    if (handles === undefined) return;
    handles.delete(handle);
    if (handles.size === 0) this.users.delete(user);
  }
}
