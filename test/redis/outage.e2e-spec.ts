import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore } from 'nestjs-sessionkit';
import { redisAppModule } from '../fixtures/redis-app.fixture.js';
import { adapters, baseUrl, startApp } from '../support/app.js';
import { closeClient, newRedis, testPrefix } from '../support/redis.js';
import { TestRedisServer } from '../support/redis-server.js';
import { expectBoundedOutage, expectRecovered, loggedInBeforeOutage } from '../support/store-outage.js';

const COMMAND_TIMEOUT = 500;

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

  it('answers 503 within commandTimeout while Redis is down, and recovers when it is back', async () => {
    const client = await loggedInBeforeOutage(base, 'kept');

    await server!.stop(true);

    // Routes that need the session fail fast and cleanly, in parallel too.
    await expectBoundedOutage(client, base, COMMAND_TIMEOUT, 1);

    await server!.start();

    // Same app, same cookie: it works again once ioredis has reconnected.
    await expectRecovered(client, 'kept');
  });
});
