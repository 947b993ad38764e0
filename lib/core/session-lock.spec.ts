import { MemoryStore } from '../stores/memory.store.js';
import type { SessionStore, SessionStoreLease, SessionStoreLockRequest } from '../stores/session-store.interface.js';
import { newHandle } from '../testing/session-store.contract.js';
import { SessionLockHold, type SessionLockHost, resolveLockOptions, SESSION_LOCK_DEFAULTS } from './session-lock.js';
import { SessionBusyException, SessionError, SessionLockLostException, SessionStoreUnavailableException } from './session.errors.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A real MemoryStore whose leases count their renewals. */
class RenewCountingStore extends MemoryStore {
  renewals = 0;

  override async lock(handle: string, request: SessionStoreLockRequest): Promise<SessionStoreLease | undefined> {
    const lease = await super.lock(handle, request);
    if (lease === undefined) return undefined;
    return {
      renew: (ttlMs) => {
        this.renewals++;
        return lease.renew(ttlMs);
      },
      release: () => lease.release(),
    };
  }
}

function hostOf(store: SessionStore): SessionLockHost {
  return { store, storeFailure: (operation, error) => new SessionStoreUnavailableException(operation, { cause: error }) };
}

describe('SessionLockHold', () => {
  let store: RenewCountingStore;
  beforeEach(() => {
    store = new RenewCountingStore();
  });
  afterEach(() => store.close());

  const free = async (handle: string): Promise<boolean> => {
    const lease = await store.lock(handle, { ttlMs: 1_000, waitMs: 0 });
    await lease?.release();
    return lease !== undefined;
  };

  it('fences a commit without a round trip while the lease is fresh, and renews it every third of the ttl', async () => {
    const handle = newHandle();
    const hold = new SessionLockHold(hostOf(store), handle, { ttlMs: 300, waitMs: 0 });
    await hold.taken;
    await hold.fence();
    expect(store.renewals).toBe(0);
    // Renewed every ttl/3 by its timer (100 ms), so the fence still needs none.
    await sleep(160);
    expect(store.renewals).toBeGreaterThanOrEqual(1);
    const renewedByTimer = store.renewals;
    await hold.fence();
    expect(store.renewals).toBe(renewedByTimer);
    hold.ended(true, Promise.resolve());
    await sleep(0);
    expect(await free(handle)).toBe(true);
  });

  it('refuses the commit with a 503 once another holder took the lock it lost', async () => {
    const handle = newHandle();
    // A store whose renewals fail, like one that cannot be reached: the lock runs out.
    const failing: SessionStore = {
      get: (h) => store.get(h),
      set: (h, r, t) => store.set(h, r, t),
      destroy: (h) => store.destroy(h),
      lock: async (h, request) => {
        const lease = await store.lock(h, request);
        return lease && { renew: () => Promise.reject(new Error('unreachable')), release: () => lease.release() };
      },
    };
    const hold = new SessionLockHold(hostOf(failing), handle, { ttlMs: 60, waitMs: 0 });
    await hold.taken;
    await sleep(90);
    const next = await store.lock(handle, { ttlMs: 1_000, waitMs: 0 });
    expect(next).toBeDefined();
    // The renewal fails (503, store unreachable) ...
    await expect(hold.fence()).rejects.toBeInstanceOf(SessionStoreUnavailableException);
    // ... and on a reachable store the lease is found lost: the 503 that says so.
    const lost = new SessionLockHold(hostOf(store), newHandle(), { ttlMs: 60, waitMs: 0 });
    await lost.taken;
    clearInterval((lost as unknown as { timer: NodeJS.Timeout }).timer);
    await sleep(90);
    await expect(lost.fence()).rejects.toBeInstanceOf(SessionLockLostException);
    await next!.release();
  });

  it('answers 409 when the lock stays taken past waitMs, holding nothing', async () => {
    const handle = newHandle();
    const holder = await store.lock(handle, { ttlMs: 1_000, waitMs: 0 });
    const hold = new SessionLockHold(hostOf(store), handle, { ttlMs: 1_000, waitMs: 30 });
    expect(hold.refused).toBe(false);
    await expect(hold.taken).rejects.toBeInstanceOf(SessionBusyException);
    // The request's commits then write nothing (SessionContext.flush).
    expect(hold.refused).toBe(true);
    await holder!.release();
    expect(await free(handle)).toBe(true);
  });

  it('keeps the lock of a request whose client left until its handler saved, then frees it', async () => {
    const handle = newHandle();
    const hold = new SessionLockHold(hostOf(store), handle, { ttlMs: 1_000, waitMs: 0 });
    await hold.taken;
    hold.ended(false, Promise.resolve());
    await sleep(10);
    expect(await free(handle)).toBe(false);
    hold.flushed();
    await sleep(0);
    expect(await free(handle)).toBe(true);
    // Freed: a later commit of the request writes nothing.
    await expect(hold.fence()).rejects.toBeInstanceOf(SessionLockLostException);
  });

  it('stops waiting when the request ends first, and takes nothing', async () => {
    const handle = newHandle();
    const holder = await store.lock(handle, { ttlMs: 1_000, waitMs: 0 });
    const hold = new SessionLockHold(hostOf(store), handle, { ttlMs: 1_000, waitMs: 60_000 });
    hold.ended(false, Promise.resolve());
    await expect(hold.taken).rejects.toBeInstanceOf(SessionBusyException);
    await holder!.release();
    expect(await free(handle)).toBe(true);
  });

  it('turns a store failure into a 503', async () => {
    const broken: SessionStore = { get: async () => undefined, set: async () => undefined, destroy: async () => undefined, lock: () => Promise.reject(new Error('down')) };
    const hold = new SessionLockHold(hostOf(broken), newHandle(), { ttlMs: 1_000, waitMs: 0 });
    await expect(hold.taken).rejects.toBeInstanceOf(SessionStoreUnavailableException);
    expect(hold.refused).toBe(true);
  });

  it('is not refused once taken', async () => {
    const hold = new SessionLockHold(hostOf(store), newHandle(), { ttlMs: 1_000, waitMs: 0 });
    await hold.taken;
    expect(hold.refused).toBe(false);
    hold.ended(true, Promise.resolve());
  });
});

describe('resolveLockOptions', () => {
  it('fills defaults and refuses bad values with a SessionError naming them', () => {
    expect(resolveLockOptions(undefined, SESSION_LOCK_DEFAULTS, 'x')).toEqual({ waitMs: 10_000, ttlMs: 30_000 });
    expect(resolveLockOptions({ waitMs: 0 }, { waitMs: 5, ttlMs: 500 }, 'x')).toEqual({ waitMs: 0, ttlMs: 500 });
    expect(() => resolveLockOptions({ waitMs: Number.NaN }, SESSION_LOCK_DEFAULTS, '@SessionLock()')).toThrow(SessionError);
    expect(() => resolveLockOptions({ ttlMs: 5 }, SESSION_LOCK_DEFAULTS, '@SessionLock()')).toThrow(/ttlMs must be a number of milliseconds, 10 or more/);
  });
});
