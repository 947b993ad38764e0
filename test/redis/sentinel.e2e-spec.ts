import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RedisStore } from 'nestjs-sessionkit';
import { redisAppModule } from '../fixtures/redis-app.fixture.js';
import { adapters, baseUrl, startApp } from '../support/app.js';
import { Client } from '../support/client.js';
import { closeClient, testPrefix, waitUntil } from '../support/redis.js';
import { type TestSentinel, TestRedisServer, startSentinel } from '../support/redis-server.js';
import { describeRedisStoreContract } from '../support/redis-store-contract.js';

// A real master plus one Sentinel, both started for this file; the client finds the master through the Sentinel.
let server: TestRedisServer | undefined;
let sentinel: TestSentinel | undefined;
let client: Redis;
const prefix = testPrefix('sentinel');

beforeAll(async () => {
  server = await TestRedisServer.create();
  sentinel = await startSentinel(server.port, server.dir);
  client = new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: sentinel.name, disconnectTimeout: 100 });
  client.on('error', () => {});
  await waitUntil('the Sentinel-managed client to be ready', () => client.status === 'ready', 10_000);
}, 30_000);
afterAll(async () => {
  try {
    await closeClient(client);
    await sentinel?.stop();
  } finally {
    await server?.dispose();
  }
});

describeRedisStoreContract('RedisStore through Redis Sentinel', () => ({ client, prefix }));

describe.each(adapters)('login and logout through Sentinel (%s)', (adapter) => {
  let app: INestApplication | undefined;
  let base: string;

  beforeAll(async () => {
    app = await startApp(redisAppModule(new RedisStore({ client, prefix: `${prefix}${adapter}:` })), adapter);
    base = await baseUrl(app);
  });
  afterAll(() => app?.close());

  it('keeps the session in the master the Sentinel names', async () => {
    const browser = new Client(base);
    const login = await browser.post('/login', { userId: 5 });
    const handle = (login.body as { handle: string }).handle;
    expect((await browser.get('/me')).body).toEqual({ userId: 5 });
    const direct = new Redis(server!.port, '127.0.0.1', { disconnectTimeout: 100 });
    try {
      expect(await direct.hget(`${prefix}${adapter}:${handle}`, '@u')).toBe('5');
    } finally {
      await closeClient(direct);
    }
    expect((await browser.post('/logout')).status).toBe(200);
    expect((await browser.get('/me')).status).toBe(401);
  });
});
