import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore, type SessionStore } from 'nestjs-sessionkit';
import { EnvelopeFilter, type InterceptedAppOptions, interceptedApp } from './fixtures/session-interceptor.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { closeClient, newRedis, testPrefix } from './support/redis.js';
import { TestRedisServer, redisCli } from './support/redis-server.js';
import { CountingStore } from './support/stores.js';

const WRITE_FAILED = 'The session store could not save the session. Please try again shortly.';

/** A store whose writes the test can make fail, and that reads as usual meanwhile. */
interface FailingStore {
  store: SessionStore;
  failWrites(on: boolean): Promise<void>;
  close(): Promise<void>;
}

/** MemoryStore behind the counting wrapper. */
function failingMemory(): FailingStore {
  const store = new CountingStore();
  return {
    store,
    failWrites: async (on) => void (store.failWrites = on),
    close: () => store.close(),
  };
}

/**
 * A RedisStore on a Redis server of its own, which refuses every write while it demands a
 * replica it does not have (`min-replicas-to-write`): a real Redis error on save, reads unharmed.
 */
async function failingRedis(): Promise<FailingStore> {
  const server = await TestRedisServer.create();
  const client: Redis = newRedis(server.url);
  return {
    store: new RedisStore({ client, prefix: testPrefix('interceptor') }),
    failWrites: async (on) => void (await redisCli(server.port, 'config', 'set', 'min-replicas-to-write', on ? '1' : '0')),
    async close() {
      await closeClient(client);
      await server.dispose();
    },
  };
}

const stores = { memory: failingMemory, redis: failingRedis } as const;

async function stored(store: SessionStore, client: Client): Promise<Record<string, unknown> | undefined> {
  const cookie = client.jar.get('sid');
  return cookie === undefined ? undefined : (await store.get(handleOf(idOf(cookie))))?.data;
}

