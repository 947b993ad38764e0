import { MemoryStore } from '../stores/memory.store.js';
import { resolveSessionOptions } from '../session-options.js';
import { SessionRuntime } from './session.runtime.js';
import type { SessionPatch, SessionRecord, SessionStore } from '../stores/session-store.interface.js';

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
    runtime = new SessionRuntime(resolveSessionOptions({ secret: 's'.repeat(32), touchInterval: 500, idleTimeout: 10_000 }), store);
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

  it('refuses at commit an object made unstorable in place, changing nothing', async () => {
    await expect(
      request((s) => {
        (s.get('cart') as unknown[]).push(() => 1);
      }),
    ).rejects.toThrow(/key "cart" cannot be stored: cart\[1\] is a function/);
    await request((s) => expect(s.get('cart')).toEqual([{ sku: 'a', qty: 1 }]));
  });

  it('writes whole records with set() for a store without patch', async () => {
    const noPatch: SessionStore = { get: (h) => store.get(h), set: (h, r, t) => store.set(h, r, t), destroy: (h) => store.destroy(h) };
    runtime = new SessionRuntime(resolveSessionOptions({ secret: 's'.repeat(32) }), noPatch);
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

  it('a detached load (a guard on a route nothing saves) touches at once and refuses changes', async () => {
    await new Promise((r) => setTimeout(r, 550));
    const res = response();
    const session = await runtime.loadDetached({ headers: { cookie } }, res);
    expect(store.ops()).toEqual(['get', 'touch']);
    expect(session.get('cart')).toEqual([{ sku: 'a', qty: 1 }]);
    expect(() => session.set('x', 1)).toThrow(/nothing would save it. Add @UseSession\(\)/);
    expect(() => session.flash('info')).toThrow(/@UseSession/);
    await expect(session.destroy()).rejects.toThrow(/@UseSession/);
  });

  it('regenerate moves the data to a new id and deletes the old record', async () => {
    const before = cookie;
    const { session } = await request(async (s) => s.regenerate());
    expect(cookie).not.toBe(before);
    expect(store.ops()).toEqual(['get', 'destroy', 'set']);
    expect(await store.inner.get(session.handle)).toMatchObject({ data: { cart: [{ sku: 'a', qty: 1 }] } });
    expect(store.inner.size).toBe(1);
  });
});
