import type { INestApplication } from '@nestjs/common';
import { expiryApp } from './fixtures/expiry.fixture.js';
import { adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { waitUntil } from './support/redis.js';
import { CountingStore } from './support/stores.js';

describe.each(adapters)('session expiry (%s)', (adapter) => {
  const apps: INestApplication[] = [];
  const stores: CountingStore[] = [];

  /** Starts an expiry app on a fresh counting store; both are closed after the suite. */
  async function start(timeouts: Parameters<typeof expiryApp>[1], keepForever = false): Promise<{ base: string; store: CountingStore }> {
    const store = new CountingStore();
    store.keepForever = keepForever;
    stores.push(store);
    const app = await startApp(expiryApp(store, timeouts), adapter);
    apps.push(app);
    return { base: await baseUrl(app), store };
  }

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await Promise.all(stores.map((store) => store.close()));
  });

  it('ends a session left idle past idleTimeout, even when the old cookie is sent again', async () => {
    // The store keeps the record: the server itself must refuse it.
    // Long enough that a loaded machine cannot make the first two requests miss it.
    const { base, store } = await start({ idleTimeout: 1000 }, true);
    const client = new Client(base);
    await client.post('/set', { value: 'idle' });
    const cookie = client.jar.get('sid')!;
    expect((await client.get('/peek')).body).toEqual({ isNew: false, value: 'idle' });

    await delay(1100);
    const handle = handleOf(idOf(cookie));
    expect(await store.inner.get(handle)).toBeDefined();
    const stale = new Client(base);
    stale.jar.set('sid', cookie);
    const res = await stale.get('/peek');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ isNew: true, value: null });
    // The expired record is dropped (in the background), not left for the next request.
    await waitUntil('the expired record to be dropped', async () => (await store.inner.get(handle)) === undefined, 2_000, 10);
  });

  it('keeps a session alive while it is used, within idleTimeout each time', async () => {
    const { base } = await start({ idleTimeout: 300, touchInterval: 50 });
    const client = new Client(base);
    await client.post('/set', { value: 'busy' });
    for (let i = 0; i < 5; i++) {
      await delay(120);
      expect((await client.get('/peek')).body).toEqual({ isNew: false, value: 'busy' });
    }
    // 600 ms have passed since it was written: more than idleTimeout, yet each gap was less.
  });

  it('ends a session older than absoluteTimeout however busy it is', async () => {
    const { base } = await start({ idleTimeout: 2_000, absoluteTimeout: 600, touchInterval: 50 }, true);
    const client = new Client(base);
    const createdAt = Date.now();
    await client.post('/set', { value: 'old' });
    const cookie = client.jar.get('sid')!;
    for (let i = 0; i < 3; i++) {
      await delay(100);
      expect((await client.get('/peek')).body).toEqual({ isNew: false, value: 'old' });
    }
    await delay(createdAt + 700 - Date.now());
    const stale = new Client(base);
    stale.jar.set('sid', cookie);
    expect((await stale.get('/peek')).body).toEqual({ isNew: true, value: null });

    // Writing to it again does not revive it: a new id is issued.
    const write = await stale.post('/set', { value: 'new' });
    expect(stale.jar.get('sid')).toBeDefined();
    expect(idOf(stale.jar.get('sid')!)).not.toBe(idOf(cookie));
    expect(write.setCookies).toHaveLength(1);
  });

  it('a read within touchInterval writes nothing; after it, one touch', async () => {
    const { base, store } = await start({ idleTimeout: 2_000, touchInterval: 300 });
    const client = new Client(base);
    await client.post('/set', { value: 'quiet' });

    store.reset();
    for (let i = 0; i < 3; i++) {
      const res = await client.get('/peek');
      expect(res.body).toEqual({ isNew: false, value: 'quiet' });
      expect(res.setCookies).toEqual([]);
    }
    expect(store.calls.get).toBe(3);
    expect(store.writes).toBe(0);

    await delay(350);
    store.reset();
    await client.get('/peek');
    expect(store.writes).toBe(1);
    expect(store.calls.touch).toBe(1);

    // Touched just now: the next read is quiet again.
    store.reset();
    await client.get('/peek');
    expect(store.writes).toBe(0);
  });
});
