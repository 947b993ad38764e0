import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore } from 'nestjs-sessionkit';
import { redisAppModule } from '../fixtures/redis-app.fixture.js';
import { adapters, baseUrl, startApp } from '../support/app.js';
import { Client } from '../support/client.js';
import { closeClient, deleteKeys, newRedis, sleep, testPrefix } from '../support/redis.js';

describe.each(adapters)('parallel requests on one session in Redis (%s)', (adapter) => {
  const prefix = testPrefix(`conc-${adapter}`);
  let redis: Redis;
  let app: INestApplication | undefined;
  let base: string;

  beforeAll(async () => {
    redis = newRedis();
    app = await startApp(redisAppModule(new RedisStore({ client: redis, prefix })), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    try {
      await app?.close();
      await deleteKeys(redis, prefix);
    } finally {
      await closeClient(redis);
    }
  });

  async function loggedIn(): Promise<{ client: Client; handle: string }> {
    const client = new Client(base);
    const login = await client.post('/login', { userId: 1 });
    expect(login.status).toBe(200);
    return { client, handle: (login.body as { handle: string }).handle };
  }

  it('keeps all 50 keys set by 50 parallel requests', async () => {
    const { client } = await loggedIn();
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => client.post(`/set/k${i}`, { value: i })));
    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    const data = (await client.get('/data')).body as Record<string, unknown>;
    for (let i = 0; i < 50; i++) expect(data[`k${i}`]).toBe(i);
    expect(data.userId).toBe(1);
  });

  it('loses no increment among 50 parallel ones', async () => {
    const { client } = await loggedIn();
    const replies = await Promise.all(Array.from({ length: 50 }, () => client.post('/increment/n')));
    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(((await client.get('/data')).body as { n: number }).n).toBe(50);
  });

  it('does not bring back a session logged out while a slow request was running', async () => {
    const { client, handle } = await loggedIn();
    const cookie = client.jar.get('sid')!;
    const slow = client.post('/slow/late?ms=400');
    await sleep(100);
    const other = new Client(base);
    other.jar.set('sid', cookie);
    expect((await other.post('/logout')).status).toBe(200);
    expect((await slow).status).toBe(200);

    expect(await redis.exists(prefix + handle)).toBe(0);
    const again = new Client(base);
    again.jar.set('sid', cookie);
    expect((await again.get('/me')).status).toBe(401);
    expect((await again.get('/data')).body).toEqual({});
  });
});
