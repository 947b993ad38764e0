import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore, type SessionModuleOptions, type SessionStore } from 'nestjs-sessionkit';
import { featuresApp } from './fixtures/features.fixture.js';
import { type AdapterName, adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { deleteKeys, newRedis, testPrefix } from './support/redis.js';
import { CountingStore } from './support/stores.js';

const stores = ['memory', 'redis'] as const;

describe.each(adapters)('CSRF protection (%s)', (adapter: AdapterName) => {
  describe.each(stores)('on %s', (storeName) => {
    let redis: Redis | undefined;
    const prefix = testPrefix(`csrf-${adapter}`);
    const apps: INestApplication[] = [];
    let store: SessionStore;
    let base: string;
    let perRouteBase: string;

    async function start(options: Partial<SessionModuleOptions>, globalCsrf: boolean): Promise<{ base: string; store: SessionStore }> {
      const s: SessionStore = storeName === 'redis' ? new RedisStore({ client: redis!, prefix }) : new CountingStore();
      const app = await startApp(featuresApp(s, options, globalCsrf), adapter);
      apps.push(app);
      return { base: await baseUrl(app), store: s };
    }

    beforeAll(async () => {
      if (storeName === 'redis') redis = newRedis();
      ({ base, store } = await start({}, true));
      ({ base: perRouteBase } = await start({ csrf: { headerName: 'X-XSRF-Token', fieldName: 'token' } }, false));
    });
    afterAll(async () => {
      await Promise.all(apps.map((app) => app.close()));
      if (redis) {
        await deleteKeys(redis, prefix);
        redis.disconnect();
      }
    });

    async function stored(client: Client): Promise<Record<string, unknown> | undefined> {
      const cookie = client.jar.get('sid');
      return cookie === undefined ? undefined : (await store.get(handleOf(idOf(cookie))))?.data;
    }

    /** A browser that has loaded a page with a form: it holds the session cookie and a token. */
    async function withToken(at = base): Promise<{ client: Client; token: string }> {
      const client = new Client(at);
      const page = await client.get('/form');
      expect(page.status).toBe(200);
      return { client, token: (page.body as { token: string }).token };
    }

    it('accepts the token of one page on the next request, in the header (JSON) or the _csrf field (HTML form)', async () => {
      const { client, token } = await withToken();
      expect((await client.post('/set', { a: 1 }, { 'x-csrf-token': token })).status).toBe(200);
      const form = await fetch(`${base}/set`, {
        method: 'POST',
        headers: { cookie: `sid=${client.jar.get('sid')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: token, b: 'two' }),
      });
      expect(form.status).toBe(200);
      expect(await stored(client)).toMatchObject({ a: 1, b: 'two' });
    });

    it('hands out a different token on every call, and every one of them works', async () => {
      const { client, token } = await withToken();
      const second = ((await client.get('/form')).body as { token: string }).token;
      expect(second).not.toBe(token);
      expect((await client.post('/set', { a: 1 }, { 'x-csrf-token': token })).status).toBe(200);
      expect((await client.post('/set', { a: 2 }, { 'x-csrf-token': second })).status).toBe(200);
      expect(await stored(client)).toMatchObject({ a: 2 });
    });

    it('checks POST, PUT, PATCH and DELETE, and lets GET through without a token', async () => {
      const { client, token } = await withToken();
      await client.post('/set', { a: 'kept' }, { 'x-csrf-token': token });
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        const refused = await client.request(method, '/set', { a: method });
        expect(refused.status).toBe(403);
      }
      expect(await stored(client)).toMatchObject({ a: 'kept' });
      expect((await client.request('PUT', '/set', { a: 'put' }, { 'x-csrf-token': token })).status).toBe(200);
      expect(await stored(client)).toMatchObject({ a: 'put' });
      expect((await client.request('DELETE', '/set', undefined, { 'x-csrf-token': token })).status).toBe(200);
      expect(await stored(client)).not.toHaveProperty('a');
      expect((await client.get('/data')).status).toBe(200);
    });

    it('refuses a missing or tampered token, and a token of another session, with a 403 that says why', async () => {
      const { client, token } = await withToken();
      const other = await withToken();
      const missing = await client.post('/set', { a: 1 });
      expect(missing.status).toBe(403);
      expect((missing.body as { message: string }).message).toMatch(/Missing CSRF token.*"x-csrf-token" header or the "_csrf" body field/);
      const tampered = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
      for (const bad of [tampered, 'nonsense', other.token]) {
        const refused = await client.post('/set', { a: 1 }, { 'x-csrf-token': bad });
        expect(refused.status).toBe(403);
        expect((refused.body as { message: string }).message).toMatch(/Invalid CSRF token/);
      }
      expect(await stored(client)).not.toHaveProperty('a');
      // and the other way round: this session's token does not work for the other one
      expect((await other.client.post('/set', { a: 1 }, { 'x-csrf-token': token })).status).toBe(403);
      expect(await stored(other.client)).not.toHaveProperty('a');
    });

    it('refuses unsafe requests that bring no session, even with a well-formed token', async () => {
      const { token } = await withToken();
      const stranger = new Client(base);
      const refused = await stranger.post('/set', { a: 1 }, { 'x-csrf-token': token });
      expect(refused.status).toBe(403);
      expect((refused.body as { message: string }).message).toMatch(/no session/);
      expect(stranger.jar.size).toBe(0);
    });

    it('rotates the secret on regenerate() and destroy(): older tokens stop working, a fresh page works', async () => {
      const { client, token } = await withToken();
      expect((await client.post('/login', { userId: 7 }, { 'x-csrf-token': token })).status).toBe(200);
      expect((await client.post('/set', { a: 1 }, { 'x-csrf-token': token })).status).toBe(403);
      const fresh = ((await client.get('/form')).body as { token: string }).token;
      expect((await client.post('/set', { a: 1 }, { 'x-csrf-token': fresh })).status).toBe(200);
      expect(await stored(client)).toMatchObject({ userId: 7, a: 1 });

      expect((await client.post('/logout', {}, { 'x-csrf-token': fresh })).status).toBe(200);
      const afterLogout = await withToken();
      expect((await client.post('/set', { a: 2 }, { 'x-csrf-token': fresh })).status).toBe(403);
      expect(afterLogout.token).not.toBe(fresh);
    });

    it('lets @SkipCsrf() routes through without a token', async () => {
      const client = new Client(base);
      expect((await client.post('/webhook')).status).toBe(200);
      expect(await stored(client)).toEqual({ hooked: true });
    });

    it('works per route with @UseGuards(CsrfGuard), with renamed header and field', async () => {
      const { client, token } = await withToken(perRouteBase);
      expect((await client.post('/guarded?v=no', {}, { 'x-csrf-token': token })).status).toBe(403);
      expect((await client.post('/guarded?v=header', {}, { 'x-xsrf-token': token })).status).toBe(200);
      expect((await client.post('/guarded?v=field', { token })).status).toBe(200);
      // routes without the guard are not checked in that app
      expect((await client.post('/set', { a: 1 })).status).toBe(200);
      const data = ((await client.get('/data')).body as { data: Record<string, unknown> }).data;
      expect(data).toEqual({ guarded: 'field', a: 1 });
    });
  });
});
