import type { INestApplication } from '@nestjs/common';
import type { SessionStore } from 'nestjs-sessionkit';
import { requestSessionApp } from './fixtures/request-session.fixture.js';
import { adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { type TestStore, storeKinds, testStore } from './support/store-matrix.js';

describe.each(adapters)('req.session, the express-session surface (%s)', (adapter) => {
  describe.each(storeKinds)('on %s', (kind) => {
    let app: INestApplication;
    let base: string;
    let store: SessionStore;
    let testing: TestStore;

    beforeAll(async () => {
      testing = testStore(kind, `req-session-${adapter}`);
      store = testing.store;
      app = await startApp(requestSessionApp(store), adapter);
      base = await baseUrl(app);
    });
    afterAll(async () => {
      await app.close();
      await testing.close();
    });

    const handleIn = (client: Client) => handleOf(idOf(client.jar.get('sid')!));
    const stored = async (client: Client) => (await store.get(handleIn(client)))?.data;

    it('reads, writes, deletes and lists values as properties, nested changes included', async () => {
      const client = new Client(base);
      const res = await client.post('/rs/props');
      expect(res.body).toEqual({
        a: 1,
        hasA: true,
        hasGone: false,
        keys: ['cookie', 'a', 'b'],
        json: { a: 1, b: { deep: [1, 2, 3] } },
      });
      expect(await stored(client)).toEqual({ a: 1, b: { deep: [1, 2, 3] } });
    });

    it('regenerate(cb) starts an empty session under a new id and deletes the old record', async () => {
      const client = new Client(base);
      await client.post('/rs/props');
      const oldHandle = handleIn(client);
      const res = await client.post('/rs/regenerate');
      const body = res.body as { before: string; after: string; a: number | null };
      expect(body.after).not.toBe(body.before);
      expect(body.a).toBeNull();
      // Nothing was written to the new, empty session: no record, and the old cookie is cleared.
      expect(client.jar.has('sid')).toBe(false);
      expect(await store.get(oldHandle)).toBeUndefined();
    });

    it('save(cb) writes before the handler returns', async () => {
      const client = new Client(base);
      await client.post('/rs/props');
      const res = await client.post('/rs/save');
      expect(res.status).toBe(200);
      expect((await store.get((res.body as { handle: string }).handle))?.data).toMatchObject({ saved: 'yes' });
    });

    it('destroy(cb) deletes the record and clears the cookie', async () => {
      const client = new Client(base);
      await client.post('/rs/props');
      const handle = handleIn(client);
      const res = await client.post('/rs/destroy');
      expect(res.body).toEqual({ a: null });
      expect(await store.get(handle)).toBeUndefined();
      expect(client.jar.has('sid')).toBe(false);
    });

    it('reload(cb) drops unsaved changes and reads the store again', async () => {
      const client = new Client(base);
      await client.post('/rs/props');
      const res = await client.post('/rs/reload');
      expect(res.body).toEqual({ unsaved: null, a: 1 });
      expect(await stored(client)).toEqual({ a: 1, b: { deep: [1, 2, 3] } });
    });

    it('id is the handle\'s id, and cookie reports the cookie attributes', async () => {
      const client = new Client(base);
      await client.post('/rs/props');
      expect((await client.get('/rs/id')).body).toEqual({ same: true });
      expect((await client.get('/rs/cookie')).body).toEqual({ path: '/', secure: false, httpOnly: true, sameSite: 'lax', partitioned: false, maxAge: null, expires: null, originalMaxAge: null });
    });

    it("names the fix when a handler got Nest's own @Session() and calls a handle method", async () => {
      const res = await new Client(base).post('/rs/wrong-decorator');
      expect(res.body).toMatchObject({ error: 'SessionWrongDecoratorError' });
      expect((res.body as { message: string }).message).toContain("import { Session } from 'nestjs-sessionkit'");
    });

    it('touch() extends the idle expiry although the touch interval has not passed', async () => {
      const client = new Client(base);
      await client.post('/rs/props');
      const before = (await store.get(handleIn(client)))!.touchedAt;
      await delay(20);
      await client.post('/rs/touch');
      expect((await store.get(handleIn(client)))!.touchedAt).toBeGreaterThan(before);
    });
  });
});
