import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { MemoryStore, patchNow, readNow } from '../stores/memory.store.js';
import { resolveSessionOptions } from '../session-options.js';
import { SessionRuntime } from './session.runtime.js';
import { SessionValueError } from './session-value.js';
import { COMMITTED } from './session.context.js';
import { SessionStoreUnavailableException, SessionTooLargeError } from './session.errors.js';
import type { SessionEvent } from './session.events.js';
import type { SessionPatch, SessionRecord, SessionStore } from '../stores/session-store.interface.js';

const SECRET = 'a-long-random-enough-test-secret-0123456789';

/** A MemoryStore that records every call, to assert what the core asks of a store. */
class RecordingStore implements SessionStore {
  readonly inner = new MemoryStore();
  readonly calls: { op: string; patch?: SessionPatch; record?: SessionRecord }[] = [];
  get(handle: string) {
    this.calls.push({ op: 'get' });
    return this.inner.get(handle);
  }
  set(handle: string, record: SessionRecord, ttl: number) {
    this.calls.push({ op: 'set', record: structuredClone(record) });
    return this.inner.set(handle, record, ttl);
  }
  destroy(handle: string) {
    this.calls.push({ op: 'destroy' });
    return this.inner.destroy(handle);
  }
  touch(handle: string, record: SessionRecord, ttl: number) {
    this.calls.push({ op: 'touch' });
    return this.inner.touch(handle, record, ttl);
  }
  patch(handle: string, patch: SessionPatch, ttl: number) {
    this.calls.push({ op: 'patch', patch: structuredClone(patch) });
    return this.inner.patch(handle, patch, ttl);
  }
  move(from: string, to: string, record: SessionRecord, ttl: number) {
    this.calls.push({ op: 'move', record: structuredClone(record) });
    return this.inner.move(from, to, record, ttl);
  }
  ops() {
    return this.calls.splice(0).map((c) => c.op);
  }
}

/** An Express-like response: just the header methods the core uses. */
function response() {
  const headers = new Map<string, string | string[]>();
  return {
    headersSent: false,
    headers,
    getHeader: (name: string) => headers.get(name),
    setHeader: (name: string, value: string | string[]) => void headers.set(name, value),
  };
}

