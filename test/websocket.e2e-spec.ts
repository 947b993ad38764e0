import type { INestApplication } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { CookieStore, RedisStore, type SessionStore } from 'nestjs-sessionkit';
import { websocketApp } from './fixtures/websocket.fixture.js';
import { type AdapterName, SECRET, adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf, randomId, signedValue } from './support/cookies.js';
import { deleteKeys, newRedis, testPrefix } from './support/redis.js';
import { type SocketClient, type SocketPlatform, connectSocket, socketPlatforms, useSocketPlatform } from './support/sockets.js';
import { CountingStore } from './support/stores.js';

/** Writes that take a while, so that a save made after the reply would be seen missing. */
class SlowStore extends CountingStore {
  writeDelayMs = 0;

  override async patch(...args: Parameters<CountingStore['patch']>): Promise<boolean> {
    await delay(this.writeDelayMs);
    return super.patch(...args);
  }
}

const LOGIN_FIRST = { status: 'error', message: 'Log in first: this route needs a session.' };

function start(store: SessionStore, adapter: AdapterName, platform: SocketPlatform, options = {}): Promise<INestApplication> {
  return startApp(websocketApp(store, options), adapter, { beforeInit: (app) => useSocketPlatform(app, platform) });
}

/** A browser: logs in over HTTP, then opens sockets with its cookie. */
async function loggedIn(base: string, userId: number): Promise<Client> {
  const client = new Client(base);
  expect((await client.post('/login', { userId })).status).toBe(200);
  return client;
}

function cookieOf(client: Client): string {
  return `sid=${client.jar.get('sid')!}`;
}

async function stored(store: SessionStore, client: Client): Promise<Record<string, unknown> | undefined> {
  return (await store.get(handleOf(idOf(client.jar.get('sid')!))))?.data;
}

