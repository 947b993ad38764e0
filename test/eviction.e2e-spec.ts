import type { INestApplication } from '@nestjs/common';
import { MemoryStore } from 'nestjs-sessionkit';
import { hardeningApp } from './fixtures/hardening.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';

const CAPACITY = 200;
const BATCH = 25;

describe.each(adapters)('MemoryStore eviction under a flood of new sessions (%s)', (adapter) => {
  let store: MemoryStore;
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    store = new MemoryStore({ maxSessions: CAPACITY });
    app = await startApp(hardeningApp(store), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('keeps a logged-in user and an active visitor through new anonymous sessions of twice the capacity', async () => {
    const user = new Client(base);
    const login = await user.post('/login', { userId: `reader-${adapter}` });
    const userHandle = (login.body as { handle: string }).handle;
    // A visitor with a session of its own, that only reads it from now on.
    const visitor = new Client(base);
    await visitor.post('/visit');
    const idle = new Client(base);
    await idle.post('/visit');
    // The flood: twice the capacity of new anonymous sessions, with the user and the visitor
    // reading (never writing) between batches, as a page polling every few hundred ms would.
    for (let i = 0; i < 2 * CAPACITY; i += BATCH) {
      const flood = await Promise.all(Array.from({ length: BATCH }, () => new Client(base).post('/visit')));
      expect(flood.every((r) => r.status === 200)).toBe(true);
      expect((await user.get('/me')).status).toBe(200);
      expect((await visitor.get('/peek')).body).toMatchObject({ isNew: false, data: { visited: true } });
    }

    expect(store.size).toBe(CAPACITY);
    expect((await user.get('/me')).body).toEqual({ userId: `reader-${adapter}`, x: null });
    expect((await store.get(userHandle))?.data).toEqual({ userId: `reader-${adapter}` });
    // A session nobody used during the flood was evicted.
    expect((await idle.get('/peek')).body).toMatchObject({ isNew: true, data: {} });
  });

  it('keeps a logged-in user who makes no request while anonymous sessions flood in', async () => {
    const away = new Client(base);
    await away.post('/login', { userId: `away-${adapter}` });
    const visitor = new Client(base);
    await visitor.post('/visit');
    for (let i = 0; i < 2 * CAPACITY; i += BATCH) await Promise.all(Array.from({ length: BATCH }, () => new Client(base).post('/visit')));
    expect(store.size).toBe(CAPACITY);
    expect((await away.get('/me')).body).toEqual({ userId: `away-${adapter}`, x: null });
    // An anonymous session as idle as the user's was evicted.
    expect((await visitor.get('/peek')).body).toMatchObject({ isNew: true });
  });
});