describe('SessionRuntime', () => {
  let store: RecordingStore;
  let runtime: SessionRuntime;
  let cookie: string;

  async function request(fn: (s: Awaited<ReturnType<SessionRuntime['load']>>) => void | Promise<void>) {
    const req = { headers: { cookie } };
    const res = response();
    const session = await runtime.load(req, res);
    await fn(session);
    await runtime.commit(session);
    const set = res.headers.get('set-cookie');
    if (typeof set === 'string') cookie = set.split(';')[0]!;
    return { session, res };
  }

  beforeEach(async () => {
    store = new RecordingStore();
    // A touch interval well above what two in-memory requests take even on a busy CI machine.
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET, touchInterval: 500, idleTimeout: 10_000 }), store);
    cookie = '';
    await request((s) => s.set('cart', [{ sku: 'a', qty: 1 }]));
    expect(store.ops()).toEqual(['set']);
  });
  afterEach(() => store.inner.close());

  it('writes nothing for a request that only reads, within the touch interval', async () => {
    const { res } = await request((s) => {
      expect(s.get('cart')).toEqual([{ sku: 'a', qty: 1 }]);
      s.all();
    });
    expect(store.ops()).toEqual(['get']);
    expect(res.headers.size).toBe(0);
  });

  it('touches once the interval has passed', async () => {
    await new Promise((r) => setTimeout(r, 550));
    await request(() => undefined);
    expect(store.ops()).toEqual(['get', 'touch']);
    await request(() => undefined);
    expect(store.ops()).toEqual(['get']);
  });

  it('saves an object changed in place after get(), as a patch of that key only', async () => {
    await request((s) => {
      (s.get('cart') as { qty: number }[])[0]!.qty = 5;
    });
    const [, patch] = store.calls.splice(0);
    expect(patch).toMatchObject({ op: 'patch', patch: { set: { cart: [{ sku: 'a', qty: 5 }] }, unset: [], clear: false } });
    await request((s) => expect(s.get('cart')).toEqual([{ sku: 'a', qty: 5 }]));
  });

  it('sends increments as increments, and set() after increment() as a set', async () => {
    await request((s) => {
      s.increment('n');
      s.increment('n', 2);
      s.increment('m');
      s.set('m', 10);
    });
    expect(store.calls.splice(0)[1]!.patch).toMatchObject({ set: { m: 10 }, incr: { n: 3 } });
  });

  it('tracks the per-user value when the auth key changes', async () => {
    await request((s) => s.set('userId', 7));
    expect(store.calls.splice(0)[1]!.patch!.user).toBe('7');
    await request((s) => s.delete('userId'));
    expect(store.calls.splice(0)[1]!.patch!.user).toBeNull();
  });

  it('counts only a non-empty string or a number as the user', async () => {
    for (const [value, user] of [['ada', 'ada'], [0, '0'], ['', null], [true, null], [{ id: 1 }, null], [[1], null]] as const) {
      await request((s) => s.set('userId', value as never));
      expect(store.calls.splice(0)[1]!.patch!.user).toBe(user);
    }
  });

  it('warns once, naming the key and the fix, when the value at authKey is an object', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      await request((s) => s.set('userId', { id: 1 } as never));
      await request((s) => s.set('userId', [1] as never));
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]![0]).toMatch(/authKey "userId" is an object, not a user id \(a string or a number\).*counts as logged out.*done\(null, user\.id\)/);
    } finally {
      warn.mockRestore();
    }
  });

  it('with a dotted authKey, tracks the user at that path, set whole, changed in place or removed', async () => {
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET, authKey: 'passport.user', touchInterval: 500, idleTimeout: 10_000 }), store);
    cookie = '';
    // Passport's login: a new `passport` object, then its `user` set in place.
    await request((s) => {
      s.set('passport', {});
      (s.get('passport') as { user?: number }).user = 42;
    });
    expect(store.calls.splice(0)[0]).toMatchObject({ op: 'set', record: { data: { passport: { user: 42 } }, user: '42' } });
    // Passport's logout: `delete req.session.passport.user`, in place.
    await request((s) => {
      delete (s.get('passport') as { user?: number }).user;
    });
    expect(store.calls.splice(0)[1]).toMatchObject({ op: 'patch', patch: { set: { passport: {} }, user: null } });
    await request((s) => s.set('passport', { user: 'ada' }));
    expect(store.calls.splice(0)[1]!.patch!.user).toBe('ada');
    // A key of its own beside the path leaves the user alone; a top-level `passport.user` key is not the path.
    await request((s) => s.set('passport.user', 'mallory'));
    expect(store.calls.splice(0)[1]!.patch).not.toHaveProperty('user');
    await request((s) => s.delete('passport'));
    expect(store.calls.splice(0)[1]!.patch!.user).toBeNull();
  });

  it('refuses at commit an object made unstorable in place, changing nothing', async () => {
    await expect(
      request((s) => {
        (s.get('cart') as unknown[]).push(() => 1);
      }),
    ).rejects.toThrow(/key "cart" cannot be stored: cart\[1\] is a function/);
    await request((s) => expect(s.get('cart')).toEqual([{ sku: 'a', qty: 1 }]));
  });

  it('writes nothing when a value equal to the stored one is set, an equal object included', async () => {
    await request((s) => {
      s.set('cart', [{ sku: 'a', qty: 1 }]);
      s.set('n', 1);
    });
    expect(store.ops()).toEqual(['get', 'patch']);
    await request((s) => {
      s.set('n', 1);
      s.set('cart', [{ sku: 'a', qty: 1 }]);
    });
    expect(store.ops()).toEqual(['get']);
  });

  it('still saves an equal object set in place of the stored one and changed in place afterwards', async () => {
    await request((s) => {
      const cart = [{ sku: 'a', qty: 1 }];
      s.set('cart', cart);
      cart[0]!.qty = 2;
    });
    expect(store.calls.splice(0)[1]!.patch).toMatchObject({ set: { cart: [{ sku: 'a', qty: 2 }] } });
  });

  it('saves a value set back after get() changed it in place to something else', async () => {
    await request((s) => {
      (s.get('cart') as { qty: number }[])[0]!.qty = 9;
      s.set('cart', [{ sku: 'a', qty: 1 }]);
    });
    // Equal to the stored value: the in-place change is undone and nothing is written.
    expect(store.ops()).toEqual(['get']);
    await request((s) => expect(s.get('cart')).toEqual([{ sku: 'a', qty: 1 }]));
  });

  it('reload() of a session gone from the store throws SessionGoneError and leaves the session as it was', async () => {
    await expect(
      request(async (s) => {
        await store.inner.destroy(s.handle);
        s.set('unsaved', 1);
        await s.reload();
      }),
    ).rejects.toThrow(/^failed to load session/);
  });

  it('writes whole records with set() for a store without patch', async () => {
    const noPatch: SessionStore = { get: (h) => store.get(h), set: (h, r, t) => store.set(h, r, t), destroy: (h) => store.destroy(h) };
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET }), noPatch);
    await request((s) => s.set('b', 2));
    expect(store.calls.splice(0).map((c) => [c.op, c.record?.data])).toEqual([
      ['get', undefined],
      ['set', { cart: [{ sku: 'a', qty: 1 }], b: 2 }],
    ]);
  });

  it('flash messages are read once', async () => {
    await request((s) => s.flash('info', 'hello'));
    await request((s) => expect(s.flash('info')).toEqual(['hello']));
    await request((s) => expect(s.flash('info')).toEqual([]));
    await request((s) => expect(s.all()).toEqual({ cart: [{ sku: 'a', qty: 1 }] }));
  });

  it('loads a request\'s session once, whoever asks first and however many ask at once', async () => {
    const req = { headers: { cookie } };
    const res = response();
    const [a, b] = await Promise.all([runtime.load(req, res), runtime.load(req, res)]);
    expect(a).toBe(b);
    expect(await runtime.load(req, res)).toBe(a);
    expect(store.ops()).toEqual(['get']);
    expect(a.get('cart')).toEqual([{ sku: 'a', qty: 1 }]);
  });

  it('regenerate moves the data to a new id on commit, with the store\'s move', async () => {
    const before = cookie;
    let oldHandle = '';
    const { session } = await request(async (s) => {
      oldHandle = s.handle;
      await s.regenerate();
      s.set('userId', 7);
    });
    expect(cookie).not.toBe(before);
    expect(store.ops()).toEqual(['get', 'move']);
    expect(await store.inner.get(oldHandle)).toBeUndefined();
    expect(await store.inner.get(session.handle)).toMatchObject({ data: { cart: [{ sku: 'a', qty: 1 }], userId: 7 }, user: '7' });
    expect(store.inner.size).toBe(1);
  });

  it('regenerate of a session destroyed meanwhile leaves it destroyed: no data under any id, cookie cleared', async () => {
    const before = cookie;
    const { session, res } = await request(async (s) => {
      // A logout from another tab lands while this request runs.
      await store.inner.destroy(s.handle);
      await s.regenerate();
      s.set('userId', 7);
    });
    expect(store.ops()).toEqual(['get', 'move']);
    expect(store.inner.size).toBe(0);
    expect(await store.inner.get(session.handle)).toBeUndefined();
    expect(session.all()).toEqual({});
    expect(res.headers.get('set-cookie')).toMatch(/^sid=; Max-Age=0/);
    // A second commit of the same request (the interceptor commits on each event) writes nothing.
    await runtime.commit(session);
    expect(store.ops()).toEqual([]);
    cookie = before;
    await request((s) => expect(s.isNew).toBe(true));
  });

  it('regenerate then destroy in one request removes the old record', async () => {
    const { session } = await request(async (s) => {
      await s.regenerate();
      await s.destroy();
    });
    expect(store.inner.size).toBe(0);
    expect(session.isNew).toBe(true);
  });

  it('without a store move, checks that the old record exists, then destroys it and sets the new one', async () => {
    const noMove: SessionStore = {
      get: (h) => store.get(h),
      set: (h, r, t) => store.set(h, r, t),
      destroy: (h) => store.destroy(h),
      patch: (h, p, t) => store.patch(h, p, t),
    };
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET }), noMove);
    await request((s) => s.regenerate());
    expect(store.ops()).toEqual(['get', 'get', 'destroy', 'set']);
    expect(store.inner.size).toBe(1);
    const { res } = await request(async (s) => {
      await store.inner.destroy(s.handle);
      await s.regenerate();
    });
    expect(store.ops()).toEqual(['get', 'get']);
    expect(store.inner.size).toBe(0);
    expect(res.headers.get('set-cookie')).toMatch(/^sid=; Max-Age=0/);
  });

  it('refuses stored data holding a reserved key, and keeps session data prototype-less', async () => {
    const { session } = await request(() => undefined);
    expect(Object.getPrototypeOf(session.data)).toBeNull();
    expect(() => session.set('__proto__', { userId: 'victim' })).toThrow(/Session key "__proto__" is not allowed/);
    expect(() => session.increment('constructor')).toThrow(SessionValueError);
    expect(() => session.set('profile', JSON.parse('{"a":{"prototype":1}}'))).toThrow(/profile\.a has the key "prototype"/);
    expect(() => session.flash('__proto__', 'x')).toThrow(/not allowed/);
    expect(session.get('userId')).toBeUndefined();

    await store.inner.set(session.handle, { data: JSON.parse('{"cart":{"__proto__":{"userId":"victim"}}}'), createdAt: Date.now(), touchedAt: Date.now() }, 10_000);
    await expect(request(() => undefined)).rejects.toThrow(/read from the store has a reserved key at "cart\.__proto__"/);
  });
});

