import { jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { MemoryStore, SESSION_STORE } from 'nestjs-sessionkit';
import { lifecycleApp } from './fixtures/lifecycle.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { idOf, setCookieValue } from './support/cookies.js';
import { CountingStore } from './support/stores.js';

const CLEARED = /^sid=;.*expires=Thu, 01 Jan 1970 00:00:00 GMT/i;

describe.each(adapters)('session lifecycle (%s)', (adapter) => {
  describe('with the default store', () => {
    let app: INestApplication;
    let base: string;
    let store: MemoryStore;

    beforeAll(async () => {
      app = await startApp(lifecycleApp(), adapter);
      base = await baseUrl(app);
      store = app.get<MemoryStore>(SESSION_STORE);
    });
    afterAll(() => app.close());

    it('uses a MemoryStore by default', () => {
      expect(store).toBeInstanceOf(MemoryStore);
    });

    it('sends no cookie and stores nothing for sessions nothing wrote to', async () => {
      const before = store.size;
      const client = new Client(base);
      const peek = await client.get('/peek');
      expect(peek.status).toBe(200);
      expect(peek.body).toMatchObject({ isNew: true, value: null });
      expect(peek.setCookies).toEqual([]);
      const undone = await client.post('/set-and-delete');
      expect(undone.status).toBe(200);
      expect(undone.setCookies).toEqual([]);
      expect((await client.get('/plain')).setCookies).toEqual([]);
      expect(store.size).toBe(before);

      // A live session that is only read sends no cookie either.
      await client.post('/set', { value: 1 });
      expect(store.size).toBe(before + 1);
      const read = await client.get('/peek');
      expect(read.body).toMatchObject({ isNew: false, value: 1 });
      expect(read.setCookies).toEqual([]);
    });

    it('regenerate moves the session to a new id and the old cookie stops working', async () => {
      const client = new Client(base);
      await client.post('/set', { value: 'carried' });
      const oldCookie = client.jar.get('sid')!;
      const size = store.size;

      const res = await client.post('/regenerate');
      expect(res.status).toBe(200);
      const newCookie = setCookieValue(res.setCookies)!;
      expect(newCookie).toBeDefined();
      expect(idOf(newCookie)).not.toBe(idOf(oldCookie));
      expect(res.body).toEqual({ before: idOf(oldCookie), after: idOf(newCookie) });
      expect(store.size).toBe(size);

      expect((await client.get('/peek')).body).toMatchObject({ isNew: false, value: 'carried' });
      const stale = new Client(base);
      stale.jar.set('sid', oldCookie);
      expect((await stale.get('/peek')).body).toMatchObject({ isNew: true, value: null });
    });

    it('destroy clears the cookie and deletes the record', async () => {
      const client = new Client(base);
      await client.post('/set', { value: 'doomed' });
      const oldCookie = client.jar.get('sid')!;
      const size = store.size;

      const res = await client.post('/destroy');
      expect(res.status).toBe(200);
      expect(res.setCookies).toHaveLength(1);
      expect(res.setCookies[0]).toMatch(CLEARED);
      expect(store.size).toBe(size - 1);

      const stale = new Client(base);
      stale.jar.set('sid', oldCookie);
      const peek = await stale.get('/peek');
      expect(peek.body).toMatchObject({ isNew: true, value: null });
    });

    it('keeps changes made before the handler threw, answering with its error status', async () => {
      const client = new Client(base);
      const first = await client.post('/throw', { value: 'new session' });
      expect(first.status).toBe(409);
      expect((first.body as { message: string }).message).toBe('changed, then failed');
      expect(setCookieValue(first.setCookies)).toBeDefined();
      expect((await client.get('/peek')).body).toMatchObject({ isNew: false, value: 'new session' });

      const second = await client.post('/throw', { value: 'existing session' });
      expect(second.status).toBe(409);
      expect((await client.get('/peek')).body).toMatchObject({ isNew: false, value: 'existing session' });
    });

    it('keeps changes made by a @Redirect() handler', async () => {
      const client = new Client(base);
      const res = await client.post('/redirect', { value: 'redirected' });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/peek');
      expect(setCookieValue(res.setCookies)).toBeDefined();
      expect((await client.get('/peek')).body).toMatchObject({ isNew: false, value: 'redirected' });
    });

    it('keeps changes of a @Res() handler that saves before sending', async () => {
      const client = new Client(base);
      const res = await client.post('/raw', { value: 'raw 1' });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ raw: true });
      expect(setCookieValue(res.setCookies)).toBeDefined();
      expect((await client.get('/peek')).body).toMatchObject({ isNew: false, value: 'raw 1' });

      const again = await client.post('/raw', { value: 'raw 2' });
      expect(again.status).toBe(201);
      expect((await client.get('/peek')).body).toMatchObject({ isNew: false, value: 'raw 2' });
    });
  });

  describe.each([
    ['a store class', true],
    ['a store instance', false],
  ])('a route without @Session(), with %s', (_label, asClass) => {
    let app: INestApplication;
    let store: CountingStore;
    let client: Client;

    beforeAll(async () => {
      const instance = new CountingStore();
      app = await startApp(lifecycleApp({ store: asClass ? CountingStore : instance }), adapter);
      store = app.get<CountingStore>(SESSION_STORE);
      expect(store).toBeInstanceOf(CountingStore);
      expect(store === instance).toBe(!asClass);
      client = new Client(await baseUrl(app));
      await client.post('/set', { value: 'x' });
      expect(client.jar.has('sid')).toBe(true);
    });
    afterAll(async () => {
      await app.close();
      await store.close();
    });

    it('does not read or write the store, and sends no cookie', async () => {
      store.reset();
      const res = await client.get('/plain');
      expect(res.status).toBe(200);
      expect(res.setCookies).toEqual([]);
      expect(store.calls).toMatchObject({ get: 0, set: 0, touch: 0, patch: 0, destroy: 0 });

      // The same client on a route that uses the session does read it.
      const peek = await client.get('/peek');
      expect(peek.body).toMatchObject({ value: 'x' });
      expect(store.calls.get).toBe(1);
    });
  });

  describe('shutdown', () => {
    it('app.close() stops the timer of the MemoryStore the module created', async () => {
      const app = await startApp(lifecycleApp(), adapter);
      const setInterval = jest.spyOn(globalThis, 'setInterval');
      const clearInterval = jest.spyOn(globalThis, 'clearInterval');
      let closed = false;
      try {
        const client = new Client(await baseUrl(app));
        await client.post('/set', { value: 1 });
        const store = app.get<MemoryStore>(SESSION_STORE);
        expect(store.size).toBe(1);
        const index = setInterval.mock.calls.findIndex((call) => call[1] === 60_000);
        expect(index).toBeGreaterThanOrEqual(0);
        const timer = setInterval.mock.results[index]!.value;

        await app.close();
        closed = true;
        expect(clearInterval).toHaveBeenCalledWith(timer);
        expect(store.size).toBe(0);
      } finally {
        setInterval.mockRestore();
        clearInterval.mockRestore();
        if (!closed) await app.close();
      }
    });

    it('closes a store class it built, and leaves a store instance it was given open', async () => {
      const classApp = await startApp(lifecycleApp({ store: CountingStore }), adapter);
      const built = classApp.get<CountingStore>(SESSION_STORE);
      const given = new CountingStore();
      const instanceApp = await startApp(lifecycleApp({ store: given }), adapter);
      try {
        await new Client(await baseUrl(instanceApp)).post('/set', { value: 1 });
      } finally {
        await classApp.close();
        await instanceApp.close();
      }
      expect(built.calls.close).toBe(1);
      expect(given.calls.close).toBe(0);
      expect(given.size).toBe(1);
      await given.close();
    });
  });
});
