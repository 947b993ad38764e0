import type { INestApplication } from '@nestjs/common';
import type { UserSession } from 'nestjs-sessionkit';
import { serviceApp } from './fixtures/service.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { CountingStore } from './support/stores.js';

describe.each(adapters)('SessionService (%s)', (adapter) => {
  const store = new CountingStore();
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await startApp(serviceApp(store), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  async function login(userId: string): Promise<{ client: Client; handle: string }> {
    const client = new Client(base);
    const res = await client.post('/login', { userId });
    expect(res.status).toBe(200);
    return { client, handle: (res.body as { handle: string }).handle };
  }

  it("load() in a user's guard gives the handler's @Session() handle, read once per request", async () => {
    const client = new Client(base);
    const first = await client.get('/guarded');
    expect(first.body).toEqual({ same: true, loadedTwiceSame: true, visits: 1 });

    store.reset();
    const second = await client.get('/guarded');
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ same: true, loadedTwiceSame: true, visits: 2 });
    expect(store.calls.get).toBe(1);
  });

  it('saves what a guard changed on a route whose handler does not use the session', async () => {
    const client = new Client(base);
    const first = await client.get('/guard-only');
    expect(first.status).toBe(200);
    expect(client.jar.has('sid')).toBe(true);
    await client.get('/guard-only');
    expect((await client.get('/guarded')).body).toMatchObject({ visits: 3 });
  });

  it("saves a guard's change on a route whose handler never asks for the session", async () => {
    const client = new Client(base);
    await client.get('/guarded');
    store.reset();
    const res = await client.get('/guard-unbound');
    expect(res.status).toBe(200);
    expect(store.calls.patch).toBe(1);
    expect((await client.get('/guarded')).body).toMatchObject({ visits: 3 });
  });

  it('lets SessionGuard alone protect a route without @Session(), reading the store once', async () => {
    const { client } = await login(`guard-only-${adapter}`);
    store.reset();
    const res = await client.get('/guard-read-only');
    expect(res.status).toBe(200);
    expect(store.calls.get).toBe(1);
    expect(store.calls.patch + store.calls.set).toBe(0);
    expect((await new Client(base).get('/guard-read-only')).status).toBe(401);
  });

  it("lists a user's sessions with the caller marked, and logs out the others", async () => {
    const user = `user-${adapter}`;
    const laptop = await login(user);
    const phone = await login(user);
    const stranger = await login(`someone-else-${adapter}`);

    const fromLaptop = await laptop.client.get('/sessions');
    expect(fromLaptop.status).toBe(200);
    const list = fromLaptop.body as UserSession[];
    expect(list).toHaveLength(2);
    expect(list.map((s) => s.handle).sort()).toEqual([laptop.handle, phone.handle].sort());
    expect(list.filter((s) => s.current).map((s) => s.handle)).toEqual([laptop.handle]);
    for (const s of list) {
      expect(typeof s.createdAt).toBe('number');
      expect(typeof s.lastSeenAt).toBe('number');
    }
    const fromPhone = (await phone.client.get('/sessions')).body as UserSession[];
    expect(fromPhone.filter((s) => s.current).map((s) => s.handle)).toEqual([phone.handle]);

    const out = await laptop.client.post('/sessions/others/logout');
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ destroyed: 1 });

    expect((await phone.client.get('/me')).status).toBe(401);
    expect((await laptop.client.get('/me')).body).toEqual({ userId: user });
    expect((await stranger.client.get('/me')).body).toEqual({ userId: `someone-else-${adapter}` });
    const after = (await laptop.client.get('/sessions')).body as UserSession[];
    expect(after).toEqual([expect.objectContaining({ handle: laptop.handle, current: true })]);
  });
});