describe.each(adapters)('WebSocket gateways (%s)', (adapter) => {
  describe.each(socketPlatforms)('with %s', (platform) => {
    describe.each(['memory', 'redis'] as const)('on %s', (storeName) => {
      let app: INestApplication;
      let base: string;
      let store: SessionStore;
      let redis: Redis | undefined;
      const sockets: SocketClient[] = [];
      const prefix = testPrefix(`ws-${adapter}-${platform}`);

      beforeAll(async () => {
        if (storeName === 'redis') redis = newRedis();
        store = redis ? new RedisStore({ client: redis, prefix }) : new SlowStore();
        app = await start(store, adapter, platform);
        base = await baseUrl(app);
      });
      afterEach(() => {
        for (const socket of sockets.splice(0)) socket.close();
      });
      afterAll(async () => {
        await app.close();
        if (redis) {
          await deleteKeys(redis, prefix);
          redis.disconnect();
        }
      });

      async function open(cookie: string | undefined, path?: string): Promise<SocketClient> {
        const socket = await connectSocket(platform, base, cookie, path);
        sockets.push(socket);
        return socket;
      }

      it('uses the HTTP login, saves changes before replying, and sees an HTTP logout at the next message', async () => {
        const browser = await loggedIn(base, 7);
        const socket = await open(cookieOf(browser));
        expect(await socket.send('whoami')).toEqual({ event: 'whoami', data: 7 });

        if (store instanceof SlowStore) store.writeDelayMs = 100;
        expect(await socket.send('bump')).toEqual({ event: 'bump', data: 1 });
        // Saved before the reply left: the store has it as soon as the reply is here.
        expect(await stored(store, browser)).toEqual({ userId: 7, count: 1 });
        expect(await socket.send('bump')).toEqual({ event: 'bump', data: 2 });
        expect(await stored(store, browser)).toEqual({ userId: 7, count: 2 });
        if (store instanceof SlowStore) store.writeDelayMs = 0;
        // A change made over HTTP is seen by the open socket's next message.
        expect((await browser.get('/me')).body).toEqual({ userId: 7, count: 2 });

        const cookie = browser.jar.get('sid')!;
        await browser.post('/logout');
        expect(await store.get(handleOf(idOf(cookie)))).toBeUndefined();
        expect(await socket.send('whoami')).toMatchObject({ event: 'exception', data: LOGIN_FIRST });
      });

      it('guards a whole gateway class', async () => {
        expect(await (await open(undefined, '/guarded')).send('secret')).toMatchObject({ event: 'exception', data: LOGIN_FIRST });
        const browser = await loggedIn(base, 8);
        expect(await (await open(cookieOf(browser), '/guarded')).send('secret')).toEqual({ event: 'secret', data: 'for members' });
      });

      if (storeName === 'redis') return;
      const counting = () => store as CountingStore;

      it('ends the session of an open socket when the app destroys the user’s sessions', async () => {
        const browser = await loggedIn(base, 11);
        const socket = await open(cookieOf(browser));
        expect(await socket.send('whoami')).toEqual({ event: 'whoami', data: 11 });
        expect((await new Client(base).post('/kick/11')).body).toEqual({ destroyed: 1 });
        expect(await stored(store, browser)).toBeUndefined();
        expect(await socket.send('whoami')).toMatchObject({ event: 'exception', data: LOGIN_FIRST });
      });

      it('logs out over the socket', async () => {
        const browser = await loggedIn(base, 12);
        const socket = await open(cookieOf(browser));
        expect(await socket.send('logout')).toEqual({ event: 'logout', data: true });
        expect(await stored(store, browser)).toBeUndefined();
        expect(await socket.send('whoami')).toMatchObject({ event: 'exception', data: LOGIN_FIRST });
        expect((await browser.get('/me')).status).toBe(401);
      });

      it('cannot create a session: a change without one is refused and nothing is stored', async () => {
        const size = counting().size;
        counting().reset();
        const socket = await open(undefined);
        const refused = await socket.send('remember', 'hello');
        expect(refused.event).toBe('exception');
        expect((refused.data as { message: string }).message).toMatch(/cannot start a session: log in over HTTP/);
        expect(counting().size).toBe(size);
        expect(counting().calls.set).toBe(0);

        // Likewise once the socket's session has ended.
        const browser = await loggedIn(base, 13);
        const late = await open(cookieOf(browser));
        await browser.post('/logout');
        counting().reset();
        expect((await late.send('bump')).event).toBe('exception');
        expect(counting().writes).toBe(0);
      });

      it('ignores a wrongly signed cookie without a store lookup, and never adopts an unknown id', async () => {
        const browser = await loggedIn(base, 14);
        const [id] = browser.jar.get('sid')!.split('.');
        counting().reset();
        const forged = await open(`sid=${id}.${'A'.repeat(43)}`);
        expect(await forged.send('whoami')).toMatchObject({ event: 'exception', data: LOGIN_FIRST });
        expect(counting().calls.get).toBe(0);

        const unknown = randomId();
        const stranger = await open(`sid=${signedValue(unknown, SECRET)}`);
        expect((await stranger.send('remember', 'x')).event).toBe('exception');
        expect(await store.get(handleOf(unknown))).toBeUndefined();
      });

      it('saves the changes of a handler that throws, as over HTTP', async () => {
        const browser = await loggedIn(base, 15);
        const socket = await open(cookieOf(browser));
        expect(await socket.send('fail')).toMatchObject({ event: 'exception', data: { status: 'error', message: 'Internal server error' } });
        expect(await stored(store, browser)).toEqual({ userId: 15, failed: true });
      });

      it('reports a store failure as a WsException and changes nothing', async () => {
        const browser = await loggedIn(base, 16);
        const socket = await open(cookieOf(browser));
        counting().failReads = true;
        try {
          const answer = await socket.send('bump');
          expect(answer).toMatchObject({ event: 'exception', data: { status: 'error' } });
          expect((answer.data as { message: string }).message).toMatch(/session store could not load/);
        } finally {
          counting().failReads = false;
        }
        counting().failWrites = true;
        try {
          const answer = await socket.send('bump');
          expect((answer.data as { message: string }).message).toMatch(/session store could not save/);
        } finally {
          counting().failWrites = false;
        }
        expect(await stored(store, browser)).toEqual({ userId: 16 });
      });
    });

    it('refuses the next message once the session expired', async () => {
      const store = new CountingStore();
      const app = await start(store, adapter, platform, { idleTimeout: 400, touchInterval: 100 });
      try {
        const base = await baseUrl(app);
        const browser = await loggedIn(base, 21);
        const socket = await connectSocket(platform, base, cookieOf(browser));
        try {
          expect(await socket.send('whoami')).toEqual({ event: 'whoami', data: 21 });
          // Messages keep the session alive, as requests do.
          for (let i = 0; i < 3; i++) {
            await delay(200);
            expect(await socket.send('whoami')).toEqual({ event: 'whoami', data: 21 });
          }
          await delay(500);
          expect(await socket.send('whoami')).toMatchObject({ event: 'exception', data: LOGIN_FIRST });
        } finally {
          socket.close();
        }
      } finally {
        await app.close();
      }
    });
  });
});

describe.each(adapters)('WebSocket gateways with CookieStore (%s)', (adapter) => {
  describe.each(socketPlatforms)('with %s', (platform) => {
    let app: INestApplication;
    let base: string;
    const sockets: SocketClient[] = [];

    beforeAll(async () => {
      app = await start(new CookieStore(), adapter, platform);
      base = await baseUrl(app);
    });
    afterAll(async () => {
      for (const socket of sockets.splice(0)) socket.close();
      await app.close();
    });

    it('reads the session sealed in the handshake cookie, and refuses changes a socket cannot save', async () => {
      const browser = await loggedIn(base, 21);
      const socket = await connectSocket(platform, base, cookieOf(browser));
      sockets.push(socket);
      expect(await socket.send('whoami')).toEqual({ event: 'whoami', data: 21 });
      const refused = await socket.send('bump');
      expect(refused.event).toBe('exception');
      expect((refused.data as { message: string }).message).toMatch(/CookieStore keeps the session in its cookie, which a socket cannot send/);
      // The session is as the HTTP login left it, and reading still works.
      expect((await browser.get('/me')).body).toEqual({ userId: 21 });
      expect(await socket.send('whoami')).toEqual({ event: 'whoami', data: 21 });
    });
  });
});
