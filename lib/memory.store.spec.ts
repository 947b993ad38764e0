import { MemoryStore } from './memory.store.js';
import type { SessionPatch, SessionRecord } from './session-store.interface.js';

const record = (data: Record<string, unknown> = { a: 1 }, user?: string): SessionRecord => ({
  data,
  createdAt: 1000,
  touchedAt: 2000,
  ...(user === undefined ? {} : { user }),
});
const patch = (p: Partial<SessionPatch>): SessionPatch => ({ clear: false, set: {}, unset: [], incr: {}, touchedAt: 3000, ...p });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MemoryStore', () => {
  let store: MemoryStore;
  beforeEach(() => {
    store = new MemoryStore();
  });
  afterEach(() => store.close());

  it('gives back an equal record that shares no object with the caller', async () => {
    const data = { cart: [{ sku: 'a', qty: 1 }], n: 2 };
    await store.set('h', record(data), 10_000);
    data.cart[0]!.qty = 99;
    const got = await store.get('h');
    expect(got).toEqual(record({ cart: [{ sku: 'a', qty: 1 }], n: 2 }));
    (got!.data.cart as { qty: number }[])[0]!.qty = 50;
    expect((await store.get('h'))!.data).toEqual({ cart: [{ sku: 'a', qty: 1 }], n: 2 });
  });

  it('expires records lazily by their ttl', async () => {
    await store.set('h', record(), 30);
    expect(await store.get('h')).toBeDefined();
    await sleep(40);
    expect(await store.get('h')).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('patches atomically: clear, unset, set, incr, touchedAt and user', async () => {
    await store.set('h', record({ a: 1, b: 2, n: 5, s: 'x' }), 10_000);
    expect(await store.patch('h', patch({ unset: ['b'], set: { c: 3 }, incr: { n: 2, m: 1, s: 1 }, user: '7' }), 10_000)).toBe(true);
    expect(await store.get('h')).toEqual({ data: { a: 1, n: 7, s: 1, c: 3, m: 1 }, createdAt: 1000, touchedAt: 3000, user: '7' });
    expect(await store.patch('h', patch({ clear: true, set: { z: 1 }, user: null }), 10_000)).toBe(true);
    expect(await store.get('h')).toEqual({ data: { z: 1 }, createdAt: 1000, touchedAt: 3000 });
  });

  it('never recreates a destroyed or expired session on patch or touch', async () => {
    expect(await store.patch('gone', patch({ set: { a: 1 } }), 10_000)).toBe(false);
    await store.set('h', record(), 20);
    await sleep(30);
    expect(await store.patch('h', patch({ set: { a: 1 } }), 10_000)).toBe(false);
    await store.touch('h', record(), 10_000);
    expect(await store.get('h')).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('touch extends the life and sets touchedAt without changing data', async () => {
    await store.set('h', record(), 40);
    await sleep(25);
    await store.touch('h', { ...record({ ignored: true }), touchedAt: 5000 }, 40);
    await sleep(25);
    expect(await store.get('h')).toEqual({ data: { a: 1 }, createdAt: 1000, touchedAt: 5000 });
  });

  it('holds at most maxSessions, evicting the least recently used', async () => {
    const small = new MemoryStore({ maxSessions: 3 });
    for (const h of ['a', 'b', 'c']) await small.set(h, record(), 10_000);
    await small.touch('a', record(), 10_000);
    await small.set('d', record(), 10_000);
    expect(small.size).toBe(3);
    expect(await small.get('b')).toBeUndefined();
    expect(await small.get('a')).toBeDefined();
    await small.close();
  });

  it('indexes sessions by user, and forgets them when destroyed, expired or logged out', async () => {
    await store.set('h1', record({}, '7'), 10_000);
    await store.set('h2', record({}, '7'), 20);
    await store.set('h3', record({}, '8'), 10_000);
    await sleep(30);
    expect(await store.listByUser('7')).toEqual([{ handle: 'h1', createdAt: 1000, touchedAt: 2000 }]);
    await store.patch('h3', patch({ user: null }), 10_000);
    expect(await store.listByUser('8')).toEqual([]);
    await store.destroy('h1');
    expect(await store.listByUser('7')).toEqual([]);
  });

  it('sweeps expired sessions in slices and stops its timer when empty', async () => {
    for (let i = 0; i < 5000; i++) await store.set(`e${i}`, record(), i % 2 ? 10 : 10_000);
    await sleep(20);
    await store.sweep();
    expect(store.size).toBe(2500);
  });

  it('refuses bad options with a clear message', () => {
    expect(() => new MemoryStore({ maxSessions: 0 })).toThrow(/maxSessions must be a positive whole number/);
    expect(() => new MemoryStore({ sweepInterval: -5 })).toThrow(/sweepInterval must be a positive number/);
  });
});