describe.each(adapters)('SessionInterceptor (%s)', (adapter) => {
  describe.each(['memory', 'redis'] as const)('a failed save on %s', (kind) => {
    let failing: FailingStore;
    beforeAll(async () => {
      failing = await stores[kind]();
    });
    afterAll(() => failing.close());

    async function withApp(options: InterceptedAppOptions, test: (base: string, app: INestApplication) => Promise<void>): Promise<void> {
      const app = await startApp(interceptedApp(failing.store, options), adapter);
      try {
        await test(await baseUrl(app), app);
      } finally {
        await failing.failWrites(false);
        await app.close();
      }
    }

    it("reaches the app's exception filter, whose status and body reach the client", () =>
      withApp({ filter: true }, async (base, app) => {
        const client = new Client(base);
        expect((await client.post('/set', { value: 'before' })).status).toBe(200);
        await failing.failWrites(true);
        for (const path of ['/set', '/set-by-service', '/set-bound']) {
          const reply = await client.post(path, { value: 'lost' });
          expect(reply.status).toBe(507);
          expect(reply.body).toEqual({ envelope: { failed: true, reason: WRITE_FAILED } });
        }
        // A first visit: no session is created, no cookie sent.
        const fresh = new Client(base);
        const first = await fresh.post('/set', { value: 'lost' });
        expect(first.status).toBe(507);
        expect(first.setCookies).toEqual([]);
        expect(app.get(EnvelopeFilter).caught).toEqual(Array<string>(4).fill(WRITE_FAILED));
        await failing.failWrites(false);
        expect(await stored(failing.store, client)).toEqual({ value: 'before' });
        expect((await client.get('/peek')).body).toEqual({ value: 'before' });
        // Once the store is back, the same request saves.
        expect((await client.post('/set', { value: 'after' })).status).toBe(200);
        expect(await stored(failing.store, client)).toEqual({ value: 'after' });
      }));

    it('is answered with the fixed 503 by the hooks with globalInterceptor: false, the filter never running', () =>
      withApp({ filter: true, session: { globalInterceptor: false } }, async (base, app) => {
        const client = new Client(base);
        expect((await client.post('/set', { value: 'before' })).status).toBe(200);
        await failing.failWrites(true);
        const reply = await client.post('/set', { value: 'lost' });
        expect(reply.status).toBe(503);
        expect(reply.body).toMatchObject({ statusCode: 503, message: WRITE_FAILED });
        expect(app.get(EnvelopeFilter).caught).toEqual([]);
        await failing.failWrites(false);
        expect(await stored(failing.store, client)).toEqual({ value: 'before' });
      }));
  });

  describe('with a counting store', () => {
    const store = new CountingStore();
    afterEach(() => {
      store.failWrites = false;
    });

    async function withApp(options: InterceptedAppOptions, test: (base: string) => Promise<void>): Promise<void> {
      const app = await startApp(interceptedApp(store, options), adapter);
      try {
        await test(await baseUrl(app));
      } finally {
        await app.close();
      }
    }

    it.each([
      ['the global interceptor', {}],
      ['the interceptor bound globally by hand as well', { boundGlobally: true }],
      ['no global interceptor', { session: { globalInterceptor: false } }],
    ] as [string, InterceptedAppOptions][])('writes each change once, with %s', (_, options) =>
      withApp(options, async (base) => {
        const client = new Client(base);
        store.reset();
        // A first visit: one write, one cookie.
        const first = await client.post('/set', { value: 1 });
        expect(first.setCookies).toHaveLength(1);
        expect(store.calls.set).toBe(1);
        expect(store.writes).toBe(1);
        for (const [i, path] of ['/set', '/set-by-service', '/set-bound', '/set-raw'].entries()) {
          store.reset();
          const reply = await client.post(path, { value: i + 2 });
          expect(reply.status).toBe(200);
          expect(reply.setCookies).toEqual([]);
          expect(store.writes).toBe(1);
          expect(await stored(store, client)).toEqual({ value: i + 2 });
        }
        // A read writes nothing (no touch due), a route without the session touches nothing.
        store.reset();
        expect((await client.get('/peek')).body).toEqual({ value: 5 });
        expect((await client.get('/plain')).body).toEqual({ plain: true });
        expect(store.calls).toMatchObject({ get: 1, set: 0, patch: 0, touch: 0 });
      }),
    );

    it('leaves the exits it does not see to the hooks: a handler error answered by a filter still saves', () =>
      withApp({ filter: true }, async (base) => {
        const client = new Client(base);
        await client.post('/set', { value: 'before' });
        store.reset();
        const reply = await client.post('/set-then-fail', { value: 'changed' });
        expect(reply.status).toBe(409);
        expect(reply.body).toEqual({ envelope: { failed: true, reason: 'handler refused' } });
        expect(store.writes).toBe(1);
        expect(await stored(store, client)).toEqual({ value: 'changed' });
      }));

    it('leaves a @Res() handler to the hooks: a failed save is their 503, the filter never running', () =>
      withApp({ filter: true }, async (base) => {
        const client = new Client(base);
        await client.post('/set', { value: 'before' });
        store.failWrites = true;
        store.reset();
        const reply = await client.post('/set-raw', { value: 'lost' });
        expect(reply.status).toBe(503);
        expect(reply.body).toMatchObject({ statusCode: 503, message: WRITE_FAILED });
        // One attempt: the interceptor did not try again after the hooks.
        expect(store.calls.patch).toBe(1);
        store.failWrites = false;
        expect(await stored(store, client)).toEqual({ value: 'before' });
      }));

    it('answers a failed save after an exception filter with the hooks’ 503', () =>
      withApp({ filter: true }, async (base) => {
        const client = new Client(base);
        await client.post('/set', { value: 'before' });
        store.failWrites = true;
        const reply = await client.post('/set-then-fail', { value: 'lost' });
        expect(reply.status).toBe(503);
        expect(reply.body).toMatchObject({ statusCode: 503, message: WRITE_FAILED });
        store.failWrites = false;
        expect(await stored(store, client)).toEqual({ value: 'before' });
      }));
  });
});
