import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore } from 'nestjs-sessionkit';
import { redisAppModule } from '../fixtures/redis-app.fixture.js';
import { adapters, baseUrl, startApp } from '../support/app.js';
import { Client, type Reply } from '../support/client.js';
import { closeClient, newRedis, testPrefix, waitUntil } from '../support/redis.js';
import { TestRedisServer } from '../support/redis-server.js';

const COMMAND_TIMEOUT = 500;
/** Slack for HTTP, Nest and a loaded CI machine on top of commandTimeout. */
const MARGIN = 750;

// Unhandled rejections: Jest (jest-circus) listens for them on the real process and fails the
// running test with the rejection, so any rejection left unhandled by the store or ioredis during
// the outage fails these tests. (A process.on spy in the test sandbox would never be called.)
describe.each(adapters)('Redis outage (%s)', (adapter) => {
  const prefix = testPrefix(`outage-${adapter}`);
  let server: TestRedisServer | undefined;
  let redis: Redis | undefined;
  let app: INestApplication | undefined;
  let base: string;

  beforeAll(async () => {
    server = await TestRedisServer.create();
    // Default offline queue on; a short reconnect delay so that recovery is quick to observe.
    redis = newRedis(server.url, { retryStrategy: () => 100 });
    app = await startApp(redisAppModule(new RedisStore({ client: redis, prefix, commandTimeout: COMMAND_TIMEOUT })), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    try {
      await app?.close();
      await closeClient(redis);
    } finally {
      await server?.dispose();
    }
  });

  async function timed(request: () => Promise<Reply>): Promise<{ reply: Reply; elapsed: number }> {
    const started = Date.now();
    const reply = await request();
    return { reply, elapsed: Date.now() - started };
  }

  it('answers 503 within commandTimeout while Redis is down, and recovers when it is back', async () => {
    const client = new Client(base);
    expect((await client.post('/login', { userId: 9 })).status).toBe(200);
    expect((await client.post('/set/before', { value: 'kept' })).status).toBe(200);
    expect((await client.get('/me')).status).toBe(200);

    await server!.stop(true);

    // Routes that need the session fail fast and cleanly, in parallel too.
    const down = await Promise.all([
      timed(() => client.get('/me')),
      timed(() => client.get('/data')),
      timed(() => client.post('/set/during', { value: 'lost' })),
      timed(() => client.post('/increment/n')),
      timed(() => client.post('/logout')),
      timed(() => new Client(base).post('/login', { userId: 10 })),
    ]);
    for (const { reply, elapsed } of down) {
      expect(reply.status).toBe(503);
      expect(elapsed).toBeLessThan(COMMAND_TIMEOUT + MARGIN);
    }
    // A later request gets the same bounded answer (nothing piles up in an offline queue).
    const again = await timed(() => client.get('/me'));
    expect(again.reply.status).toBe(503);
    expect(again.elapsed).toBeLessThan(COMMAND_TIMEOUT + MARGIN);
    // A route that does not use the session does not care.
    const plain = await timed(() => client.get('/plain'));
    expect(plain.reply.status).toBe(200);
    expect(plain.elapsed).toBeLessThan(MARGIN);
    expect(client.jar.has('sid')).toBe(true);

    await server!.start();

    // Same app, same cookie: it works again once ioredis has reconnected.
    await waitUntil('the session to load again', async () => (await client.get('/me')).status === 200, 10_000, 100);
    expect((await client.get('/me')).body).toEqual({ userId: 9 });
    // Written before the outage: kept. Refused during it: not applied later.
    expect((await client.get('/data')).body).toEqual({ userId: 9, before: 'kept' });
    expect((await client.post('/increment/n')).body).toEqual({ value: 1 });
  });
});
