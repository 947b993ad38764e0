import { readFileSync, readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { RedisStore } from './redis.store.js';
import { storedRecordData } from '../core/session-value.js';
import { newHandle, patchOf, recordOf } from '../testing/session-store.contract.js';
import { describeRedisStoreContract } from '../../test/support/redis-store-contract.js';
import { TestRedisServer } from '../../test/support/redis-server.js';
import { expectInstancesTakeTurns } from '../../test/support/lock-instances.js';
import { REDIS_URL, closeClient, deleteKeys, freePort, newRedis, sleep, testPrefix } from '../../test/support/redis.js';

// Runs against a real Redis (REDIS_URL, default redis://127.0.0.1:6379), never a mock.
const HOUR = 3_600_000;
let client: Redis;
const prefix = testPrefix('store');

beforeAll(() => {
  client = newRedis();
});
afterAll(async () => {
  try {
    await deleteKeys(client, prefix);
  } finally {
    await closeClient(client);
  }
});

describeRedisStoreContract(`RedisStore on one server (${REDIS_URL})`, () => ({ client, prefix }));

describe('RedisStore session locks across instances', () => {
  it('lets holders on three instances (three clients) in one at a time', async () => {
    const others = [newRedis(), newRedis()];
    try {
      await expectInstancesTakeTurns([client, ...others].map((c) => new RedisStore({ client: c, prefix: `${prefix}locks:` })));
    } finally {
      for (const other of others) await closeClient(other);
    }
  });
});

describe('RedisStore round trips', () => {
  let monitorBase: Redis;
  let monitor: Redis;
  let store: RedisStore;
  let address: string;
  const seen: { args: string[]; source: string }[] = [];

  beforeAll(async () => {
    store = new RedisStore({ client, prefix: `${prefix}rt:` });
    const info = String(await client.client('INFO'));
    address = /addr=(\S+)/.exec(info)![1]!;
    // monitor() opens a connection of its own; both are closed in afterAll.
    monitorBase = newRedis();
    monitor = await monitorBase.monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => seen.push({ args, source }));
  });
  afterAll(async () => {
    monitor.disconnect();
    await closeClient(monitorBase);
  });

  /** The commands the store's connection sent for `operation`, read from MONITOR (commands run by Lua are not counted). */
  async function commandsOf(operation: () => Promise<unknown>): Promise<string[]> {
    const nonce = Math.random().toString(36).slice(2);
    const marked = async (marker: string): Promise<number> => {
      await client.echo(marker);
      const end = Date.now() + 5_000;
      for (;;) {
        const at = seen.findIndex((c) => c.args.includes(marker));
        if (at >= 0) return at;
        if (Date.now() > end) throw new Error('MONITOR did not report the marker');
        await sleep(5);
      }
    };
    const from = await marked(`start-${nonce}`);
    await operation();
    const to = await marked(`end-${nonce}`);
    const commands = seen.slice(from + 1, to).filter((c) => c.source === address).map((c) => c.args[0]!.toLowerCase());
    seen.length = 0;
    return commands;
  }

  it('takes one command per get, set, patch, touch and destroy, index upkeep included', async () => {
    const handle = newHandle();
    const record = recordOf({ userId: 'rt', n: 1 }, 'rt');
    // Warm-up: the first use of each script on a server may cost an extra EVAL (NOSCRIPT).
    const warm = newHandle();
    await store.set(warm, record, HOUR);
    await store.patch(warm, patchOf({ set: { a: 1 } }), HOUR);
    await store.touch(warm, record, HOUR);
    await store.destroy(warm);
    await store.listByUser('rt');

    expect(await commandsOf(() => store.set(handle, record, HOUR))).toEqual(['evalsha']);
    expect(await commandsOf(() => store.get(handle))).toEqual(['evalsha']);
    expect(await commandsOf(() => store.patch(handle, patchOf({ set: { a: 1 }, unset: ['n'], incr: { c: 1 }, user: 'rt2' }), HOUR))).toEqual(['evalsha']);
    expect(await commandsOf(() => store.patch(handle, patchOf({ clear: true }), HOUR))).toEqual(['evalsha']);
    expect(await commandsOf(() => store.touch(handle, record, HOUR))).toEqual(['evalsha']);
    expect(await commandsOf(() => store.patch(newHandle(), patchOf({ set: { a: 1 } }), HOUR))).toEqual(['evalsha']);
    const list = await commandsOf(() => store.listByUser('rt2'));
    expect(list).toEqual(['zscan', 'hmget']);
    expect(await commandsOf(() => store.destroy(handle))).toEqual(['evalsha']);
  });

  // On a server of its own: SCRIPT FLUSH on the shared one would race with every other run using it
  // (one may load the script again between the flush and the store's EVALSHA) and disturb theirs.
  it('loads a script it finds missing (NOSCRIPT) with one EVAL', async () => {
    const server = await TestRedisServer.create();
    const own = newRedis(server.port);
    try {
      const ownStore = new RedisStore({ client: own, prefix });
      /** The EVALSHA and EVAL calls `operation` made, from the server's command statistics. */
      const scriptCallsOf = async (operation: () => Promise<unknown>): Promise<string[]> => {
        await own.config('RESETSTAT');
        await operation();
        const stats = String(await own.info('commandstats'));
        const count = (name: string): number => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
        return [...Array<string>(count('evalsha')).fill('evalsha'), ...Array<string>(count('eval')).fill('eval')];
      };
      await own.script('FLUSH');
      const handle = newHandle();
      expect(await scriptCallsOf(() => ownStore.set(handle, recordOf({ a: 1 }), HOUR))).toEqual(['evalsha', 'eval']);
      expect(await scriptCallsOf(() => ownStore.patch(handle, patchOf({ set: { b: 2 } }), HOUR))).toEqual(['evalsha', 'eval']);
      expect(await scriptCallsOf(() => ownStore.patch(handle, patchOf({ set: { c: 3 } }), HOUR))).toEqual(['evalsha']);
      expect((await ownStore.get(handle))!.data).toEqual({ a: 1, b: 2, c: 3 });
      await own.script('FLUSH');
      let read: Awaited<ReturnType<RedisStore['get']>>;
      expect(await scriptCallsOf(async () => (read = await ownStore.get(handle)))).toEqual(['evalsha', 'eval']);
      expect(read!.data).toEqual({ a: 1, b: 2, c: 3 });
    } finally {
      await closeClient(own);
      await server.dispose();
    }
  });
});

