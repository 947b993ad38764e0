import type { INestApplication } from '@nestjs/common';
import { SessionService } from 'nestjs-sessionkit';
import { hardeningApp } from './fixtures/hardening.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { type TestStore, storeKinds, testStore } from './support/store-matrix.js';

describe.each(adapters)('reserved keys in session data (%s)', (adapter) => {
  describe.each(storeKinds)('%s', (kind) => {
    let store: TestStore;
    let app: INestApplication;
    let base: string;
    let sessions: SessionService;

    beforeAll(async () => {
      store = testStore(kind, `proto-${adapter}`);
      app = await startApp(hardeningApp(store.store), adapter);
      base = await baseUrl(app);
      sessions = app.get(SessionService);
    });
    afterAll(async () => {
      await app.close();
      await store.close();
    });

    async function visitor(): Promise<{ client: Client; handle: string }> {
      const client = new Client(base);
      await client.post('/visit');
      return { client, handle: handleOf(idOf(client.jar.get('sid')!)) };
    }

    it.each(['__proto__', 'constructor', 'prototype'])('refuses set() of the key %s, changing nothing', async (key) => {
      const { client, handle } = await visitor();
      const res = await client.post(`/set/${key}`, { value: { userId: 'victim-42' } });
      expect(res.status).toBe(500);
      expect((await client.get('/peek')).body).toEqual({ isNew: false, userId: null, data: { visited: true } });
      const record = await store.store.get(handle);
      expect(Object.keys(record!.data)).toEqual(['visited']);
      expect(record!.user).toBeUndefined();
      expect(await sessions.listByUser('victim-42')).toEqual([]);
    });

    it.each([
      ['{"__proto__":{"userId":"victim-42"}}'],
      ['{"profile":{"name":"x","__proto__":{"userId":"victim-42"}}}'],
      ['{"profile":{"constructor":{"prototype":{"userId":"victim-42"}}}}'],
    ])('refuses a mass-assigned body %s', async (body) => {
      const { client, handle } = await visitor();
      const res = await client.post('/assign', JSON.parse(body));
      // Express hands the body over, and set() refuses it (500); Fastify's body parser refuses it first (400).
      expect(res.status).toBe(adapter === 'express' ? 500 : 400);
      expect((await client.get('/peek')).body).toEqual({ isNew: false, userId: null, data: { visited: true } });
      const record = await store.store.get(handle);
      expect(record!.data).toEqual({ visited: true });
      expect(record!.user).toBeUndefined();
      expect(await sessions.listByUser('victim-42')).toEqual([]);
    });

    it('refuses to load a stored record that holds a reserved key, and never reads the user through it', async () => {
      const { client, handle } = await visitor();
      const now = Date.now();
      await store.store.set(handle, { data: JSON.parse('{"visited":true,"__proto__":{"userId":"victim-42"}}'), createdAt: now, touchedAt: now }, 60_000);
      const res = await client.get('/peek');
      expect(res.status).toBe(500);
      expect((await client.get('/me')).status).toBe(500);
      expect(await sessions.listByUser('victim-42')).toEqual([]);
      // Once the record is removed, the cookie's owner starts afresh.
      await sessions.destroy(handle);
      expect((await client.get('/peek')).body).toMatchObject({ isNew: true, userId: null });
    });
  });
});
