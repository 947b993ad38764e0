import type { INestApplication, Provider } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { SessionContextError, SessionInterceptor, SessionService, type SessionModuleOptions, type SessionStore } from 'nestjs-sessionkit';
import { requestApp } from './fixtures/request.fixture.js';
import { type AdapterName, adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { type StoreKind, type TestStore, storeKinds, testStore } from './support/store-matrix.js';
import { CountingStore } from './support/stores.js';

interface Started {
  app: INestApplication;
  client: Client;
  store: SessionStore;
  /** The stored data of the client's session, read from the store itself. */
  stored(): Promise<Record<string, unknown> | undefined>;
}

type PlainMiddleware = (req: { url: string; session: Record<string, unknown> }, res: unknown, next: () => void) => void;

/** Counts visits through req.session in a plain app middleware (needs preload for the read). */
const appMiddleware: PlainMiddleware = (req, _res, next) => {
  if (req.url.startsWith('/data')) req.session.appMiddleware = ((req.session.appMiddleware as number | undefined) ?? 0) + 1;
  next();
};

describe.each(adapters)('the session belongs to the whole request (%s)', (adapter: AdapterName) => {
  describe.each(storeKinds)('on %s', (kind: StoreKind) => {
    const stores: TestStore[] = [];
    const apps: INestApplication[] = [];
    afterAll(async () => {
      await Promise.all(apps.map((app) => app.close()));
      await Promise.all(stores.map((store) => store.close()));
    });

    async function start(options: Partial<SessionModuleOptions> = {}, middleware?: PlainMiddleware, providers: Provider[] = []): Promise<Started> {
      const testing = testStore(kind, `request-${adapter}`);
      stores.push(testing);
      const { store } = testing;
      const app = await startApp(requestApp(store, options), adapter, {
        providers,
        beforeInit: (a) => {
          if (!middleware) return;
          // Registered the way an app's main.ts does it, before init.
          a.use(middleware);
          if (adapter === 'fastify') {
            a.getHttpAdapter()
              .getInstance()
              .addHook('preHandler', async (request: { url: string; session: Record<string, unknown> }) => {
                if (request.url.startsWith('/data')) request.session.fastifyHook = true;
              });
          }
        },
      });
      apps.push(app);
      const client = new Client(await baseUrl(app));
      return {
        app,
        client,
        store,
        async stored() {
          const cookie = client.jar.get('sid');
          if (cookie === undefined) return undefined;
          return (await store.get(handleOf(idOf(cookie))))?.data;
        },
      };
    }

    describe('with default options', () => {
      let s: Started;
      beforeAll(async () => {
        s = await start();
      });

      it('keeps what a guard wrote before denying (returnTo survives the 403)', async () => {
        const res = await s.client.get('/return-to');
        expect(res.status).toBe(403);
        expect(await s.stored()).toEqual({ returnTo: '/return-to' });
        expect((await s.client.get('/data')).body).toEqual({ returnTo: '/return-to' });
      });

      it('keeps what a guard wrote before throwing', async () => {
        const client = new Client(s.client.base);
        expect((await client.get('/attempt')).status).toBe(401);
        expect((await client.get('/attempt')).status).toBe(401);
        expect((await client.get('/data')).body).toEqual({ attempts: 2 });
      });

      it('keeps what a guard wrote when a pipe then throws', async () => {
        const client = new Client(s.client.base);
        expect((await client.post('/pipe-throws', { n: 'not a number' })).status).toBe(400);
        expect((await client.post('/pipe-throws', { n: '7' })).body).toEqual({ n: 7 });
        expect((await client.get('/data')).body).toEqual({ guarded: 2 });
      });

      it("keeps the handler's change and the app exception filter's own write", async () => {
        const client = new Client(s.client.base);
        const res = await client.post('/teapot');
        expect(res.status).toBe(418);
        expect(res.body).toEqual({ teapot: true });
        expect((await client.get('/data')).body).toEqual({ beforeThrow: true, filtered: true });
      });

      it("keeps the change when Nest's own filter answers an HttpException", async () => {
        const client = new Client(s.client.base);
        expect((await client.post('/http-error')).status).toBe(401);
        expect((await client.get('/data')).body).toEqual({ beforeHttpError: true });
      });

      it('saves before a @Redirect() leaves', async () => {
        const client = new Client(s.client.base);
        const res = await client.get('/redirect');
        expect(res.status).toBe(302);
        expect(res.setCookies).toHaveLength(1);
        expect((await client.get('/data')).body).toEqual({ redirected: true });
      });

      it('saves a @Res() handler that never calls save()', async () => {
        const client = new Client(s.client.base);
        const res = await client.get('/res');
        expect(res.status).toBe(200);
        expect(res.setCookies).toHaveLength(1);
        expect((await client.get('/data')).body).toEqual({ viaRes: true });
      });

      it('saves before a StreamableFile is streamed', async () => {
        const client = new Client(s.client.base);
        const res = await client.get('/streamable');
        expect(res.status).toBe(200);
        expect(res.text).toBe('chunk-1,chunk-2');
        expect(res.setCookies).toHaveLength(1);
        expect((await client.get('/data')).body).toEqual({ streamable: true });
      });

      it('saves a body streamed in chunks before its headers, and a change made mid-stream before it ends', async () => {
        const client = new Client(s.client.base);
        const res = await client.get('/chunks');
        expect(res.status).toBe(200);
        expect(res.text).toBe('one,two');
        expect(res.setCookies).toHaveLength(1);
        expect((await s.store.get(handleOf(idOf(client.jar.get('sid')!))))?.data).toEqual({ beforeChunks: true, afterFirstChunk: true });
      });

      it('persists a write through req.session like session.set()', async () => {
        const client = new Client(s.client.base);
        await client.post('/set', { value: 1 });
        expect((await client.post('/req-session')).status).toBe(200);
        const cookie = client.jar.get('sid')!;
        expect((await s.store.get(handleOf(idOf(cookie))))?.data).toEqual({ value: 1, viaReq: { nested: 1 } });
      });

      it('refuses a synchronous read of req.session before anything loaded it, naming preload and current()', async () => {
        const client = new Client(s.client.base);
        await client.post('/set', { value: 1 });
        const res = await client.get('/sync-read');
        expect(res.body).toMatchObject({ error: 'SessionNotLoadedError' });
        expect((res.body as { message: string }).message).toMatch(/preload: true.*current\(\).*needs `asyncContext: true`/s);
      });

      it('lets Nest middleware write through req.session and read through SessionService', async () => {
        const client = new Client(s.client.base);
        expect((await client.get('/middleware/hit')).status).toBe(200);
        expect((await client.get('/middleware/hit')).status).toBe(200);
        expect(await s.stored()).toBeDefined();
        expect((await client.get('/data')).body).toEqual({ middlewareWrote: true, middlewareVisits: 2 });
      });

      it('rejects current() without asyncContext, naming the option', async () => {
        const res = await s.client.get('/service');
        expect(res.status).toBe(500);
        await expect(s.app.get(SessionService).current()).rejects.toThrow(/asyncContext: true/);
      });

      it('leaves routes that never touch the session alone: no cookie, nothing stored', async () => {
        const client = new Client(s.client.base);
        const res = await client.get('/plain');
        expect(res.status).toBe(200);
        expect(res.setCookies).toEqual([]);
        if (s.store instanceof CountingStore) {
          s.store.reset();
          await client.get('/plain');
          expect(s.store.calls.get + s.store.writes).toBe(0);
        }
      });
    });

    describe('with asyncContext', () => {
      let s: Started;
      beforeAll(async () => {
        s = await start({ asyncContext: true });
      });

      it('gives services the current session through SessionService.current()', async () => {
        expect((await s.client.get('/service')).body).toEqual({ visits: 1 });
        expect((await s.client.get('/service')).body).toEqual({ visits: 2 });
        // After a JSON body was parsed too: the context survives the body parser.
        expect((await s.client.post('/service', { some: 'body' })).body).toEqual({ visits: 3 });
        expect(await s.stored()).toEqual({ serviceVisits: 3 });
      });

      it('rejects current() outside a request with a clear error', async () => {
        const error = await s.app.get(SessionService).current().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SessionContextError);
        expect((error as Error).message).toMatch(/outside an HTTP request/);
      });
    });

    describe('with preload and app middleware', () => {
      let s: Started;
      beforeAll(async () => {
        s = await start({ preload: true }, appMiddleware);
      });

      it("lets the app's own middleware read and write req.session synchronously", async () => {
        await s.client.post('/set', { value: 'x' });
        await s.client.get('/data');
        const body = (await s.client.get('/data')).body as Record<string, unknown>;
        expect(body.appMiddleware).toBe(2);
        expect(await s.stored()).toMatchObject({ value: 'x', appMiddleware: 2 });
        if (adapter === 'fastify') expect(body.fastifyHook).toBe(true);
      });

      it('reads req.session synchronously in a handler', async () => {
        const res = await s.client.get('/sync-read');
        expect(res.body).toEqual({ value: 'x' });
      });
    });

    describe('with SessionInterceptor bound globally by hand', () => {
      it('changes nothing: routes keep working and sessions are saved once', async () => {
        const s = await start({}, undefined, [{ provide: APP_INTERCEPTOR, useExisting: SessionInterceptor }]);
        expect((await s.client.get('/plain')).status).toBe(200);
        expect((await s.client.post('/set', { value: 3 })).status).toBe(200);
        expect((await s.client.get('/return-to')).status).toBe(403);
        expect(await s.stored()).toEqual({ value: 3, returnTo: '/return-to' });
      });
    });

    describe('when the store fails on the save', () => {
      // A store that can be switched to fail: the in-memory one (Redis outages have their own suite).
      (kind === 'memory' ? it : it.skip)('answers 503 on every exit path instead of a silent success', async () => {
        const s = await start();
        await s.client.post('/set', { value: 'kept' });
        (s.store as CountingStore).failWrites = true;
        for (const path of ['/res', '/streamable', '/chunks', '/redirect', '/return-to']) {
          const res = await s.client.get(path);
          expect({ path, status: res.status }).toEqual({ path, status: 503 });
          expect(res.body).toMatchObject({ statusCode: 503 });
        }
        expect((await s.client.post('/set', { value: 'lost' })).status).toBe(503);
        (s.store as CountingStore).failWrites = false;
        expect(await s.stored()).toEqual({ value: 'kept' });
      });
    });
  });
});