describe('RedisStore value pieces', () => {
  const cart = [1, 2, 3].map((i) => ({ sku: `SKU-1000${i}`, qty: i, price: 1999 * i }));
  // 'é' (2 bytes), '€' (3) and '😀' (4, a surrogate pair) land on every offset of a 64-byte piece.
  const text = 'aé€😀'.repeat(40);
  const huge = 'x'.repeat(2_000);
  let store: RedisStore;
  beforeAll(() => {
    store = new RedisStore({ client, prefix: `${prefix}vp:` });
  });

  it('keeps a typical session in a listpack: long values are cut into pieces of at most 64 bytes', async () => {
    const handle = newHandle();
    await store.set(handle, recordOf({ userId: 4242, role: 'customer', cart, text }, '4242'), HOUR);
    const key = `${prefix}vp:${handle}`;
    expect(await client.object('ENCODING', key)).toBe('listpack');
    const fields = await client.hgetallBuffer(key);
    expect(Math.max(...Object.values(fields).map((v) => v.length))).toBeLessThanOrEqual(64);
    expect(Object.keys(fields)).toEqual(expect.arrayContaining(['.cart', '+1.cart', '.text', '+1.text']));
    expect((await store.get(handle))!.data).toEqual({ userId: 4242, role: 'customer', cart, text });
  });

  it('hands over data the runtime takes as it is, and leaves a hash with a reserved key, however it was spelled, to its check', async () => {
    const handle = newHandle();
    await store.set(handle, recordOf({ userId: 'ada', cart, text }, 'ada'), HOUR);
    const clean = (await store.get(handle))!;
    expect(clean.data).toEqual({ userId: 'ada', cart, text });
    expect(storedRecordData(clean)).toBe(clean.data);
    const key = `${prefix}vp:${handle}`;
    // Another program wrote a reserved key: as a field, or inside a value with an escape.
    for (const [field, value, path] of [
      ['.__proto__', '{"admin":true}', '__proto__'],
      ['.profile', '{"\\u005f_proto__":{"admin":true}}', 'profile.__proto__'],
    ]) {
      await client.hset(key, field!, value!);
      const hostile = (await store.get(handle))!;
      expect(() => storedRecordData(hostile)).toThrow(`reserved key at "${path}"`);
      await client.hdel(key, field!);
    }
  });

  it('reads back exactly what another program wrote: quotes, slashes, control characters and any script in names and values', async () => {
    const handle = newHandle();
    const key = `${prefix}vp:${handle}`;
    const odd = 'q"\\/\u0000\u001f\u007f\u2028 é€😀';
    const nested = { 'x/y': ['\n', '\t'], [odd]: odd, n: -1.5e-7 };
    await client.hset(key, '@c', '1700000000000', '@t', '1700000000500', `.${odd}`, JSON.stringify(odd), '.ключ', JSON.stringify(nested));
    // Bytes that are no UTF-8 read as U+FFFD, as ioredis decodes any reply.
    await client.hset(key, '.bytes', Buffer.from([0x22, 0xff, 0x22]));
    await client.pexpire(key, HOUR);
    const record = (await store.get(handle))!;
    expect(record).toMatchObject({ createdAt: 1_700_000_000_000, touchedAt: 1_700_000_000_500 });
    expect(record.data).toEqual({ [odd]: odd, ключ: nested, bytes: '\ufffd' });
    // A hash that is no session (a forwarding record) or none at all: no session.
    await client.del(key);
    await client.hset(key, '@m', 'elsewhere');
    expect(await store.get(handle)).toBeUndefined();
    await client.del(key);
    expect(await store.get(handle)).toBeUndefined();
  });

  it('patches values in pieces: replaced by shorter or longer ones, unset, incremented, cleared', async () => {
    const handle = newHandle();
    const key = `${prefix}vp:${handle}`;
    await store.set(handle, recordOf({ cart, text, n: 'not a number '.repeat(10), huge }), HOUR);
    expect(await store.patch(handle, patchOf({ set: { cart: [], text: `${text}${text}` }, unset: ['huge'], incr: { n: 2 } }), HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual({ cart: [], text: `${text}${text}`, n: 2 });
    // HKEYS has no defined order: compare as sets.
    expect((await client.hkeys(key)).filter((f) => f.endsWith('.cart') || f.endsWith('.n')).sort()).toEqual(['.cart', '.n']);
    expect(await store.patch(handle, patchOf({ set: { text: 'short' } }), HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual({ cart: [], text: 'short', n: 2 });
    expect(await client.hkeys(key)).not.toContain('+1.text');
    expect(await store.patch(handle, patchOf({ set: { cart } }), HOUR)).toBe(true);
    expect(await store.patch(handle, patchOf({ clear: true, set: { a: 1 } }), HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual({ a: 1 });
    expect((await client.hkeys(key)).filter((f) => !f.startsWith('@'))).toEqual(['.a']);
  });

  it('adds to what the rest of the patch leaves: after a clear, a value set or removed in the same patch', async () => {
    const handle = newHandle();
    const key = `${prefix}vp:${handle}`;
    await store.set(handle, recordOf({ n: 10, m: 20, k: 30, long: 5 }), HOUR);
    const patch = patchOf({ set: { n: 5, long: 'x'.repeat(100) }, unset: ['m'], incr: { n: 2, m: 3, long: 1, k: 1 } });
    expect(await store.patch(handle, patch, HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual({ n: 7, m: 3, long: 1, k: 31 });
    expect((await client.hkeys(key)).filter((f) => f.startsWith('+'))).toEqual([]);
    expect(await store.patch(handle, patchOf({ clear: true, incr: { n: 4 } }), HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual({ n: 4 });
  });

  it('keeps a value over 1 KiB whole', async () => {
    const handle = newHandle();
    await store.set(handle, recordOf({ huge }), HOUR);
    expect(await client.hkeys(`${prefix}vp:${handle}`)).not.toContain('+1.huge');
    expect((await store.get(handle))!.data).toEqual({ huge });
  });
});

describe('RedisStore.countSessions', () => {
  it('counts the sessions under its own prefix only, user indexes not included, under an ioredis keyPrefix with glob characters', async () => {
    const prefixed = newRedis(REDIS_URL, { keyPrefix: `${prefix}cnt[*]:` });
    try {
      // Small scan steps: the count must add up over several SCAN replies.
      const store = new RedisStore({ client: prefixed, prefix: 'app:', scanCount: 2 });
      const neighbour = new RedisStore({ client: prefixed, prefix: 'other:' });
      expect(await store.countSessions()).toBe(0);
      for (let i = 0; i < 5; i++) await store.set(newHandle(), recordOf({ i }, i % 2 === 0 ? `u${i}` : undefined), HOUR);
      await neighbour.set(newHandle(), recordOf({}, 'n'), HOUR);
      // A key that the prefix read as a glob pattern (`[*]` matching `*`) would count.
      await client.set(`${prefix}cnt*:app:stray`, '1');
      expect(await store.countSessions()).toBe(5);
      expect(await neighbour.countSessions()).toBe(1);
    } finally {
      await closeClient(prefixed);
    }
  });

  it('counts no forwarding record left by a move and no held session lock, with a {tag} prefix too', async () => {
    const store = new RedisStore({ client, prefix: `${prefix}{cnt-tag}:` });
    const [kept, from, to] = [newHandle(), newHandle(), newHandle()];
    await store.set(kept, recordOf({ n: 1 }), HOUR);
    await store.set(from, recordOf({ n: 2 }, 'u'), HOUR);
    expect(await store.move(from, to, recordOf({ n: 2 }, 'u'), HOUR)).toBe(true);
    const lease = await store.lock(kept, { ttlMs: 5000, waitMs: 1000 });
    try {
      expect(lease).toBeDefined();
      // Under the prefix now: two sessions, a forwarding record, a user index and a lock.
      expect(await store.countSessions()).toBe(2);
    } finally {
      await lease?.release();
    }
  });
});

describe('RedisStore options and failures', () => {
  it('refuses bad options with a message saying what to pass', () => {
    expect(() => new RedisStore({} as never)).toThrow(/client.*ioredis/);
    expect(() => new RedisStore({ client, scanCount: 0 })).toThrow(/scanCount/);
    expect(() => new RedisStore({ client, commandTimeout: -1 })).toThrow(/commandTimeout/);
  });

  it('works under an ioredis keyPrefix, user index included', async () => {
    const prefixed = newRedis(REDIS_URL, { keyPrefix: `${prefix}kp:` });
    try {
      const store = new RedisStore({ client: prefixed, prefix: 'app:' });
      const handle = newHandle();
      await store.set(handle, recordOf({ userId: 'kp' }, 'kp'), HOUR);
      expect(await client.exists(`${prefix}kp:app:${handle}`)).toBe(1);
      expect(await client.zscore(`${prefix}kp:app:user:kp`, handle)).not.toBeNull();
      expect((await store.listByUser('kp')).map((e) => e.handle)).toEqual([handle]);
      await store.destroy(handle);
      expect(await client.exists(`${prefix}kp:app:user:kp`)).toBe(0);
    } finally {
      await closeClient(prefixed);
    }
  });

  it('keeps the user index of a patched session under a keyPrefix and a prefix that are not ASCII', async () => {
    const prefixed = newRedis(REDIS_URL, { keyPrefix: `${prefix}kpé:` });
    try {
      const store = new RedisStore({ client: prefixed, prefix: 'äpp€:' });
      const handle = newHandle();
      await store.set(handle, recordOf({ n: 1 }), HOUR);
      expect(await store.patch(handle, patchOf({ set: { userId: 'ü' }, user: 'ü' }), HOUR)).toBe(true);
      expect(await client.zscore(`${prefix}kpé:äpp€:user:ü`, handle)).not.toBeNull();
      expect(await store.patch(handle, patchOf({ incr: { n: 1 } }), HOUR)).toBe(true);
      expect((await store.listByUser('ü')).map((e) => e.handle)).toEqual([handle]);
      expect(await store.patch(handle, patchOf({ unset: ['userId'], user: null }), HOUR)).toBe(true);
      expect(await client.exists(`${prefix}kpé:äpp€:user:ü`)).toBe(0);
    } finally {
      await closeClient(prefixed);
    }
  });

  it('keeps the user index of sessions set, touched and moved under a keyPrefix and a prefix that are not ASCII', async () => {
    const prefixed = newRedis(REDIS_URL, { keyPrefix: `${prefix}kpß:` });
    try {
      const store = new RedisStore({ client: prefixed, prefix: 'äpp€:' });
      const index = `${prefix}kpß:äpp€:user:ü ser`;
      const from = newHandle();
      await store.set(from, recordOf({ n: 1 }, 'ü ser'), HOUR);
      expect(await client.zscore(index, from)).not.toBeNull();
      await store.touch(from, recordOf({ n: 1 }, 'ü ser'), HOUR);
      expect((await store.listByUser('ü ser')).map((e) => e.handle)).toEqual([from]);
      // The new handle ends the script's header: whatever it holds, spaces included, it arrives whole.
      const to = `${newHandle()} é x`;
      expect(await store.move(from, to, recordOf({ n: 2 }, 'ü ser'), HOUR)).toBe(true);
      expect(await client.zscore(index, from)).toBeNull();
      expect(await client.zscore(index, to)).not.toBeNull();
      expect((await store.get(to))?.data).toEqual({ n: 2 });
      expect(await client.hget(`${prefix}kpß:äpp€:${from}`, '@m')).toBe(to);
      await store.destroy(from);
      expect(await store.get(to)).toBeUndefined();
      expect(await client.exists(index)).toBe(0);
    } finally {
      await closeClient(prefixed);
    }
  });

  it('rejects within commandTimeout when Redis cannot be reached, and drops the queued work', async () => {
    const port = await freePort();
    // Default ioredis options: enableOfflineQueue true, so commands alone would wait for a server forever.
    const offline = newRedis(port, { retryStrategy: () => 50 });
    const store = new RedisStore({ client: offline, commandTimeout: 300 });
    try {
      for (const operation of [
        () => store.get(newHandle()),
        () => store.set(newHandle(), recordOf({ a: 1 }), HOUR),
        () => store.patch(newHandle(), patchOf({}), HOUR),
        () => store.listByUser('x'),
      ]) {
        const started = Date.now();
        await expect(operation()).rejects.toThrow(/within 300 ms/);
        const elapsed = Date.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(290);
        expect(elapsed).toBeLessThan(800);
      }
      await store.close();
      await expect(store.get(newHandle())).rejects.toThrow(/after close/);
    } finally {
      offline.disconnect();
    }
  });

  it('keeps ioredis an optional peer: library code imports its types only', () => {
    const dir = new URL('.', import.meta.url);
    const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
    expect(sources).toContain('redis.store.ts');
    let imports = 0;
    for (const file of sources) {
      const code = readFileSync(new URL(file, dir), 'utf8');
      for (const [statement] of code.matchAll(/^\s*(import|export)\b[^;]*?['"]ioredis['"]/gm)) {
        expect(statement).toMatch(/^\s*import type\b/);
        imports++;
      }
      expect(code).not.toMatch(/\b(require|import)\s*\(\s*['"]ioredis['"]/);
    }
    expect(imports).toBe(1);
  });

  it('close() leaves the client it was given open', async () => {
    const own = newRedis();
    try {
      expect(await own.ping()).toBe('PONG');
      const store = new RedisStore({ client: own, prefix });
      await store.close();
      expect(own.status).toBe('ready');
      expect(await own.ping()).toBe('PONG');
    } finally {
      await closeClient(own);
    }
  });
});
