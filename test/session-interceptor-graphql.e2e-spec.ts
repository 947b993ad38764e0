import type { INestApplication } from '@nestjs/common';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client, type Reply } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { loadMercuriusUnderJest } from './support/mercurius.js';
import { CountingStore } from './support/stores.js';

await loadMercuriusUnderJest();
const { graphqlApp } = await import('./fixtures/graphql.fixture.js');

const WRITE_FAILED = 'The session store could not save the session. Please try again shortly.';

interface GraphqlReply {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

function gql(client: Client, query: string): Promise<Reply & { body: GraphqlReply }> {
  return client.post('/graphql', { query }) as Promise<Reply & { body: GraphqlReply }>;
}

// Apollo on Express, Mercurius on Fastify.
describe.each(adapters)('a failed save of a GraphQL operation (%s)', (adapter) => {
  const store = new CountingStore();
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await startApp(graphqlApp(adapter, store), adapter);
    base = await baseUrl(app);
  });
  afterEach(() => {
    store.failWrites = false;
  });
  afterAll(() => app.close());

  async function stored(client: Client): Promise<Record<string, unknown> | undefined> {
    return (await store.get(handleOf(idOf(client.jar.get('sid')!))))?.data;
  }

  it.each([
    ['a root field', '{ tick }'],
    ['several root fields', '{ a: tick b: tick }'],
    // Nested fields resolve after the root field's resolver returned: saved once, after them.
    ['a nested field', '{ profile { id visits } }'],
  ])('is a GraphQL error response with SERVICE_UNAVAILABLE, for %s', async (_, query) => {
    const client = new Client(base);
    expect((await gql(client, 'mutation { login(userId: 3) }')).body).toEqual({ data: { login: true } });
    store.failWrites = true;
    store.reset();
    const reply = await gql(client, query);
    expect(reply.status).toBe(503);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    expect(reply.body).toEqual({ data: null, errors: [{ message: WRITE_FAILED, extensions: { code: 'SERVICE_UNAVAILABLE', status: 503 } }] });
    expect(reply.setCookies).toEqual([]);
    // One attempt for the whole operation, not one per field.
    expect(store.calls.patch).toBe(1);
    store.failWrites = false;
    expect(await stored(client)).toEqual({ userId: 3 });
  });
});
