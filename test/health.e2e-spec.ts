import { Controller, Get, Inject, type INestApplication, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import type { Redis } from 'ioredis';
import { MemoryStore, RedisStore, SessionModule, type SessionStore } from 'nestjs-sessionkit';
import { SessionStoreHealthIndicator } from 'nestjs-sessionkit/terminus';
import { type AdapterName, SECRET, adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { TestRedisServer } from './support/redis-server.js';
import { closeClient, newRedis, testPrefix, waitUntil } from './support/redis.js';

@Controller()
class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(SessionStoreHealthIndicator) private readonly sessionStore: SessionStoreHealthIndicator,
  ) {}

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.sessionStore.isHealthy('session-store', { timeout: 500 })]);
  }
}

function healthApp(store: SessionStore | undefined) {
  @Module({ imports: [TerminusModule], controllers: [HealthController], providers: [SessionStoreHealthIndicator] })
  class HealthModule {}
  return { module: HealthModule, imports: [SessionModule.forRoot({ secret: SECRET, cookie: { secure: false }, ...(store ? { store } : {}) })] };
}

/** A store written by an app, without ping(): the indicator reads a missing session instead. */
class PlainStore implements SessionStore {
  readonly inner = new MemoryStore();
  reads = 0;
  down = false;
  async get(handle: string) {
    this.reads++;
    if (this.down) throw new Error('database unreachable');
    return this.inner.get(handle);
  }
  set = this.inner.set.bind(this.inner);
  destroy = this.inner.destroy.bind(this.inner);
}

describe.each(adapters)('session store health indicator (%s)', (adapter: AdapterName) => {
  const apps: INestApplication[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  async function client(store: SessionStore | undefined): Promise<Client> {
    const app = await startApp(healthApp(store), adapter);
    apps.push(app);
    return new Client(await baseUrl(app));
  }

  it('reports the default MemoryStore up', async () => {
    const reply = await (await client(undefined)).get('/health');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ status: 'ok', info: { 'session-store': { status: 'up' } } });
  });

  it('reads a missing session from a custom store without ping(), and reports its failure', async () => {
    const store = new PlainStore();
    const http = await client(store);
    expect((await http.get('/health')).status).toBe(200);
    expect(store.reads).toBe(1);
    store.down = true;
    const reply = await http.get('/health');
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ status: 'error', error: { 'session-store': { status: 'down', message: 'database unreachable' } } });
  });

  describe('with Redis', () => {
    let server: TestRedisServer;
    let redis: Redis;
    let http: Client;

    beforeAll(async () => {
      server = await TestRedisServer.create();
      redis = newRedis(server.port, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
      http = await client(new RedisStore({ client: redis, prefix: testPrefix('health'), commandTimeout: 300 }));
    });
    afterAll(async () => {
      await closeClient(redis);
      await server.dispose();
    });

    it('is up while Redis answers PING, down within the timeout when it stops, and up again when it is back', async () => {
      let reply = await http.get('/health');
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ info: { 'session-store': { status: 'up' } } });

      await server.stop();
      const started = Date.now();
      reply = await http.get('/health');
      expect(Date.now() - started).toBeLessThan(1_500);
      // What the client says depends on when it noticed: a timeout of ours, a refused connection, or ioredis giving up its retries.
      expect(reply.status).toBe(503);
      expect(reply.body).toMatchObject({ status: 'error', error: { 'session-store': { status: 'down', message: expect.stringMatching(/Redis|answer|retries|ECONNREFUSED|[Cc]onnection/) } } });

      await server.start();
      await waitUntil('the health check to recover', async () => (await http.get('/health')).status === 200, 10_000, 100);
      expect((await http.get('/health')).body).toMatchObject({ status: 'ok' });
    });
  });
});
