import type { INestApplication } from '@nestjs/common';
import { MemoryStore, SESSION_STORE } from 'nestjs-sessionkit';
import { once } from 'node:events';
import { ConcurrencyAppModule, slowLoaded } from './fixtures/concurrency.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { setCookieValue } from './support/cookies.js';

describe.each(adapters)('parallel requests on one session (%s)', (adapter) => {
  let app: INestApplication;
  let base: string;
  let store: MemoryStore;

  beforeAll(async () => {
    app = await startApp(ConcurrencyAppModule, adapter);
    base = await baseUrl(app);
    store = app.get<MemoryStore>(SESSION_STORE);
  });
  afterAll(() => app.close());

  async function login(): Promise<{ client: Client; handle: string }> {
    const client = new Client(base);
    const res = await client.post('/login', { userId: 1 });
    return { client, handle: (res.body as { handle: string }).handle };
  }

  it('keeps the changes of two overlapping requests to different keys', async () => {
    const { client } = await login();
    const [a, b] = await Promise.all([client.post('/slow/a?ms=150'), client.post('/slow/b?ms=100')]);
    expect(a.body).toEqual({ loadedExisting: true });
    expect(b.body).toEqual({ loadedExisting: true });
    expect((await client.get('/me')).body).toEqual({ userId: 1, a: true, b: true });
  });

  it('loses no increment under 50 parallel requests', async () => {
    const { client } = await login();
    const replies = await Promise.all(Array.from({ length: 50 }, () => client.post('/increment')));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect((await client.get('/me')).body).toEqual({ userId: 1, n: 50 });
  });

  it('a slow request finishing after a parallel logout does not bring the session back', async () => {
    const { client, handle } = await login();
    const cookie = client.jar.get('sid')!;
    expect(await store.get(handle)).toBeDefined();

    const slow = new Client(base);
    slow.jar.set('sid', cookie);
    const loaded = once(slowLoaded, 'late');
    const pending = slow.post('/slow/late?ms=300');
    await loaded;
    const logout = await client.post('/logout');
    expect(logout.status).toBe(200);
    expect(await store.get(handle)).toBeUndefined();

    const late = await pending;
    expect(late.status).toBe(200);
    // It did start on the live session, before the logout.
    expect(late.body).toEqual({ loadedExisting: true });
    // No live cookie is handed out again (at most one that clears it).
    expect(setCookieValue(late.setCookies) ?? '').toBe('');

    expect(await store.get(handle)).toBeUndefined();
    const stale = new Client(base);
    stale.jar.set('sid', cookie);
    expect((await stale.get('/me')).status).toBe(401);
    expect((await stale.get('/peek')).body).toEqual({ isNew: true, data: {} });
  });
});
