import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore, type SessionModuleOptions, type SessionStore } from 'nestjs-sessionkit';
import { featuresApp } from './fixtures/features.fixture.js';
import { type AdapterName, adapters, baseUrl, startApp } from './support/app.js';
import { Client, type Reply } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { deleteKeys, newRedis, testPrefix } from './support/redis.js';
import { CountingStore } from './support/stores.js';

const stores = ['memory', 'redis'] as const;
const HOUR = 3_600_000;

function maxAgeOf(reply: Reply): number | undefined {
  const header = reply.setCookies.find((c) => c.startsWith('sid='));
  expect(header).toBeDefined();
  const match = /Max-Age=(\d+)/i.exec(header!);
  return match ? Number(match[1]) : undefined;
}

describe.each(adapters)('session size limit, remember-me and expiry (%s)', (adapter: AdapterName) => {
  describe.each(stores)('on %s', (storeName) => {
    let redis: Redis | undefined;
    const prefix = testPrefix(`limits-${adapter}`);
    const apps: INestApplication[] = [];
    const started = new Map<string, { base: string; store: SessionStore }>();

    async function app(name: string, options: Partial<SessionModuleOptions>): Promise<{ base: string; store: SessionStore }> {
      const s: SessionStore = storeName === 'redis' ? new RedisStore({ client: redis!, prefix }) : new CountingStore();
      const a = await startApp(featuresApp(s, options), adapter);
      apps.push(a);
      const result = { base: await baseUrl(a), store: s };
      started.set(name, result);
      return result;
    }

    beforeAll(async () => {
      if (storeName === 'redis') redis = newRedis();
      await app('default', { idleTimeout: 2 * HOUR, absoluteTimeout: 10 * HOUR });
      await app('small', { maxSessionBytes: 1_000 });
      await app('unlimited', { maxSessionBytes: 0 });
      await app('persistent', { cookie: { secure: false, persistent: true }, idleTimeout: 2 * HOUR, absoluteTimeout: 0 });
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.close()));
      if (redis) {
        await deleteKeys(redis, prefix);
        redis.disconnect();
      }
    });

    async function stored(name: string, client: Client): Promise<Record<string, unknown> | undefined> {
      return (await started.get(name)!.store.get(handleOf(idOf(client.jar.get('sid')!))))?.data;
    }

    it('refuses a set() past maxSessionBytes with an error naming the key, the size and the limit, leaving the session unchanged', async () => {
      const client = new Client(started.get('small')!.base);
      expect((await client.post('/big/a/400')).body).toEqual({ ok: true });
      const refused = (await client.post('/big/b/700')).body as { ok: boolean; name: string; message: string };
      expect(refused.ok).toBe(false);
      expect(refused.name).toBe('SessionTooLargeError');
      expect(refused.message).toMatch(/^Session value "b" would make the session 11\d\d bytes, over maxSessionBytes \(1000\)/);
      expect(await stored('small', client)).toEqual({ a: 'x'.repeat(400) });
      // the same value fits once a smaller one replaces a
      expect((await client.post('/big/a/10')).body).toEqual({ ok: true });
      expect((await client.post('/big/b/700')).body).toEqual({ ok: true });
      expect(Object.keys((await stored('small', client))!).sort()).toEqual(['a', 'b']);
    });

    it('refuses the save of a value grown in place past the limit, writing nothing', async () => {
      const client = new Client(started.get('small')!.base);
      expect((await client.post('/grow/300')).status).toBe(200);
      expect(await stored('small', client)).toEqual({ list: ['y'.repeat(300)] });
      const reply = await client.post('/grow/800');
      expect(reply.status).toBe(500);
      expect(await stored('small', client)).toEqual({ list: ['y'.repeat(300)] });
    });

    it('defaults to 64 KiB, and 0 lifts the limit', async () => {
      const limited = new Client(started.get('default')!.base);
      expect((await limited.post('/big/a/60000')).body).toEqual({ ok: true });
      expect((await limited.post('/big/b/6000')).body).toMatchObject({ ok: false, message: expect.stringContaining('over maxSessionBytes (65536)') });
      const free = new Client(started.get('unlimited')!.base);
      expect((await free.post('/big/a/200000')).body).toEqual({ ok: true });
      expect(((await stored('unlimited', free))!.a as string).length).toBe(200_000);
    });

    it('persist() makes this session\'s cookie persistent, survives regenerate(), and persist(false) turns it back', async () => {
      const client = new Client(started.get('default')!.base);
      expect(maxAgeOf(await client.post('/login', { userId: 1 }))).toBeUndefined();
      const remembered = new Client(started.get('default')!.base);
      const login = await remembered.post('/login', { userId: 2, remember: true });
      expect(maxAgeOf(login)).toBeGreaterThan(2 * 3600 - 5);
      expect(maxAgeOf(login)).toBeLessThanOrEqual(2 * 3600);
      // a second login (regenerate) keeps the choice
      expect(maxAgeOf(await remembered.post('/login', { userId: 2 }))).toBeGreaterThan(2 * 3600 - 5);
      expect(await stored('default', remembered)).toMatchObject({ userId: 2, __persist: true });
      expect(maxAgeOf(await remembered.post('/forget'))).toBeUndefined();
      expect(maxAgeOf(await remembered.post('/login', { userId: 2 }))).toBeUndefined();
      expect(((await remembered.get('/data')).body as { data: object }).data).toEqual({ userId: 2 });
    });

    it('persist(ms) sets that Max-Age, and persist(false) overrides a persistent module default', async () => {
      const client = new Client(started.get('default')!.base);
      expect(maxAgeOf(await client.post('/login', { userId: 3, remember: 600_000 }))).toBe(600);
      const fromDefault = new Client(started.get('persistent')!.base);
      expect(maxAgeOf(await fromDefault.post('/login', { userId: 4 }))).toBeGreaterThan(2 * 3600 - 5);
      expect(maxAgeOf(await fromDefault.post('/login', { userId: 4, remember: false }))).toBeUndefined();
      expect(await stored('persistent', fromDefault)).toMatchObject({ userId: 4, __persist: false });
    });

    it('reports expiresAt: the earlier of the idle and absolute deadlines', async () => {
      const client = new Client(started.get('default')!.base);
      await client.post('/set', { a: 1 });
      const { expiresAt, createdAt } = (await client.get('/data')).body as { expiresAt: number; createdAt: number };
      const record = (await started.get('default')!.store.get(handleOf(idOf(client.jar.get('sid')!))))!;
      expect(expiresAt).toBe(Math.min(record.touchedAt + 2 * HOUR, createdAt + 10 * HOUR));
      expect(expiresAt).toBe(record.touchedAt + 2 * HOUR);
      const noAbsolute = new Client(started.get('persistent')!.base);
      await noAbsolute.post('/set', { a: 1 });
      const body = (await noAbsolute.get('/data')).body as { expiresAt: number };
      expect(body.expiresAt).toBeGreaterThan(Date.now() + 2 * HOUR - 5_000);
    });
  });
});
