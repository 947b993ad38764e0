import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { INestApplication } from '@nestjs/common';
import { MemoryStore, SessionService } from 'nestjs-sessionkit';
import { hardeningApp } from './fixtures/hardening.fixture.js';
import { SECRET, adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { randomId, setCookieValue, signedValue } from './support/cookies.js';
import { type TestStore, allStoreKinds, storeKinds, testStore } from './support/store-matrix.js';

const PLANTED_SECRET = 'a-sibling-subdomain-secret-0123456789-xyz';

describe.each(adapters)('hardening (%s)', (adapter) => {
  describe('cookies and caches', () => {
    const store = new MemoryStore();
    let app: INestApplication;
    let base: string;

    beforeAll(async () => {
      app = await startApp(hardeningApp(store), adapter);
      base = await baseUrl(app);
    });
    afterAll(async () => {
      await app.close();
      await store.close();
    });

    it('makes private a response marked public whose Cache-Control has "private" only inside another token', async () => {
      const client = new Client(base);
      const res = await client.post('/cacheable');
      expect(res.status).toBe(200);
      expect(setCookieValue(res.setCookies)).toBeTruthy();
      expect(res.headers.get('cache-control')).toBe('private, x-private-ext, max-age=600');
      expect((await client.get('/peek')).body).toMatchObject({ isNew: false, data: { seen: true } });
    });

    it('uses the first session cookie that verifies when several are sent (cookie tossing)', async () => {
      const client = new Client(base);
      await client.post('/login', { userId: `tossed-${adapter}` });
      const good = client.jar.get('sid')!;
      const planted = signedValue(randomId(), PLANTED_SECRET);
      for (const header of [`sid=${planted}; sid=${good}`, `sid=garbage; theme=dark; sid=${good}`, `sid=${signedValue(randomId(), SECRET)}x; sid=${good}`]) {
        const other = new Client(base);
        other.cookieHeader = header;
        const me = await other.get('/me');
        expect(me.status).toBe(200);
        expect(me.body).toEqual({ userId: `tossed-${adapter}`, x: null });
      }
    });

    it('keeps no request header alive in the cache of verified cookies (heap measured)', async () => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const padding = `pad=${'x'.repeat(15_000)}`;
      const client = new Client(base);
      const send = (): Promise<number> => {
        client.cookieHeader = `${padding}; sid=${signedValue(randomId(), SECRET)}`;
        return client.get('/peek').then((r) => r.status);
      };
      // Warm up, so that the measurement sees the cache, not the app's first allocations.
      for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, send));
      const stored = store.size;
      gc();
      const before = process.memoryUsage().heapUsed;
      const requests = 2_000;
      for (let i = 0; i < requests; i += 20) {
        const statuses = await Promise.all(Array.from({ length: 20 }, send));
        expect(statuses.every((s) => s === 200)).toBe(true);
      }
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      // 2,000 cached cookies take under 1 MB; keeping their 15 KB headers alive takes about 30 MB.
      expect(grown).toBeLessThan(12 * 1024 * 1024);
      // The requests only read: the store holds what it held.
      expect(store.size).toBe(stored);
    });
  });

  describe.each(allStoreKinds)('SessionGuard and logout on %s', (kind) => {
    let store: TestStore;
    let app: INestApplication;
    let base: string;

    beforeAll(async () => {
      store = testStore(kind, `guard-${adapter}`);
      app = await startApp(hardeningApp(store.store), adapter);
      base = await baseUrl(app);
    });
    afterAll(async () => {
      await app.close();
      await store.close();
    });

    it('refuses a session whose authKey value is null (a logout written as set(authKey, null)), and one without it', async () => {
      const client = new Client(base);
      const login = await client.post('/login', { userId: `guarded-${adapter}-${kind}` });
      expect((await client.get('/me')).status).toBe(200);
      expect((await client.post('/assign', { userId: null })).body).toEqual({ userId: null });
      // The null is what the session holds (stored, or sealed in the cookie), not a missing key.
      expect((await client.get('/peek')).body).toEqual({ isNew: false, userId: null, data: { userId: null } });
      if (kind !== 'cookie') expect((await store.store.get((login.body as { handle: string }).handle))?.data).toEqual({ userId: null });
      expect((await client.get('/me')).status).toBe(401);
      expect((await client.post('/assign', { userId: 0 })).status).toBe(200);
      expect((await client.get('/me')).status).toBe(200);
      expect((await new Client(base).get('/me')).status).toBe(401);
    });

    it('a logout clears the session cookie the request carried even when it names no session (altered, or its session gone)', async () => {
      const client = new Client(base);
      await client.post('/login', { userId: `cleared-${adapter}-${kind}` });
      const cookie = client.jar.get('sid')!;
      const cleared = (reply: { setCookies: string[] }): boolean => reply.setCookies.some((c) => c.startsWith('sid=;') && /Max-Age=0/i.test(c));
      for (const stale of [`${cookie.slice(0, -2)}${cookie.endsWith('AA') ? 'BB' : 'AA'}`, 'not-a-session']) {
        client.jar.set('sid', stale);
        expect(cleared(await client.post('/logout'))).toBe(true);
        expect(client.jar.has('sid')).toBe(false);
      }
      // The session itself is untouched by a logout through a cookie that named none.
      client.jar.set('sid', cookie);
      expect((await client.get('/me')).status).toBe(200);
      expect(cleared(await client.post('/logout'))).toBe(true);
      // No cookie, nothing to clear.
      expect((await new Client(base).post('/logout')).setCookies).toEqual([]);
    });
  });

  describe.each(storeKinds)('maxSessionsPerUser on %s', (kind) => {
    let store: TestStore;
    let app: INestApplication;
    let base: string;
    let sessions: SessionService;

    beforeAll(async () => {
      store = testStore(kind, `max-${adapter}`);
      app = await startApp(hardeningApp(store.store, { maxSessionsPerUser: 2 }), adapter);
      base = await baseUrl(app);
      sessions = app.get(SessionService);
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

    it("destroys the user's oldest sessions when a login would exceed the limit", async () => {
      const user = `max-${adapter}-${kind}`;
      const other = await login(`${user}-other`);
      const first = await login(user);
      const second = await login(user);
      expect((await sessions.listByUser(user)).map((s) => s.handle)).toEqual([first.handle, second.handle]);

      const third = await login(user);
      expect((await sessions.listByUser(user)).map((s) => s.handle)).toEqual([second.handle, third.handle]);
      expect(await store.store.get(first.handle)).toBeUndefined();
      expect((await first.client.get('/me')).status).toBe(401);
      expect((await second.client.get('/me')).status).toBe(200);
      expect((await third.client.get('/me')).status).toBe(200);
      expect((await other.client.get('/me')).status).toBe(200);

      // A step-up (regenerate() of a logged-in session) is no new login: nobody else is logged out.
      const stepUp = await third.client.post('/relogin?ms=0');
      const steppedUp = (stepUp.body as { handle: string }).handle;
      expect((await sessions.listByUser(user)).map((s) => s.handle).sort()).toEqual([second.handle, steppedUp].sort());

      // Logging in an anonymous session in place (no regenerate) counts too.
      const visitor = new Client(base);
      await visitor.post('/visit');
      expect((await visitor.post('/set/userId', { value: user })).status).toBe(200);
      expect(await sessions.listByUser(user)).toHaveLength(2);
      expect((await second.client.get('/me')).status).toBe(401);
      expect((await visitor.get('/me')).body).toEqual({ userId: user, x: null });
    });
  });
});