describe('SessionRuntime, a commit done at once (MemoryStore)', () => {
  let store: MemoryStore;
  let runtime: SessionRuntime;
  let cookie: string;
  let events: SessionEvent[];

  /** A request of the session: `fn` changes it, then the request's context commits it, as the interceptor does. */
  async function changed(fn: (s: Awaited<ReturnType<SessionRuntime['load']>>) => unknown) {
    const req = { headers: { cookie } };
    const res = response();
    const session = await runtime.load(req, res);
    await fn(session);
    return { session, res, saving: runtime.contextOf(req, res).commitResult() };
  }

  const later = () => new Promise((resolve) => setImmediate(resolve));

  beforeEach(async () => {
    store = new MemoryStore();
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET, maxSessionBytes: 1_000 }), store);
    events = [];
    runtime.events.forward((event) => events.push(event));
    cookie = '';
    const { res, saving } = await changed((s) => s.set('n', 1));
    await saving;
    cookie = (res.headers.get('set-cookie') as string).split(';')[0]!;
    await later();
    events.length = 0;
  });
  afterEach(() => store.close());

  it('writes a change to a stored session before it returns, with no promise to wait for', async () => {
    const { session, saving } = await changed((s) => {
      s.increment('n');
      s.set('a', 'x');
    });
    expect(saving).toBe(COMMITTED);
    expect(store[readNow](session.handle)!.data).toEqual({ n: 2, a: 'x' });
    // Saved: nothing is left for the hooks before the headers.
    expect(runtime.settled(session)).toBe(true);
  });

  it('refreshes a persistent cookie at once, as the full commit does', async () => {
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET, cookie: { persistent: true } }), store);
    const { res, saving } = await changed((s) => s.increment('n'));
    expect(saving).toBe(COMMITTED);
    expect(res.headers.get('set-cookie')).toMatch(/^sid=[^;]+; Max-Age=\d+/);
  });

  it('rejects with the same 503 and store-error event as the full commit when the store fails', async () => {
    const failure = new Error('out of memory');
    store[patchNow] = () => {
      throw failure;
    };
    const { session, saving } = await changed((s) => s.increment('n'));
    const error = await saving.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionStoreUnavailableException);
    expect((error as SessionStoreUnavailableException).getStatus()).toBe(503);
    expect((error as Error).cause).toBe(failure);
    // Nothing was saved: the change is still there for a retry.
    expect(runtime.settled(session)).toBe(false);
    await later();
    expect(events).toEqual([expect.objectContaining({ type: 'store-error', operation: 'write', handle: session.handle, error: failure })]);

    // The full commit (a store whose patch is replaced) gives the same.
    events.length = 0;
    delete (store as { [patchNow]?: unknown })[patchNow];
    store.patch = () => Promise.reject(failure);
    const full = await changed((s) => s.increment('n'));
    expect(full.saving).not.toBe(COMMITTED);
    const fullError = await full.saving.catch((e: unknown) => e);
    expect(fullError).toBeInstanceOf(SessionStoreUnavailableException);
    expect((fullError as Error).message).toBe((error as Error).message);
    expect((fullError as Error).cause).toBe(failure);
    await later();
    expect(events).toEqual([expect.objectContaining({ type: 'store-error', operation: 'write', handle: full.session.handle, error: failure })]);
  });

  it('rejects with the same SessionTooLargeError as the full commit, writing nothing', async () => {
    await (await changed((s) => s.set('list', []))).saving;
    // Grown in place, past what set() could check.
    const { session, saving } = await changed((s) => (s.get('list') as string[]).push('x'.repeat(2_000)));
    const error = await saving.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionTooLargeError);
    expect(store[readNow](session.handle)!.data).toEqual({ n: 1, list: [] });
    const full = await runtime.commit(session).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(SessionTooLargeError);
    expect((full as Error).message).toBe((error as Error).message);
    await later();
    expect(events).toEqual([]);
  });

  it('leaves a session destroyed meanwhile to the full commit: it stays destroyed and its cookie is cleared', async () => {
    const { session, res, saving } = await changed(async (s) => {
      // A logout from another tab lands while this request runs.
      await store.destroy(s.handle);
      s.increment('n');
    });
    expect(saving).not.toBe(COMMITTED);
    await saving;
    expect(store.size).toBe(0);
    expect(session.inStore).toBe(false);
    expect(session.all()).toEqual({});
    expect(res.headers.get('set-cookie')).toMatch(/^sid=; Max-Age=0/);
  });

  it('writes a new session at once too, announcing it; too large, it rejects as the full commit does', async () => {
    cookie = '';
    const first = await changed((s) => s.set('n', 1));
    expect(first.saving).toBe(COMMITTED);
    expect(store.size).toBe(2);
    expect(store[readNow](first.session.handle)!.data).toEqual({ n: 1 });
    expect(first.res.headers.get('set-cookie')).toMatch(/^sid=/);
    await later();
    expect(events).toEqual([expect.objectContaining({ type: 'created', handle: first.session.handle })]);

    const big = await changed((s) => {
      s.set('list', []);
      (s.get('list') as string[]).push('x'.repeat(2_000));
    });
    const error = await big.saving.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionTooLargeError);
    expect(store.size).toBe(2);
    expect(big.res.headers.get('set-cookie')).toBeUndefined();
  });

  it('leaves a login under maxSessionsPerUser to the full commit', async () => {
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET, maxSessionsPerUser: 1 }), store);
    const login = await changed((s) => s.set('userId', 'u1'));
    expect(login.saving).not.toBe(COMMITTED);
    await login.saving;
    expect((await changed((s) => s.increment('n'))).saving).toBe(COMMITTED);
    cookie = '';
    const first = await changed((s) => s.set('userId', 'u1'));
    expect(first.saving).not.toBe(COMMITTED);
    await first.saving;
    // The new login took the user's one place.
    expect(await store.listByUser('u1')).toEqual([expect.objectContaining({ handle: first.session.handle })]);
  });
});

