import type { INestApplication } from '@nestjs/common';
import type { Pool } from 'pg';
import { MemoryStore, MysqlStore, PostgresStore, RedisStore, type SessionRecord, type SessionStore } from 'nestjs-sessionkit';
import { sessionLockAppModule } from './fixtures/session-lock.fixture.js';
import { adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { dropSchema, newPool, testSchema } from './support/postgres.js';
import { dropTables, newMysqlPool, testTable } from './support/mysql.js';
import { deleteKeys, newRedis, testPrefix } from './support/redis.js';
import { CountingStore } from './support/stores.js';

/** How many pairs of parallel read-modify-writes the cart case runs per store and adapter. */
const PAIRS = 1_000;
/** Pairs sent at once: the two requests of a pair always overlap, and a few pairs hide the HTTP round trips. */
const WINDOW = 4;

/** Runs `PAIRS` pairs of parallel POSTs to `route`/a<i> and `route`/b<i>, `WINDOW` pairs at a time. */
async function pairs(client: Client, route: string): Promise<void> {
  for (let i = 0; i < PAIRS; i += WINDOW) {
    const sent: Promise<void>[] = [];
    for (let j = i; j < Math.min(i + WINDOW, PAIRS); j++) {
      sent.push(
        Promise.all([client.post(`${route}/a${j}?ms=1`), client.post(`${route}/b${j}?ms=1`)]).then(([a, b]) => {
          if (a.status !== 200 || b.status !== 200) throw new Error(`pair ${j}: ${a.status} ${b.status} ${a.text} ${b.text}`);
        }),
      );
    }
    await Promise.all(sent);
  }
}

const storeKinds = ['memory', 'redis', 'postgres', 'mysql'] as const;
type StoreKind = (typeof storeKinds)[number];

interface TestStore {
  store: SessionStore;
  close(): Promise<void>;
}

function makeStore(kind: StoreKind): TestStore {
  if (kind === 'memory') {
    const store = new MemoryStore();
    return { store, close: () => store.close() };
  }
  if (kind === 'redis') {
    const redis = newRedis();
    const prefix = testPrefix('lock');
    return {
      store: new RedisStore({ client: redis, prefix }),
      async close() {
        await deleteKeys(redis, prefix);
        redis.disconnect();
      },
    };
  }
  if (kind === 'mysql') {
    const pool = newMysqlPool();
    const table = testTable('lock');
    return {
      store: new MysqlStore({ pool, table, createTable: true, cleanupInterval: 0 }),
      async close() {
        try {
          await dropTables(pool, table);
        } finally {
          await pool.end();
        }
      },
    };
  }
  const pool: Pool = newPool();
  const schema = testSchema('lock');
  return {
    store: new PostgresStore({ pool, schema, createTable: true, cleanupInterval: 0 }),
    async close() {
      await dropSchema(pool, schema);
      await pool.end();
    },
  };
}

describe.each(storeKinds.flatMap((kind) => adapters.map((adapter) => [kind, adapter] as const)))('@SessionLock() on %s (%s)', (kind, adapter) => {
  let app: INestApplication;
  let base: string;
  let testStore: TestStore;

  beforeAll(async () => {
    testStore = makeStore(kind);
    app = await startApp(sessionLockAppModule(testStore.store), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    await app?.close();
    await testStore?.close();
  });

  async function start(): Promise<{ client: Client; handle: string }> {
    const client = new Client(base);
    const res = await client.post('/start');
    expect(res.status).toBe(200);
    return { client, handle: (res.body as { handle: string }).handle };
  }

  async function cartOf(handle: string): Promise<string[]> {
    return (await testStore.store.get(handle))!.data.cart as string[];
  }

  it(`loses no item over ${PAIRS} pairs of parallel read-modify-writes with the lock`, async () => {
    const { client, handle } = await start();
    await pairs(client, '/locked');
    const cart = await cartOf(handle);
    expect(cart).toHaveLength(2 * PAIRS);
    expect(new Set(cart).size).toBe(2 * PAIRS);
  }, 300_000);

  it(`loses items over the same ${PAIRS} pairs without it (the lock is what keeps them)`, async () => {
    const { client, handle } = await start();
    await pairs(client, '/unlocked');
    expect((await cartOf(handle)).length).toBeLessThan(2 * PAIRS);
  }, 300_000);

  it('a lock on the whole controller serializes its handlers too', async () => {
    const { client, handle } = await start();
    await Promise.all(Array.from({ length: 10 }, (_, i) => client.post(`/whole/w${i}?ms=5`)));
    expect((await cartOf(handle)).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `w${i}`).sort());
  });

  it('answers 409 after waitMs and changes nothing', async () => {
    const { client, handle } = await start();
    const slow = client.post('/locked/slow?ms=600');
    await delay(100);
    const busy = await client.post('/impatient/late');
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ statusCode: 409, message: expect.stringMatching(/session is busy/) });
    expect(await cartOf(handle)).toEqual([]);
    expect((await slow).status).toBe(200);
    expect(await cartOf(handle)).toEqual(['slow']);
  });

  it('frees the lock on every exit path: exception, guard denial, streamed response', async () => {
    const { client, handle } = await start();
    expect((await client.post('/throws/t')).status).toBe(500);
    expect((await client.post('/denied')).status).toBe(401);
    const streamed = await client.get('/stream/s');
    expect(streamed.status).toBe(200);
    expect(streamed.text).toBe('ab');
    // Each would otherwise hold the lock for ttlMs (30 s): waitMs is 100 ms here.
    expect((await client.post('/impatient/after')).status).toBe(200);
    // A handler that throws still saves what it changed, as on every route.
    expect(await cartOf(handle)).toEqual(['t', 's', 'after']);
  });

  it('frees the lock after the handler of a client that disconnected has saved', async () => {
    const { client, handle } = await start();
    const abort = new AbortController();
    const cookie = [...client.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const gone = fetch(`${base}/locked/gone?ms=300`, { method: 'POST', headers: { cookie }, signal: abort.signal }).catch(() => 'aborted');
    await delay(100);
    abort.abort();
    expect(await gone).toBe('aborted');
    // Waits for the handler (about 200 ms more), not for ttlMs.
    expect((await client.post('/locked/next')).status).toBe(200);
    expect(await cartOf(handle)).toEqual(['gone', 'next']);
  });

  it('takes no lock for a request without a session cookie: the new session cannot race', async () => {
    const client = new Client(base);
    const res = await client.post('/locked/first');
    expect(res.status).toBe(200);
    const again = await client.get('/cart');
    expect(again.body).toEqual({ cart: ['first'] });
  });
});

