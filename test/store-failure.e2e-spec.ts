import type { INestApplication } from '@nestjs/common';
import { HandlerRuns, storeFailureApp } from './fixtures/store-failure.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { CountingStore } from './support/stores.js';
import { MemoryStore, patchNow, setNow } from '../lib/stores/memory.store.js';

const READ_FAILED = 'The session store could not load the session. Please try again shortly.';
const WRITE_FAILED = 'The session store could not save the session. Please try again shortly.';

describe.each(adapters)('store failure (%s)', (adapter) => {
  const store = new CountingStore();
  let app: INestApplication;
  let base: string;
  let runs: HandlerRuns;

  beforeAll(async () => {
    app = await startApp(storeFailureApp(store), adapter);
    base = await baseUrl(app);
    runs = app.get(HandlerRuns);
  });
  afterEach(() => {
    store.failReads = false;
    store.failWrites = false;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('answers 503 without running the handler when the session cannot be read, and recovers', async () => {
    const client = new Client(base);
    await client.post('/set', { value: 'safe' });

    store.failReads = true;
    runs.count = 0;
    const peek = await client.get('/peek');
    expect(peek.status).toBe(503);
    expect(peek.body).toMatchObject({ statusCode: 503, message: READ_FAILED });
    expect(peek.setCookies).toEqual([]);
    const write = await client.post('/set', { value: 'lost' });
    expect(write.status).toBe(503);
    expect(runs.count).toBe(0);

    // Routes without the session are unaffected.
    const plain = await client.get('/plain');
    expect(plain.status).toBe(200);
    expect(plain.body).toEqual({ plain: true });

    store.failReads = false;
    const after = await client.get('/peek');
    expect(after.status).toBe(200);
    expect(after.body).toEqual({ isNew: false, value: 'safe' });
  });

  it('answers 503, not 401, from SessionGuard when the session cannot be read', async () => {
    const client = new Client(base);
    await client.post('/login');
    store.failReads = true;
    runs.count = 0;
    const me = await client.get('/me');
    expect(me.status).toBe(503);
    expect(me.body).toMatchObject({ message: READ_FAILED });
    expect(runs.count).toBe(0);

    store.failReads = false;
    const ok = await client.get('/me');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ userId: 1 });
  });

  it('answers 503 when changes cannot be saved, for new and existing sessions, and recovers', async () => {
    store.failWrites = true;
    const fresh = new Client(base);
    const first = await fresh.post('/set', { value: 'unsaved' });
    expect(first.status).toBe(503);
    expect(first.body).toMatchObject({ statusCode: 503, message: WRITE_FAILED });
    expect(first.setCookies).toEqual([]);
    expect(fresh.jar.has('sid')).toBe(false);

    store.failWrites = false;
    const existing = new Client(base);
    await existing.post('/set', { value: 'before' });
    store.failWrites = true;
    const second = await existing.post('/set', { value: 'unsaved' });
    expect(second.status).toBe(503);
    expect(second.body).toMatchObject({ message: WRITE_FAILED });
    expect((await existing.get('/plain')).status).toBe(200);

    store.failWrites = false;
    expect((await existing.get('/peek')).body).toEqual({ isNew: false, value: 'before' });
    const third = await existing.post('/set', { value: 'after' });
    expect(third.status).toBe(200);
    expect((await existing.get('/peek')).body).toEqual({ isNew: false, value: 'after' });
  });
});

describe.each(adapters)('store failure in a commit done at once (MemoryStore, %s)', (adapter) => {
  // MemoryStore writes before the commit returns; its writes fail here the way CountingStore's do above.
  const store = new MemoryStore();
  let failWrites = false;
  const failing =
    <A extends unknown[], R>(write: (...args: A) => R) =>
    (...args: A): R => {
      if (failWrites) throw new Error('simulated store outage');
      return write.apply(store, args);
    };
  store[patchNow] = failing(MemoryStore.prototype[patchNow]);
  store[setNow] = failing(MemoryStore.prototype[setNow]);
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await startApp(storeFailureApp(store), adapter);
    base = await baseUrl(app);
  });
  afterEach(() => {
    failWrites = false;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('answers 503 when changes cannot be saved, for new and existing sessions, and recovers', async () => {
    failWrites = true;
    const fresh = new Client(base);
    const first = await fresh.post('/set', { value: 'unsaved' });
    expect(first.status).toBe(503);
    expect(first.body).toMatchObject({ statusCode: 503, message: WRITE_FAILED });
    expect(first.setCookies).toEqual([]);
    expect(store.size).toBe(0);

    failWrites = false;
    const existing = new Client(base);
    await existing.post('/set', { value: 'before' });
    failWrites = true;
    const second = await existing.post('/set', { value: 'unsaved' });
    expect(second.status).toBe(503);
    expect(second.body).toMatchObject({ message: WRITE_FAILED });

    failWrites = false;
    expect((await existing.get('/peek')).body).toEqual({ isNew: false, value: 'before' });
    const third = await existing.post('/set', { value: 'after' });
    expect(third.status).toBe(200);
    expect((await existing.get('/peek')).body).toEqual({ isNew: false, value: 'after' });
  });
});
