import type { INestApplication } from '@nestjs/common';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { sign } from 'cookie-signature';
import type { Redis } from 'ioredis';
import { createClient } from 'redis';
import { LEGACY_SECRET } from './fixtures/legacy.fixture.js';
import { websocketApp } from './fixtures/websocket.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { counting } from './support/express-session-stores.js';
import { REDIS_URL, deleteKeys, newRedis, testPrefix } from './support/redis.js';
import { type SocketClient, connectSocket, socketPlatforms, useSocketPlatform } from './support/sockets.js';
import { CountingStore } from './support/stores.js';

// Apart from test/legacy.e2e-spec.ts: the NestJS 11 run has no @nestjs/websockets.

describe.each(adapters)('The legacy option and WebSocket gateways (%s)', (adapter) => {
  describe.each(socketPlatforms)('with %s', (platform) => {
    const prefix = testPrefix(`legacy-ws-${adapter}-${platform}`);
    let oldRedis: ReturnType<typeof createClient>;
    let redis: Redis;
    let oldStore: ConnectRedisStore;
    let legacy: ReturnType<typeof counting>;
    let app: INestApplication;
    let base: string;
    const sockets: SocketClient[] = [];

    beforeAll(async () => {
      oldRedis = createClient({ url: REDIS_URL });
      oldRedis.on('error', () => undefined);
      await oldRedis.connect();
      redis = newRedis();
      oldStore = new ConnectRedisStore({ client: oldRedis, prefix: `${prefix}old:` });
      legacy = counting(oldStore);
      app = await startApp(websocketApp(new CountingStore(), { legacy: { store: legacy.store, secret: LEGACY_SECRET } }), adapter, {
        beforeInit: (a) => useSocketPlatform(a, platform),
      });
      base = await baseUrl(app);
    });
    afterAll(async () => {
      for (const socket of sockets) socket.close();
      await app?.close();
      await deleteKeys(redis, prefix);
      redis.disconnect();
      oldRedis.destroy();
    });

    it('a socket with only an old cookie moves nothing (it could not carry the new cookie); the next HTTP request moves it', async () => {
      await oldRedis.set(`${prefix}old:ws-user`, JSON.stringify({ cookie: { originalMaxAge: 3_600_000, expires: new Date(Date.now() + 3_600_000) }, userId: 5 }), { EX: 3_600 });
      const oldCookie = `connect.sid=${encodeURIComponent(`s:${sign('ws-user', LEGACY_SECRET)}`)}`;
      const socket = await connectSocket(platform, base, oldCookie);
      sockets.push(socket);
      expect(await socket.send('whoami')).toMatchObject({ event: 'exception' });
      expect(legacy.reads).not.toContain('ws-user');
      expect(await oldRedis.exists(`${prefix}old:ws-user`)).toBe(1);

      const browser = new Client(base);
      browser.cookieHeader = oldCookie;
      const me = await browser.get('/me');
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ userId: 5 });
      expect(await oldRedis.exists(`${prefix}old:ws-user`)).toBe(0);
      const moved = await connectSocket(platform, base, `sid=${browser.jar.get('sid')!}`);
      sockets.push(moved);
      expect(await moved.send('whoami')).toEqual({ event: 'whoami', data: 5 });
    });
  });
});