describe.each(adapters)('@SessionLock() costs and fencing (%s)', (adapter) => {
  let app: INestApplication;
  let base: string;
  let store: CountingStore;

  beforeAll(async () => {
    store = new CountingStore();
    app = await startApp(sessionLockAppModule(store), adapter);
    base = await baseUrl(app);
  });
  afterAll(() => app?.close());

  it('takes no lock on routes without @SessionLock(), nor for requests without a session cookie', async () => {
    const client = new Client(base);
    store.locks = 0;
    await client.post('/locked/first');
    expect(store.locks).toBe(0);
    await client.post('/unlocked/x');
    await client.get('/cart');
    expect(store.locks).toBe(0);
    await client.post('/locked/y');
    expect(store.locks).toBe(1);
    expect((await client.get('/cart')).body).toEqual({ cart: ['first', 'x', 'y'] });
  });

  it('a request that outlived its lock saves nothing over the next holder and answers 503', async () => {
    const client = new Client(base);
    const { handle } = (await client.post('/start')).body as { handle: string };
    // Renewals fail (the store is unreachable for them): the 300 ms lock runs out under the slow request.
    store.failRenewals = true;
    const late = client.post('/short/late?ms=900');
    await delay(450);
    const next = await client.post('/short/next?ms=1');
    expect(next.status).toBe(200);
    store.failRenewals = false;
    const lost = await late;
    expect(lost.status).toBe(503);
    expect(lost.body).toMatchObject({ statusCode: 503, message: expect.stringMatching(/outlived its session lock/) });
    expect((await store.get(handle))!.data.cart).toEqual(['next']);
  });
});