describe('SessionRuntime, the context of a request', () => {
  let store: MemoryStore;
  let runtime: SessionRuntime;

  beforeEach(() => {
    store = new MemoryStore();
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET }), store);
  });
  afterEach(() => store.close());

  /** A Fastify-like request: the Node request under it as `raw`. */
  const fastifyRequest = () => {
    const raw = { headers: { cookie: '' } };
    return { raw, headers: raw.headers };
  };

  it('is none until something uses the session, then one per request', () => {
    const req = { headers: { cookie: '' } };
    expect(runtime.contextIf(req)).toBeUndefined();
    const context = runtime.contextOf(req, response());
    expect(runtime.contextOf(req, response())).toBe(context);
    expect(runtime.contextIf(req)).toBe(context);
    expect(runtime.contextIf({ headers: { cookie: '' } })).toBeUndefined();
  });

  it('is found through the framework request and through the Node request under it, whichever made it', () => {
    const first = fastifyRequest();
    const context = runtime.contextOf(first, response());
    expect(runtime.contextIf(first.raw)).toBe(context);
    expect(runtime.contextOf(first.raw, response())).toBe(context);

    const second = fastifyRequest();
    const other = runtime.contextOf(second.raw, response());
    expect(other).not.toBe(context);
    expect(runtime.contextIf(second)).toBe(other);
    expect(runtime.contextOf(second, response())).toBe(other);
  });
});

