import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisStore } from 'nestjs-sessionkit';
import { redisAppModule } from '../fixtures/redis-app.fixture.js';
import { adapters, baseUrl, startApp } from '../support/app.js';
import { Client } from '../support/client.js';
import { closeClient, deleteKeys, newRedis, testPrefix } from '../support/redis.js';

// Two apps, as behind a load balancer: each with its own client and store, sharing one Redis.
describe.each(adapters)('two app instances sharing one Redis (%s)', (adapter) => {
  const prefix = testPrefix(`two-${adapter}`);
  let redisA: Redis;
  let redisB: Redis;
  let appA: INestApplication | undefined;
  let appB: INestApplication | undefined;
  let baseA: string;
  let baseB: string;

  beforeAll(async () => {
    redisA = newRedis();
    redisB = newRedis();
    appA = await startApp(redisAppModule(new RedisStore({ client: redisA, prefix })), adapter);
    appB = await startApp(redisAppModule(new RedisStore({ client: redisB, prefix })), adapter);
    baseA = await baseUrl(appA);
    baseB = await baseUrl(appB);
  });
  afterAll(async () => {
    try {
      await appA?.close();
      await appB?.close();
      await deleteKeys(redisA, prefix);
    } finally {
      await closeClient(redisA);
      await closeClient(redisB);
    }
  });

  it('logs in through A, reads through B, logs out through B; A then answers 401', async () => {
    const onA = new Client(baseA);
    expect((await onA.post('/login', { userId: 42 })).status).toBe(200);
    const cookie = onA.jar.get('sid')!;

    const onB = new Client(baseB);
    onB.jar.set('sid', cookie);
    const me = await onB.get('/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ userId: 42 });

    // A change made on B is seen on A.
    expect((await onB.post('/set/theme', { value: 'dark' })).status).toBe(200);
    expect((await onA.get('/data')).body).toEqual({ userId: 42, theme: 'dark' });

    expect((await onB.post('/logout')).status).toBe(200);
    expect((await onA.get('/me')).status).toBe(401);
    expect((await onB.get('/me')).status).toBe(401);
  });

  it('lists and revokes sessions of a user across instances', async () => {
    const first = new Client(baseA);
    const second = new Client(baseB);
    await first.post('/login', { userId: 'shared-user' });
    await second.post('/login', { userId: 'shared-user' });
    const list = await first.get('/sessions');
    expect(list.status).toBe(200);
    expect((list.body as { current: boolean }[]).map((s) => s.current).sort()).toEqual([false, true]);

    const revoked = await first.post('/logout-others');
    expect(revoked.body).toEqual({ destroyed: 1 });
    expect((await second.get('/me')).status).toBe(401);
    expect((await first.get('/me')).status).toBe(200);
  });
});
