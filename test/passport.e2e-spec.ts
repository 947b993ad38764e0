import type { INestApplication } from '@nestjs/common';
import passport from 'passport';
import { PostgresStore, type SessionEvent, SessionService, type SessionStore } from 'nestjs-sessionkit';
import { passportApp } from './fixtures/passport.fixture.js';
import { type AdapterName, adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { dropSchema, newPool, testSchema } from './support/postgres.js';
import { type TestStore, storeKinds, testStore } from './support/store-matrix.js';

type Middleware = (req: unknown, res: unknown, next: (error?: unknown) => void) => void;

interface FastifyLike {
  addHook(name: 'preHandler', hook: (req: unknown, reply: unknown, done: (error?: unknown) => void) => void): void;
}

/**
 * Passport's own middleware, mounted as the README says: `app.use()` on Express; on Fastify as
 * `preHandler` hooks, so that they see the `FastifyRequest` that @nestjs/passport's guards get.
 */
function mountPassport(app: INestApplication, adapter: AdapterName): void {
  const middleware = [passport.initialize() as Middleware, passport.session() as Middleware];
  if (adapter === 'express') {
    for (const m of middleware) app.use(m);
    return;
  }
  const fastify = app.getHttpAdapter().getInstance() as FastifyLike;
  for (const m of middleware) fastify.addHook('preHandler', (req, reply, done) => m(req, reply, done));
}

describe.each(adapters)('Passport with @nestjs/passport (%s)', (adapter) => {
  describe.each(storeKinds)('on %s', (kind) => {
    let app: INestApplication;
    let base: string;
    let store: SessionStore;
    let testing: TestStore;

    beforeAll(async () => {
      testing = testStore(kind, `passport-${adapter}`);
      store = testing.store;
      app = await startApp(passportApp(store), adapter, { beforeInit: (a) => mountPassport(a, adapter) });
      base = await baseUrl(app);
    });
    afterAll(async () => {
      await app.close();
      await testing.close();
    });

    async function stored(client: Client) {
      const cookie = client.jar.get('sid');
      return cookie === undefined ? undefined : (await store.get(handleOf(idOf(cookie))))?.data;
    }

    it('logs in with passport-local, stays logged in across requests, and logs out', async () => {
      const client = new Client(base);
      expect((await client.get('/me')).status).toBe(403);
      // A session from before login, so the login must move it to a new id.
      const refused = await client.post('/login', { username: 'ada', password: 'wrong' });
      expect(refused.status).toBe(401);

      const login = await client.post('/login', { username: 'ada', password: 'lovelace' });
      expect(login.status).toBe(200);
      expect(login.body).toEqual({ user: { id: 42, name: 'ada' } });
      const loggedIn = client.jar.get('sid')!;
      expect(await stored(client)).toEqual({ passport: { user: 42 } });

      for (let i = 0; i < 2; i++) {
        const me = await client.get('/me');
        expect(me.status).toBe(200);
        expect(me.body).toEqual({ user: { id: 42, name: 'ada' } });
      }

      const logout = await client.post('/logout');
      expect(logout.status).toBe(200);
      // Passport regenerates on logout: the old id is gone from the store.
      expect(await store.get(handleOf(idOf(loggedIn)))).toBeUndefined();
      // As with express-session, the logout leaves a new, empty session: nothing is stored and the cookie is cleared.
      expect(client.jar.has('sid')).toBe(false);
      expect((await client.get('/me')).status).toBe(403);

      // The old cookie no longer logs anyone in.
      const replay = new Client(base);
      replay.jar.set('sid', loggedIn);
      expect((await replay.get('/me')).status).toBe(403);
    });

    it('carries nothing a logged-in user stored across logout (regenerate(cb) starts an empty session)', async () => {
      const client = new Client(base);
      await client.post('/login', { username: 'ada', password: 'lovelace' });
      await client.post('/note', { note: 'private note of user 42' });
      const loggedIn = client.jar.get('sid')!;
      expect(await stored(client)).toEqual({ passport: { user: 42 }, note: 'private note of user 42' });

      await client.post('/logout');
      expect(await store.get(handleOf(idOf(loggedIn)))).toBeUndefined();
      // The next anonymous session on this browser starts empty: the note stayed with the logged-in session.
      expect((await client.post('/note', { note: 'anonymous' })).body).toEqual({ before: null });
      expect(await stored(client)).toEqual({ note: 'anonymous' });
    });

    it("keeps the session's data across login and logout with Passport's keepSessionInfo", async () => {
      const client = new Client(base);
      await client.post('/note', { note: 'cart of an anonymous visitor' });
      const anonymous = client.jar.get('sid')!;
      await client.post('/login-keep', { username: 'ada', password: 'lovelace' });
      expect(client.jar.get('sid')).not.toBe(anonymous);
      expect(await stored(client)).toEqual({ note: 'cart of an anonymous visitor', passport: { user: 42 } });

      await client.post('/logout-keep');
      expect(await stored(client)).toEqual({ note: 'cart of an anonymous visitor', passport: {} });
      expect((await client.get('/me')).status).toBe(403);
    });
  });
});

/** Every store with a per-user index: the two of the matrix, and PostgresStore in a schema of its own. */
function userIndexStore(kind: 'memory' | 'redis' | 'postgres', suite: string): TestStore {
  if (kind !== 'postgres') return testStore(kind, suite);
  const pool = newPool({ max: 4 });
  const schema = testSchema(suite);
  return {
    store: new PostgresStore({ pool, schema, createTable: true }),
    async close() {
      await dropSchema(pool, schema);
      await pool.end();
    },
  };
}

describe.each(adapters)("Passport's user as the session's user, authKey 'passport.user' (%s)", (adapter) => {
  describe.each(['memory', 'redis', 'postgres'] as const)('on %s', (kind) => {
    let app: INestApplication;
    let base: string;
    let store: SessionStore;
    let testing: TestStore;
    const events: SessionEvent[] = [];

    beforeAll(async () => {
      testing = userIndexStore(kind, `passport_user_${adapter}`);
      store = testing.store;
      app = await startApp(passportApp(store, { authKey: 'passport.user', maxSessionsPerUser: 3 }), adapter, { beforeInit: (a) => mountPassport(a, adapter) });
      app.get(SessionService).events$.subscribe((event) => events.push(event));
      base = await baseUrl(app);
    });
    afterAll(async () => {
      await app.close();
      await testing.close();
    });

    const handleIn = (client: Client): string => handleOf(idOf(client.jar.get('sid')!));
    const handlesOf = async (user: string): Promise<string[]> => (await store.listByUser!(user)).map((e) => e.handle).sort();
    const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

    async function login(): Promise<Client> {
      const client = new Client(base);
      const reply = await client.post('/login', { username: 'ada', password: 'lovelace' });
      expect(reply.status).toBe(200);
      return client;
    }

    it('lets SessionGuard through after a Passport login, indexes the session under the id, and logs out other devices', async () => {
      const stranger = new Client(base);
      expect((await stranger.get('/guarded')).status).toBe(401);

      const [laptop, phone] = [await login(), await login()];
      for (const device of [laptop, phone]) {
        expect(await store.get(handleIn(device))).toMatchObject({ data: { passport: { user: 42 } }, user: '42' });
        const guarded = await device.get('/guarded');
        expect(guarded.status).toBe(200);
        expect(guarded.body).toEqual({ user: { id: 42, name: 'ada' } });
      }
      expect(await handlesOf('42')).toEqual([handleIn(laptop), handleIn(phone)].sort());
      const listed = (await laptop.get('/my-sessions')).body as { handle: string; current: boolean }[];
      expect(listed.map((e) => [e.handle, e.current])).toEqual([
        [handleIn(laptop), true],
        [handleIn(phone), false],
      ]);

      // The login stored the session: the event carries the user as stores index it.
      await nextTurn();
      expect(events.filter((e) => e.handle === handleIn(phone)).map((e) => [e.type, e.user])).toEqual([['created', '42']]);

      const phoneHandle = handleIn(phone);
      const others = await laptop.post('/logout-others');
      expect(others.body).toEqual({ user: '42', destroyed: 1 });
      expect(await store.get(phoneHandle)).toBeUndefined();
      expect((await phone.get('/guarded')).status).toBe(401);
      expect((await laptop.get('/guarded')).status).toBe(200);
      expect(await handlesOf('42')).toEqual([handleIn(laptop)]);
      await nextTurn();
      expect(events.filter((e) => e.type === 'revoked').map((e) => [e.handle, e.user])).toEqual([[phoneHandle, '42']]);

      // Passport's logout regenerates into an empty session: the user's session is gone from the
      // store and from the index, and the cookie is cleared.
      const laptopHandle = handleIn(laptop);
      expect((await laptop.post('/logout')).status).toBe(200);
      expect(await store.get(laptopHandle)).toBeUndefined();
      expect(laptop.jar.has('sid')).toBe(false);
      expect((await laptop.get('/guarded')).status).toBe(401);
      expect(await handlesOf('42')).toEqual([]);
    });

    it('holds a Passport user to maxSessionsPerUser, destroying the oldest session', async () => {
      const devices = [await login(), await login(), await login()];
      const oldest = handleIn(devices[0]!);
      expect(await handlesOf('42')).toHaveLength(3);
      const fourth = await login();
      expect(await store.get(oldest)).toBeUndefined();
      expect((await devices[0]!.get('/guarded')).status).toBe(401);
      expect(await handlesOf('42')).toEqual([...devices.slice(1), fourth].map(handleIn).sort());
      expect((await fourth.post('/logout-others')).body).toEqual({ user: '42', destroyed: 2 });
      expect(await handlesOf('42')).toEqual([handleIn(fourth)]);
    });
  });
});