describe('SessionRuntime, a load done at once (MemoryStore)', () => {
  let store: MemoryStore;
  let runtime: SessionRuntime;
  let cookie: string;
  let handle: string;
  let events: SessionEvent[];

  const later = () => new Promise((resolve) => setImmediate(resolve));
  const contextOf = (header: string) => runtime.contextOf({ headers: { cookie: header } }, response());

  beforeEach(async () => {
    store = new MemoryStore();
    runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET }), store);
    const req = { headers: { cookie: '' } };
    const res = response();
    const session = await runtime.load(req, res);
    session.set('n', 1);
    await runtime.contextOf(req, res).commitResult();
    cookie = (res.headers.get('set-cookie') as string).split(';')[0]!;
    handle = session.handle;
    await later();
    events = [];
    runtime.events.forward((event) => events.push(event));
  });
  afterEach(() => store.close());

  it('loads a stored session before load() returns: one settled promise for every caller', async () => {
    const context = contextOf(cookie);
    const loading = context.load();
    expect(context.loaded?.get('n')).toBe(1);
    expect(context.load()).toBe(loading);
    expect(await loading).toBe(context.loaded);
  });

  it('loads a first visit at once, and applies a write made through req.session before the load', () => {
    const context = contextOf('');
    context.write((session) => session.set('a', 'x'));
    expect(context.loaded?.inStore).toBe(false);
    expect(context.loaded?.get('a')).toBe('x');
  });

  it('rejects with the same 503 and store-error event as the full read, and a later load of the request retries', async () => {
    const failure = new Error('out of memory');
    const readAtOnce = store[readNow];
    store[readNow] = () => {
      throw failure;
    };
    const context = contextOf(cookie);
    const error = await context.load().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionStoreUnavailableException);
    expect((error as SessionStoreUnavailableException).getStatus()).toBe(503);
    expect((error as Error).cause).toBe(failure);
    expect(context.loaded).toBeUndefined();
    await later();
    expect(events).toEqual([expect.objectContaining({ type: 'store-error', operation: 'read', handle, error: failure })]);

    // The store is back: the same request loads its session.
    store[readNow] = readAtOnce;
    expect((await context.load()).get('n')).toBe(1);

    // The full read (a store whose get is replaced) fails alike.
    events.length = 0;
    store.get = () => Promise.reject(failure);
    const full = await contextOf(cookie)
      .load()
      .catch((e: unknown) => e);
    expect(full).toBeInstanceOf(SessionStoreUnavailableException);
    expect((full as Error).message).toBe((error as Error).message);
    expect((full as Error).cause).toBe(failure);
    await later();
    expect(events).toEqual([expect.objectContaining({ type: 'store-error', operation: 'read', handle, error: failure })]);
  });

  it('starts afresh at once from a record expired by its clock, destroying it and announcing the expiry', async () => {
    // The store still keeps a record whose idle timeout passed.
    store[readNow] = () => ({ data: { n: 1 }, createdAt: 1, touchedAt: 1 });
    const context = contextOf(cookie);
    void context.load();
    const session = context.loaded!;
    expect(session.inStore).toBe(false);
    expect(session.handle).not.toBe(handle);
    expect(session.staleHandle).toBe(handle);
    expect(session.all()).toEqual({});
    await later();
    expect(store.size).toBe(0);
    expect(events).toEqual([expect.objectContaining({ type: 'expired', handle })]);
  });

  it('leaves a store that must be waited for to the full read', async () => {
    store.get = MemoryStore.prototype.get.bind(store);
    const context = contextOf(cookie);
    const loading = context.load();
    expect(context.loaded).toBeUndefined();
    expect((await loading).get('n')).toBe(1);
  });
});
