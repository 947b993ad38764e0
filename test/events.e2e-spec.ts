import { Injectable, type INestApplication } from '@nestjs/common';
import { EventEmitterModule, OnEvent } from '@nestjs/event-emitter';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { CookieStore, PostgresStore, RedisStore, type SessionEvent, SessionService, type SessionStore } from 'nestjs-sessionkit';
import { featuresApp } from './fixtures/features.fixture.js';
import { type AdapterName, adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { dropSchema, newPool, testSchema } from './support/postgres.js';
import { deleteKeys, freePort, newRedis, testPrefix, waitUntil } from './support/redis.js';
import { allStoreKinds } from './support/store-matrix.js';
import { CountingRedisStore, CountingStore, LingeringStore } from './support/stores.js';

/** What the app's @OnEvent listeners received through @nestjs/event-emitter. */
const emitted: { name: string; event: SessionEvent }[] = [];

@Injectable()
class SessionAudit {
  @OnEvent('session.created')
  created(event: SessionEvent) {
    emitted.push({ name: 'session.created', event });
    // A failing listener: the request and the other listeners must not notice.
    throw new Error('audit listener failed');
  }

  @OnEvent('session.regenerated')
  regenerated(event: SessionEvent) {
    emitted.push({ name: 'session.regenerated', event });
  }

  @OnEvent('session.destroyed')
  async destroyed(event: SessionEvent) {
    // A slow listener: the logout must not wait for it.
    await delay(3_000);
    emitted.push({ name: 'session.destroyed', event });
  }

  @OnEvent('session.revoked')
  revoked(event: SessionEvent) {
    emitted.push({ name: 'session.revoked', event });
  }
}

describe.each(adapters)('session lifecycle events (%s)', (adapter: AdapterName) => {
  describe.each(allStoreKinds)('on %s', (storeName) => {
    let redis: Redis | undefined;
    let pool: Pool | undefined;
    const prefix = testPrefix(`events-${adapter}`);
    const schema = testSchema(`events-${adapter}`);
    const apps: INestApplication[] = [];
    const events: SessionEvent[] = [];
    let base: string;
    let store: SessionStore;
    let expiringBase: string;
    let failingBase: string;
    let failingStore: CountingStore | undefined;
    const deadClients: Redis[] = [];
    const deadPools: Pool[] = [];
    const cookie = storeName === 'cookie';
    /** Tests of what only a store on the server has: revocation, and a store that can fail. */
    const serverSide = cookie ? it.skip : it;

    async function start(s: SessionStore, options: object = {}, withEmitter = false): Promise<string> {
      const app = await startApp(
        featuresApp(s, options, false, withEmitter ? [EventEmitterModule.forRoot(), { module: class AuditModule {}, providers: [SessionAudit] }] : []),
        adapter,
      );
      apps.push(app);
      app.get(SessionService).events$.subscribe((event) => events.push(event));
      return baseUrl(app);
    }

    beforeAll(async () => {
      if (storeName === 'redis') {
        redis = newRedis();
        store = new RedisStore({ client: redis, prefix });
        // A store that keeps records past the library's TTL, so a load sees them expired.
        expiringBase = await start(Object.assign(new CountingRedisStore({ client: redis, prefix }), { extraTtl: 60_000 }), { idleTimeout: 400 });
        const dead = newRedis(await freePort(), { maxRetriesPerRequest: 0 });
        deadClients.push(dead);
        failingBase = await start(new RedisStore({ client: dead, prefix, commandTimeout: 200 }));
      } else if (storeName === 'postgres') {
        pool = newPool();
        store = new PostgresStore({ pool, schema, createTable: true });
        expiringBase = await start(new LingeringStore(new PostgresStore({ pool, schema, createTable: true }), 60_000), { idleTimeout: 400 });
        const dead = newPool({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/test` });
        deadPools.push(dead);
        failingBase = await start(new PostgresStore({ pool: dead, schema, statementTimeout: 200 }));
      } else if (cookie) {
        store = new CookieStore();
        expiringBase = await start(new CookieStore(), { idleTimeout: 400 });
      } else {
        store = new CountingStore();
        expiringBase = await start(Object.assign(new CountingStore(), { keepForever: true }), { idleTimeout: 400 });
        failingStore = new CountingStore();
        failingBase = await start(failingStore);
      }
      base = await start(store, {}, true);
    });
    afterAll(async () => {
      await Promise.all(apps.map((app) => app.close()));
      for (const dead of deadClients) dead.disconnect();
      for (const dead of deadPools) await dead.end();
      if (redis) {
        await deleteKeys(redis, prefix);
        redis.disconnect();
      }
      if (pool) {
        await dropSchema(pool, schema);
        await pool.end();
      }
    });

    async function next(match: (e: SessionEvent) => boolean): Promise<SessionEvent> {
      let found: SessionEvent | undefined;
      await waitUntil('a session event', () => (found = events.find(match)) !== undefined, 5_000, 10);
      return found!;
    }

    /** The handle of the client's session, as the app reports it (a CookieStore cookie holds no readable id). */
    async function handleIn(client: Client): Promise<string> {
      const reply = await client.get('/peek');
      expect((reply.body as { isNew: boolean }).isNew).toBe(false);
      return (reply.body as { handle: string }).handle;
    }

    /** The client's session data: from the store, or (CookieStore) as the app reads it from the cookie. */
    async function storedData(client: Client, handle: string): Promise<Record<string, unknown> | undefined> {
      if (!cookie) return (await store.get(handle))?.data;
      const reply = (await client.get('/data')).body as { isNew: boolean; data: Record<string, unknown>; handle: string };
      return reply.isNew || reply.handle !== handle ? undefined : reply.data;
    }

    it('emits created when a session is first stored (not for one nothing wrote), on events$ and as session.created', async () => {
      const client = new Client(base);
      await client.get('/data');
      const before = Date.now();
      const reply = await client.post('/set', { a: 1 });
      expect(reply.status).toBe(200);
      const handle = await handleIn(client);
      expect(await storedData(client, handle)).toEqual({ a: 1 });
      const event = await next((e) => e.handle === handle);
      expect(event).toEqual({ type: 'created', handle, user: undefined, at: expect.any(Number) });
      expect(event.at).toBeGreaterThanOrEqual(before);
      await waitUntil('session.created', () => emitted.some((e) => e.name === 'session.created' && e.event.handle === handle));
      // The listener above threw; the next request works and events keep flowing.
      await client.post('/set', { a: 2 });
      expect(await storedData(client, handle)).toEqual({ a: 2 });
      expect(events.filter((e) => e.handle === handle)).toHaveLength(1);
    });

    it('emits regenerated with the new handle, the previous one and the user; destroyed on logout without waiting for a slow listener', async () => {
      const client = new Client(base);
      await client.post('/set', { a: 1 });
      const first = await handleIn(client);
      await client.post('/login', { userId: 7 });
      const second = await handleIn(client);
      expect(second).not.toBe(first);
      expect(await next((e) => e.type === 'regenerated' && e.handle === second)).toEqual({ type: 'regenerated', handle: second, previousHandle: first, user: '7', at: expect.any(Number) });
      expect(events.filter((e) => e.handle === second && e.type === 'created')).toHaveLength(0);

      const started = Date.now();
      expect((await client.post('/logout')).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await storedData(client, second)).toBeUndefined();
      expect(await next((e) => e.type === 'destroyed' && e.handle === second)).toEqual({ type: 'destroyed', handle: second, user: '7', at: expect.any(Number) });
    });

    serverSide('emits revoked once per session for SessionService.destroy and destroyByUser', async () => {
      const userId = 1_000 + Math.floor(Math.random() * 1e6);
      const devices = [new Client(base), new Client(base), new Client(base)];
      for (const device of devices) await device.post('/login', { userId });
      const handles = await Promise.all(devices.map(handleIn));
      await new Client(base).post('/revoke', { handle: handles[0] });
      expect(await next((e) => e.type === 'revoked' && e.handle === handles[0])).toEqual({ type: 'revoked', handle: handles[0], at: expect.any(Number) });
      expect((await new Client(base).post('/revoke', { userId })).body).toEqual({ revoked: 2 });
      for (const handle of handles.slice(1)) {
        expect(await next((e) => e.type === 'revoked' && e.handle === handle)).toEqual({ type: 'revoked', handle, user: String(userId), at: expect.any(Number) });
        expect(await store.get(handle)).toBeUndefined();
      }
      await delay(50);
      expect(events.filter((e) => e.type === 'revoked' && handles.includes(e.handle!))).toHaveLength(3);
      await waitUntil('session.revoked x3', () => emitted.filter((e) => e.name === 'session.revoked' && handles.includes(e.event.handle!)).length === 3);
    });

    it('emits expired when a request brings a session whose time is up', async () => {
      const client = new Client(expiringBase);
      await client.post('/login', { userId: 9 });
      const handle = await handleIn(client);
      await delay(600);
      const reply = await client.get('/data');
      expect((reply.body as { isNew: boolean }).isNew).toBe(true);
      expect(await next((e) => e.type === 'expired' && e.handle === handle)).toEqual({ type: 'expired', handle, user: '9', at: expect.any(Number) });
    });

    serverSide('emits store-error when the store fails, and the request gets its 503', async () => {
      const client = new Client(failingBase);
      client.cookieHeader = `sid=${(await new Client(base).post('/set', { a: 1 })).setCookies[0]!.split(';')[0]!.slice(4)}`;
      const handle = handleOf(idOf(client.cookieHeader.slice(4)));
      if (failingStore) failingStore.failReads = true;
      const reply = await client.get('/data');
      expect(reply.status).toBe(503);
      const event = await next((e) => e.type === 'store-error' && e.handle === handle);
      expect(event).toMatchObject({ type: 'store-error', handle, operation: 'read', at: expect.any(Number) });
      // An Error, maybe of another realm (pg's errors are made outside Jest's sandbox).
      expect(Object.prototype.toString.call((event as { error: unknown }).error)).toBe('[object Error]');
    });

    it('never gives the raw session id in an event', async () => {
      await delay(20);
      const ids = new Set<string>();
      for (const event of events) {
        expect(event.handle === undefined || /^[0-9a-f]{64}$/.test(event.handle)).toBe(true);
        ids.add(JSON.stringify(event));
      }
      expect(ids.size).toBeGreaterThan(5);
    });
  });
});
