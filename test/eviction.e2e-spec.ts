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

  it('keeps another user\'s idle session while one account logs in twice the capacity over: the account loses its own oldest', async () => {
    const idle = new Client(base);
    await idle.post('/login', { userId: `idle-${adapter}` });
    const first = new Client(base);
    await first.post('/login', { userId: `flooder-${adapter}` });
    let last = first;
    for (let i = 0; i < 2 * CAPACITY; i += BATCH) {
      const clients = Array.from({ length: BATCH }, () => new Client(base));
      const flood = await Promise.all(clients.map((c) => c.post('/login', { userId: `flooder-${adapter}` })));
      expect(flood.every((r) => r.status === 200)).toBe(true);
      last = clients[BATCH - 1]!;
    }
    expect(store.size).toBe(CAPACITY);
    expect((await idle.get('/me')).body).toEqual({ userId: `idle-${adapter}`, x: null });
    // The account's oldest sessions went, down to its share (1% of 200: 2, plus the one being written).
    expect((await first.get('/me')).status).toBe(401);
    expect((await last.get('/me')).status).toBe(200);
    expect((await store.listByUser(`flooder-${adapter}`)).length).toBe(3);
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
