import { MemoryStore, patchNow, readNow, setNow } from './memory.store.js';
import type { SessionPatch, SessionRecord } from './session-store.interface.js';
import { describeSessionStoreContract } from '../testing/index.js';

const record = (data: Record<string, unknown> = { a: 1 }, user?: string): SessionRecord => ({
  data,
  createdAt: 1000,
  touchedAt: 2000,
  ...(user === undefined ? {} : { user }),
});
const patch = (p: Partial<SessionPatch>): SessionPatch => ({ clear: false, set: {}, unset: [], incr: {}, touchedAt: 3000, ...p });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let contractStore: MemoryStore;

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

  it('reads at once for the runtime what get() gives, unless get() is replaced', async () => {
    await store.set('h', record({ a: 1 }), 10_000);
    expect(store[readNow]('h')).toEqual(await store.get('h'));
    expect(store[readNow]('missing')).toBeUndefined();
    class AuditedStore extends MemoryStore {
      override async get(handle: string): Promise<SessionRecord | undefined> {
        return super.get(handle);
      }
    }
    const audited = new AuditedStore();
    expect(audited[readNow]('h')).toBeNull();
    await audited.close();
    store.get = async () => undefined;
    expect(store[readNow]('h')).toBeNull();
  });

  it('patches at once for the runtime as patch() does, unless patch() is replaced', async () => {
    await store.set('h', record({ a: 1 }), 10_000);
    expect(store[patchNow]('h', patch({ set: { b: 2 }, incr: { a: 1 } }), 10_000)).toBe(true);
    expect(await store.get('h')).toEqual({ data: { a: 2, b: 2 }, createdAt: 1000, touchedAt: 3000 });
    expect(store[patchNow]('missing', patch({ set: { b: 2 } }), 10_000)).toBe(false);
    expect(store.size).toBe(1);
    class AuditedStore extends MemoryStore {
      override async patch(handle: string, change: SessionPatch, ttlMs: number): Promise<boolean> {
        return super.patch(handle, change, ttlMs);
      }
    }
    const audited = new AuditedStore();
    await audited.set('h', record({ a: 1 }), 10_000);
    expect(audited[patchNow]('h', patch({ set: { b: 2 } }), 10_000)).toBeNull();
    expect((await audited.get('h'))!.data).toEqual({ a: 1 });
    await audited.close();
    store.patch = async () => false;
    expect(store[patchNow]('h', patch({ set: { c: 3 } }), 10_000)).toBeNull();
    expect((await store.get('h'))!.data).toEqual({ a: 2, b: 2 });
  });

  it('sets at once for the runtime as set() does, unless set() is replaced', async () => {
    expect(store[setNow]('h', record({ a: 1 }, '7'), 10_000)).toBe(true);
    expect(await store.get('h')).toEqual(record({ a: 1 }, '7'));
    expect(await store.listByUser('7')).toHaveLength(1);
    store.set = async () => undefined;
    expect(store[setNow]('g', record(), 10_000)).toBeNull();
    expect(store.size).toBe(1);
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
    // Wide margins: a sleep on a busy machine may overshoot by tens of milliseconds.
    await store.set('h', record(), 400);
    await sleep(250);
    await store.touch('h', { ...record({ ignored: true }), touchedAt: 5000 }, 400);
    await sleep(250);
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

  it('counts a read as use: a session only read survives a flood of twice the capacity', async () => {
    const small = new MemoryStore({ maxSessions: 100 });
    await small.set('reader', record(), 10_000);
    for (let i = 0; i < 200; i++) {
      await small.set(`flood${i}`, record(), 10_000);
      if (i % 50 === 0) expect(await small.get('reader')).toBeDefined();
    }
    expect(small.size).toBe(100);
    expect(await small.get('reader')).toBeDefined();
    expect(await small.get('flood0')).toBeUndefined();
    await small.close();
  });

  it('evicts anonymous sessions before logged-in ones, read or not', async () => {
    const small = new MemoryStore({ maxSessions: 10 });
    for (let i = 0; i < 3; i++) await small.set(`user${i}`, record({}, `u${i}`), 10_000);
    for (let i = 0; i < 100; i++) await small.set(`anon${i}`, record(), 10_000);
    expect(small.size).toBe(10);
    for (let i = 0; i < 3; i++) expect(await small.get(`user${i}`)).toBeDefined();
    expect((await small.listByUser('u0')).map((e) => e.handle)).toEqual(['user0']);
    // A session that logs in joins the protected ones; one that logs out leaves them.
    await small.patch('anon99', patch({ user: 'u9' }), 10_000);
    await small.patch('user0', patch({ user: null }), 10_000);
    for (let i = 100; i < 120; i++) await small.set(`anon${i}`, record(), 10_000);
    expect(await small.get('anon99')).toBeDefined();
    expect(await small.get('user0')).toBeUndefined();
    expect(await small.listByUser('u0')).toEqual([]);
    // With no anonymous session left, the least recently used logged-in one goes.
    const full = new MemoryStore({ maxSessions: 3 });
    for (let i = 0; i < 3; i++) await full.set(`u${i}`, record({}, `u${i}`), 10_000);
    await full.get('u0');
    await full.set('new', record({}, 'n'), 10_000);
    expect(await full.get('u1')).toBeUndefined();
    expect(await full.get('u0')).toBeDefined();
    await small.close();
    await full.close();
  });

  it('one account logging in twice the capacity over evicts only its own oldest sessions', async () => {
    // The defaults' rule at a fifth of their size (200,000 logins into 100,000 takes seconds).
    const full = new MemoryStore({ maxSessions: 20_000 });
    await full.set('victim', record({ userId: 'victim' }, 'victim'), 3_600_000);
    await full.set('visitor', record({ cart: 1 }), 3_600_000);
    for (let i = 0; i < 40_000; i++) await full.set(`flood${i}`, record({ userId: 'mallory' }, 'mallory'), 3_600_000);
    expect(full.size).toBe(20_000);
    expect((await full.get('victim'))?.data).toEqual({ userId: 'victim' });
    expect((await full.get('visitor'))?.data).toEqual({ cart: 1 });
    expect(await full.get('flood0')).toBeUndefined();
    expect(await full.get('flood20001')).toBeUndefined();
    expect(await full.get('flood20002')).toBeDefined();
    expect(await full.get('flood39999')).toBeDefined();
    expect((await full.listByUser('mallory')).length).toBe(19_998);
    await full.close();
  });

  it('a user over its share (1% of maxSessions) loses its own oldest session first, even to anonymous ones', async () => {
    const small = new MemoryStore({ maxSessions: 300 });
    for (let i = 0; i < 10; i++) await small.set(`other${i}`, record({}, `u${i}`), 10_000);
    for (let i = 0; i < 290; i++) await small.set(`m${i}`, record({}, 'mallory'), 10_000);
    // Logged in as another user afterwards (a patch, not a new session): still counted.
    await small.set('late', record(), 10_000);
    expect(await small.get('m0')).toBeUndefined();
    await small.patch('m1', patch({ user: 'u0' }), 10_000);
    for (let i = 0; i < 400; i++) await small.set(`anon${i}`, record(), 10_000);
    expect(small.size).toBe(300);
    for (let i = 0; i < 10; i++) expect(await small.get(`other${i}`)).toBeDefined();
    expect(await small.get('m1')).toBeDefined();
    // mallory is down to its share of 3; then the least recently used anonymous sessions went.
    expect((await small.listByUser('mallory')).length).toBe(3);
    await small.close();
  });

  it('moves a record to a new handle only if the old one still exists', async () => {
    await store.set('old', record({ a: 1 }, '7'), 10_000);
    expect(await store.move('old', 'new', record({ a: 2 }, '8'), 10_000)).toBe(true);
    expect(await store.get('old')).toBeUndefined();
    expect(await store.get('new')).toEqual(record({ a: 2 }, '8'));
    expect(await store.listByUser('7')).toEqual([]);
    expect((await store.listByUser('8')).map((e) => e.handle)).toEqual(['new']);
    expect(store.size).toBe(1);
    expect(await store.move('old', 'newer', record({ a: 3 }), 10_000)).toBe(false);
    expect(await store.get('newer')).toBeUndefined();
    await store.set('short', record(), 10);
    await sleep(20);
    expect(await store.move('short', 'other', record(), 10_000)).toBe(false);
    expect(store.size).toBe(1);
  });

  it('keeps data in prototype-less objects, whatever the keys', async () => {
    await store.set('h', record(JSON.parse('{"__proto__":{"userId":"victim"},"a":1}')), 10_000);
    const got = await store.get('h');
    expect(Object.getPrototypeOf(got!.data)).toBeNull();
    expect(got!.data.userId).toBeUndefined();
    expect(Object.keys(got!.data)).toEqual(['__proto__', 'a']);
    await store.patch('h', patch({ set: JSON.parse('{"__proto__":{"userId":"victim"}}') }), 10_000);
    expect((await store.get('h'))!.data.userId).toBeUndefined();
  });

  it('gives back exact times, any user and any text, whatever it packs them into', async () => {
    const odd: SessionRecord = { data: { t: 'é €😀 {"x":1}', n: -0.5 }, createdAt: 1.5e-7, touchedAt: -12345.678, user: '12:{"id":"ü"}' };
    await store.set('h', odd, 10_000);
    expect(await store.get('h')).toEqual(odd);
    expect(await store.listByUser('12:{"id":"ü"}')).toEqual([{ handle: 'h', createdAt: 1.5e-7, touchedAt: -12345.678 }]);
    await store.set('empty', { data: {}, createdAt: Number.MAX_SAFE_INTEGER, touchedAt: 0, user: '' }, 10_000);
    expect(await store.get('empty')).toEqual({ data: {}, createdAt: Number.MAX_SAFE_INTEGER, touchedAt: 0, user: '' });
    expect(await store.patch('empty', patch({ set: { a: '😀' }, touchedAt: 7.25 }), 10_000)).toBe(true);
    await store.touch('h', { ...odd, touchedAt: 99.5 }, 10_000);
    expect(await store.get('empty')).toEqual({ data: { a: '😀' }, createdAt: Number.MAX_SAFE_INTEGER, touchedAt: 7.25, user: '' });
    expect(await store.get('h')).toEqual({ ...odd, touchedAt: 99.5 });
    expect(await store.listByUser('')).toEqual([{ handle: 'empty', createdAt: Number.MAX_SAFE_INTEGER, touchedAt: 7.25 }]);
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

  it('sweeps 200k expired sessions without blocking: timers and setImmediate callbacks run between slices', async () => {
    const big = new MemoryStore({ maxSessions: 250_000 });
    for (let i = 0; i < 200_000; i++) await big.set(`s${i}`, record({ a: 1 }, i % 10 === 0 ? `u${i % 1000}` : undefined), 1);
    await sleep(5);
    let done = false;
    let turns = 0;
    let timerRan = false;
    const spin = (): void => {
      if (done) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    setTimeout(() => (timerRan = !done), 0);
    const sweeping = big.sweep().then(() => (done = true));
    // The first slice ran synchronously and stopped: most sessions are still there.
    expect(big.size).toBeGreaterThan(100_000);
    await sweeping;
    expect(big.size).toBe(0);
    expect(await big.listByUser('u0')).toEqual([]);
    // 200k sessions in slices of at most 2,000: the probe got a turn between (nearly) every two slices.
    expect(turns).toBeGreaterThanOrEqual(50);
    expect(timerRan).toBe(true);
    await big.close();
  });

  it('stays bounded and evicts least recently used within a shard when sharded', async () => {
    const max = 8_192; // several shards
    const sharded = new MemoryStore({ maxSessions: max });
    for (let i = 0; i < max; i++) await sharded.set(`k${i}`, record(), 10_000);
    // Use every session but k0..k99 again, so those are the least recently used of their shards.
    for (let i = 100; i < max; i++) await sharded.touch(`k${i}`, record(), 10_000);
    for (let i = 0; i < 50; i++) await sharded.set(`new${i}`, record(), 10_000);
    expect(sharded.size).toBe(max);
    let evicted = 0;
    for (let i = 0; i < 100; i++) if ((await sharded.get(`k${i}`)) === undefined) evicted++;
    expect(evicted).toBe(50);
    for (let i = 0; i < 50; i++) expect(await sharded.get(`new${i}`)).toBeDefined();
    await sharded.close();
    expect(sharded.size).toBe(0);
  });

  it('keeps the user index right with one and with many sessions per user', async () => {
    const sharded = new MemoryStore({ maxSessions: 1_000_000 });
    const handles = Array.from({ length: 5 }, (_, i) => `${'ab'.repeat(31)}${i}${i}`);
    for (const h of handles) await sharded.set(h, record({}, 'u'), 10_000);
    expect((await sharded.listByUser('u')).map((e) => e.handle).sort()).toEqual([...handles].sort());
    for (const h of handles.slice(1)) await sharded.destroy(h);
    expect(await sharded.listByUser('u')).toEqual([{ handle: handles[0], createdAt: 1000, touchedAt: 2000 }]);
    await sharded.set(handles[1]!, record({}, 'u'), 10_000);
    await sharded.set(handles[0]!, record({}, 'u'), 10_000);
    expect((await sharded.listByUser('u')).length).toBe(2);
    await sharded.patch(handles[0]!, patch({ user: 'v' }), 10_000);
    expect((await sharded.listByUser('u')).map((e) => e.handle)).toEqual([handles[1]]);
    expect((await sharded.listByUser('v')).map((e) => e.handle)).toEqual([handles[0]]);
    await sharded.destroy(handles[1]!);
    expect(await sharded.listByUser('u')).toEqual([]);
    await sharded.close();
  });

  it('refuses bad options with a clear message', () => {
    expect(() => new MemoryStore({ maxSessions: 0 })).toThrow(/maxSessions must be a positive whole number/);
    expect(() => new MemoryStore({ sweepInterval: -5 })).toThrow(/sweepInterval must be a positive number/);
  });
});

describeSessionStoreContract('MemoryStore: the store contract', () => (contractStore = new MemoryStore()), {
  // What the store holds: its shards of handle → entry (serialized values, times, user).
  dump: async () => {
    const { anonymous, loggedIn } = contractStore as unknown as { anonymous: Map<string, unknown>[]; loggedIn: Map<string, unknown>[] };
    return [...anonymous, ...loggedIn].map((shard) => [...shard]);
  },
});