describe.each(adapters)('@SessionLock() with preload: true (%s)', (adapter) => {
  let app: INestApplication;
  let store: MemoryStore;
  let base: string;

  beforeAll(async () => {
    store = new MemoryStore();
    app = await startApp(sessionLockAppModule(store, undefined, true), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    await app?.close();
    await store.close();
  });

  it('reads the preloaded session again once the lock is held: parallel read-modify-writes lose nothing', async () => {
    const client = new Client(base);
    const { handle } = (await client.post('/start')).body as { handle: string };
    await Promise.all(Array.from({ length: 40 }, (_, i) => client.post(`/locked/p${i}?ms=2`)));
    expect((await store.get(handle))!.data.cart).toHaveLength(40);
  });

  it('answers 409 after waitMs, not 503, though the session was loaded before the lock, and changes nothing', async () => {
    const client = new Client(base);
    const { handle } = (await client.post('/start')).body as { handle: string };
    const before = await store.get(handle);
    const slow = client.post('/locked/slow?ms=600');
    await delay(100);
    const busy = await client.post('/impatient/late');
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ statusCode: 409, message: expect.stringMatching(/session is busy/) });
    expect(busy.setCookies).toEqual([]);
    expect(await store.get(handle)).toEqual(before);
    expect((await slow).status).toBe(200);
    expect((await store.get(handle))!.data.cart).toEqual(['slow']);
  });

  it('a request that waited for a logout goes on with a new, empty session', async () => {
    const client = new Client(base);
    const { handle } = (await client.post('/start')).body as { handle: string };
    const out = client.post('/logout?ms=300');
    await delay(100);
    // Sent with the cookie of the session being logged out, and loaded before the lock.
    const after = await client.post('/locked/after');
    expect((await out).status).toBe(200);
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ items: 1 });
    expect(await store.get(handle)).toBeUndefined();
    const now = (await client.get('/locked-cart')).body as { cart: unknown; handle: string };
    expect(now.cart).toEqual(['after']);
    expect(now.handle).not.toBe(handle);
    expect((await store.get(now.handle))!.data.cart).toEqual(['after']);
  });

  it('a read that waited for a logout sees an empty session and creates none', async () => {
    const client = new Client(base);
    const { handle } = (await client.post('/start')).body as { handle: string };
    const size = store.size;
    const out = client.post('/logout?ms=300');
    await delay(100);
    const read = await client.get('/locked-cart');
    expect((await out).status).toBe(200);
    expect(read.status).toBe(200);
    expect((read.body as { cart: unknown }).cart).toBeNull();
    expect(read.setCookies).toEqual([]);
    expect(await store.get(handle)).toBeUndefined();
    expect(store.size).toBe(size - 1);
  });

  it('a logout that waited for another logout clears the cookie', async () => {
    const client = new Client(base);
    const { handle } = (await client.post('/start')).body as { handle: string };
    const cookie = `sid=${client.jar.get('sid')!}`;
    const first = client.post('/logout?ms=300');
    await delay(100);
    const second = await client.post('/logout', {}, { cookie });
    expect((await first).status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.setCookies).toEqual([expect.stringMatching(/^sid=;/)]);
    expect(await store.get(handle)).toBeUndefined();
  });
});

describe.each(adapters)('@SessionLock() in two apps of one process with different lock defaults (%s)', (adapter) => {
  const apps: { app: INestApplication; base: string; store: MemoryStore }[] = [];

  beforeAll(async () => {
    // The same controllers in both: each app's own defaults must apply to them.
    for (const waitMs of [50, 5_000]) {
      const store = new MemoryStore();
      const app = await startApp(sessionLockAppModule(store, { waitMs }), adapter);
      apps.push({ app, base: await baseUrl(app), store });
    }
  });
  afterAll(async () => {
    for (const { app, store } of apps) {
      await app.close();
      await store.close();
    }
  });

  /** A locked request of 400 ms, and another of the session sent 100 ms into it: the second's status. */
  async function waiting(at: { base: string; store: MemoryStore }, item: string): Promise<number> {
    const client = new Client(at.base);
    const { handle } = (await client.post('/start')).body as { handle: string };
    const slow = client.post('/locked/slow?ms=400');
    await delay(100);
    const second = await client.post(`/locked/${item}?ms=1`);
    expect((await slow).status).toBe(200);
    expect((await at.store.get(handle))!.data.cart).toEqual(second.status === 200 ? ['slow', item] : ['slow']);
    return second.status;
  }

  it("each app's waitMs applies to the handlers they share", async () => {
    const [impatient, patient] = apps;
    expect(await waiting(impatient!, 'a')).toBe(409);
    expect(await waiting(patient!, 'b')).toBe(200);
    expect(await waiting(impatient!, 'c')).toBe(409);
  });
});

/** A MemoryStore whose next read answers late, with the record as it was when the read was sent. */
class SlowReadStore extends MemoryStore {
  slowNextRead = 0;

  override async get(handle: string): Promise<SessionRecord | undefined> {
    const record = super.get(handle);
    const ms = this.slowNextRead;
    this.slowNextRead = 0;
    if (ms > 0) await delay(ms);
    return record;
  }
}

describe.each(adapters)('@SessionLock() with a load started before the lock (%s)', (adapter) => {
  let app: INestApplication;
  let store: SlowReadStore;
  let base: string;

  beforeAll(async () => {
    store = new SlowReadStore();
    app = await startApp(sessionLockAppModule(store, undefined, false, true), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    await app?.close();
    await store.close();
  });

  it('waits for a load still running when the lock is granted and reads the session again: nothing is lost', async () => {
    const client = new Client(base);
    const { handle } = (await client.post('/start')).body as { handle: string };
    const first = client.post('/locked/a?ms=200');
    await delay(50);
    // The second request's early read is sent now (the cart still empty) and answers after the
    // first request saved and freed the lock.
    store.slowNextRead = 400;
    const second = client.post('/locked/b?ms=1');
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect((await store.get(handle))!.data.cart).toEqual(['a', 'b']);
  });
});
