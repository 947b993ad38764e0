import { Injectable } from '@nestjs/common';
import { MemoryStore, RedisStore, type SessionPatch, type SessionRecord, type SessionStore, type SessionStoreLease, type SessionStoreLockRequest, type SessionStoreUserEntry } from 'nestjs-sessionkit';

/**
 * A real MemoryStore behind a wrapper that counts every call and can be switched to fail, so
 * tests can see what the library asked of its store.
 */
@Injectable()
export class CountingStore implements SessionStore {
  readonly inner = new MemoryStore();
  readonly calls = { get: 0, set: 0, touch: 0, patch: 0, move: 0, destroy: 0, listByUser: 0, destroyByUser: 0, close: 0 };
  readonly forwardingTtl = this.inner.forwardingTtl;
  /** When true, get() (and listByUser()) reject. */
  failReads = false;
  /** When true, set(), touch(), patch(), move() and destroy() reject. */
  failWrites = false;
  /**
   * When true, records are kept far past the TTL the library asks for, like a store that is slow
   * to expire: then only the library's own checks end sessions.
   */
  keepForever = false;

  /** Writes of any kind: set, touch, patch and move. */
  get writes(): number {
    return this.calls.set + this.calls.touch + this.calls.patch + this.calls.move;
  }

  get size(): number {
    return this.inner.size;
  }

  reset(): void {
    for (const key of Object.keys(this.calls) as (keyof CountingStore['calls'])[]) this.calls[key] = 0;
  }

  private ttl(ttlMs: number): number {
    return this.keepForever ? 3_600_000 : ttlMs;
  }

  private check(write: boolean): void {
    if (write ? this.failWrites : this.failReads) throw new Error(`test store: ${write ? 'write' : 'read'} refused`);
  }

  async get(handle: string): Promise<SessionRecord | undefined> {
    this.calls.get++;
    this.check(false);
    return this.inner.get(handle);
  }

  async set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    this.calls.set++;
    this.check(true);
    return this.inner.set(handle, record, this.ttl(ttlMs));
  }

  async touch(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    this.calls.touch++;
    this.check(true);
    return this.inner.touch(handle, record, this.ttl(ttlMs));
  }

  async patch(handle: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    this.calls.patch++;
    this.check(true);
    return this.inner.patch(handle, patch, this.ttl(ttlMs));
  }

  async move(from: string, to: string, record: SessionRecord, ttlMs: number): Promise<boolean> {
    this.calls.move++;
    this.check(true);
    return this.inner.move(from, to, record, this.ttl(ttlMs));
  }

  async destroy(handle: string): Promise<void> {
    this.calls.destroy++;
    this.check(true);
    return this.inner.destroy(handle);
  }

  async listByUser(user: string): Promise<SessionStoreUserEntry[]> {
    this.calls.listByUser++;
    this.check(false);
    return this.inner.listByUser(user);
  }

  async destroyByUser(user: string, except?: string): Promise<string[]> {
    this.calls.destroyByUser++;
    this.check(true);
    return this.inner.destroyByUser(user, except);
  }

  /** Session locks taken or waited for (`@SessionLock()`). */
  locks = 0;
  /** When true, renewals of the locks held reject, like a store that cannot be reached. */
  failRenewals = false;

  async lock(handle: string, request: SessionStoreLockRequest): Promise<SessionStoreLease | undefined> {
    this.locks++;
    const lease = await this.inner.lock(handle, request);
    if (lease === undefined) return undefined;
    return {
      renew: async (ttlMs) => {
        if (this.failRenewals) throw new Error('test store: renewal refused');
        return lease.renew(ttlMs);
      },
      release: () => lease.release(),
    };
  }

  async close(): Promise<void> {
    this.calls.close++;
    await this.inner.close();
  }
}

/** A real RedisStore that counts its `get` calls (what a cookie made the library look up). */
export class CountingRedisStore extends RedisStore {
  gets = 0;
  /** When set, records live this much longer than the library asks, like a store slow to expire. */
  extraTtl = 0;

  override get(handle: string): Promise<SessionRecord | undefined> {
    this.gets++;
    return super.get(handle);
  }

  override set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    return super.set(handle, record, ttlMs + this.extraTtl);
  }
}

/**
 * Any store, keeping records `extraTtl` ms longer than the library asks, like a store slow to
 * expire: then only the library's own checks end sessions.
 */
export class LingeringStore implements SessionStore {
  constructor(
    private readonly inner: SessionStore,
    private readonly extraTtl: number,
  ) {}

  init(): Promise<void> {
    return this.inner.init?.() ?? Promise.resolve();
  }

  get(handle: string): Promise<SessionRecord | undefined> {
    return this.inner.get(handle);
  }

  set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    return this.inner.set(handle, record, ttlMs + this.extraTtl);
  }

  destroy(handle: string): Promise<void> {
    return this.inner.destroy(handle);
  }
}
