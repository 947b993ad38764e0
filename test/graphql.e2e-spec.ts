import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore, type SessionStore } from 'nestjs-sessionkit';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client, type Reply } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { loadMercuriusUnderJest } from './support/mercurius.js';
import { deleteKeys, newRedis, testPrefix } from './support/redis.js';
import { CountingStore } from './support/stores.js';

await loadMercuriusUnderJest();
const { graphqlApp } = await import('./fixtures/graphql.fixture.js');

interface GraphqlError {
  message: string;
  extensions?: { code?: string; status?: number };
}

interface GraphqlReply {
  data?: Record<string, unknown> | null;
  errors?: GraphqlError[];
}

function gql(client: Client, query: string): Promise<Reply & { body: GraphqlReply }> {
  return client.post('/graphql', { query }) as Promise<Reply & { body: GraphqlReply }>;
}

async function stored(store: SessionStore, client: Client): Promise<Record<string, unknown> | undefined> {
  const cookie = client.jar.get('sid');
  return cookie === undefined ? undefined : (await store.get(handleOf(idOf(cookie))))?.data;
}

// Apollo on Express, Mercurius on Fastify.
describe.each(adapters)('GraphQL resolvers (%s)', (adapter) => {
  describe.each(['memory', 'redis'] as const)('on %s', (storeName) => {
    let app: INestApplication;
    let base: string;
    let store: SessionStore;
    let redis: Redis | undefined;
    const prefix = testPrefix(`graphql-${adapter}`);

    beforeAll(async () => {
      if (storeName === 'redis') redis = newRedis();
      store = redis ? new RedisStore({ client: redis, prefix }) : new CountingStore();
      app = await startApp(graphqlApp(adapter, store), adapter);
      base = await baseUrl(app);
    });
    afterAll(async () => {
      await app.close();
      if (redis) {
        await deleteKeys(redis, prefix);
        redis.disconnect();
      }
    });

    it('logs in with a mutation (new id, cookie on the HTTP response), passes the guard, is seen by REST, and logs out', async () => {
      const client = new Client(base);
      const refused = await gql(client, '{ me }');
      expect(refused.body.data).toEqual({ me: null });
      expect(refused.body.errors?.[0]).toMatchObject({
        message: 'Log in first: this route needs a session.',
        extensions: { code: 'UNAUTHENTICATED', status: 401 },
      });

      // A session from before the login, which the login must move to a new id.
      expect((await gql(client, '{ tick }')).body.data).toEqual({ tick: 1 });
      const before = client.jar.get('sid')!;
      expect(await stored(store, client)).toEqual({ ticks: 1 });

      const login = await gql(client, 'mutation { login(userId: 7) }');
      expect(login.body).toEqual({ data: { login: true } });
      expect(login.setCookies).toHaveLength(1);
      const after = client.jar.get('sid')!;
      expect(idOf(after)).not.toBe(idOf(before));
      expect(await store.get(handleOf(idOf(before)))).toBeUndefined();
      expect(await stored(store, client)).toEqual({ ticks: 1, userId: 7 });

      expect((await gql(client, '{ me }')).body).toEqual({ data: { me: 7 } });
      expect((await client.get('/rest/me')).body).toEqual({ userId: 7 });

      const logout = await gql(client, 'mutation { logout }');
      expect(logout.body).toEqual({ data: { logout: true } });
      expect(client.jar.has('sid')).toBe(false);
      expect(await store.get(handleOf(idOf(after)))).toBeUndefined();
      client.jar.set('sid', after);
      expect((await gql(client, '{ me }')).body.errors?.[0]?.extensions).toMatchObject({ status: 401 });
      expect((await client.get('/rest/me')).status).toBe(401);
    });
  });

  describe('with a counting store', () => {
    let app: INestApplication;
    let base: string;
    const store = new CountingStore();

    beforeAll(async () => {
      app = await startApp(graphqlApp(adapter, store), adapter);
      base = await baseUrl(app);
    });
    afterAll(() => app.close());
    afterEach(() => {
      store.failReads = false;
      store.failWrites = false;
    });

    async function loggedIn(): Promise<Client> {
      const client = new Client(base);
      await gql(client, 'mutation { login(userId: 5) }');
      store.reset();
      return client;
    }

    it('shares one session among the fields of an operation: one load, one save', async () => {
      const client = await loggedIn();
      const reply = await gql(client, '{ a: tick b: tick c: tick me profile { id visits name } }');
      expect(reply.body.errors).toBeUndefined();
      expect(reply.body.data).toMatchObject({ me: 5, profile: { id: 5, visits: 1, name: 'ada' } });
      // Fields resolved in parallel, each incrementing the one handle.
      expect([reply.body.data!.a, reply.body.data!.b, reply.body.data!.c].sort()).toEqual([1, 2, 3]);
      expect(store.calls.get).toBe(1);
      expect(store.writes).toBe(1);
      expect(await stored(store, client)).toEqual({ userId: 5, ticks: 3, visits: 1 });
    });

    it('costs nothing for fields that never use the session', async () => {
      const client = await loggedIn();
      const reply = await gql(client, '{ plain }');
      expect(reply.body).toEqual({ data: { plain: 'no session here' } });
      expect(reply.setCookies).toEqual([]);
      expect(store.calls).toMatchObject({ get: 0, set: 0, touch: 0, patch: 0 });
    });

    it('refuses every field of a guarded resolver class without creating a session', async () => {
      const client = new Client(base);
      const size = store.size;
      const reply = await gql(client, '{ profile { id visits } }');
      expect(reply.body.errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
      expect(reply.setCookies).toEqual([]);
      expect(store.size).toBe(size);
    });

    it('reports a store failure as a GraphQL error with status 503, never as an empty session', async () => {
      const client = await loggedIn();
      store.failReads = true;
      const reply = await gql(client, '{ me tick }');
      expect(reply.body.data ?? null).toBeNull();
      const errors = reply.body.errors ?? [];
      expect(errors.length).toBeGreaterThan(0);
      for (const error of errors) {
        expect(error.message).toMatch(/session store could not load/);
        expect(error.extensions?.status).toBe(503);
      }
      store.failReads = false;
      expect(await stored(store, client)).toEqual({ userId: 5 });
    });

    it('answers 503 when the session cannot be saved, and keeps the stored session as it was', async () => {
      const client = await loggedIn();
      store.failWrites = true;
      const reply = await gql(client, '{ tick }');
      expect(reply.status).toBe(503);
      expect(reply.text).not.toMatch(/"tick":1/);
      store.failWrites = false;
      expect(await stored(store, client)).toEqual({ userId: 5 });
    });
  });

  it("works with the driver's default context as well", async () => {
    const store = new CountingStore();
    const app = await startApp(graphqlApp(adapter, store, 'default'), adapter);
    try {
      const client = new Client(await baseUrl(app));
      await gql(client, 'mutation { login(userId: 9) }');
      expect(await stored(store, client)).toEqual({ userId: 9 });
      expect((await gql(client, '{ me }')).body).toEqual({ data: { me: 9 } });
    } finally {
      await app.close();
    }
  });
});
