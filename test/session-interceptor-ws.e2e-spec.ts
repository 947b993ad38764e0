import type { INestApplication } from '@nestjs/common';
import type { SessionStore } from 'nestjs-sessionkit';
import { interceptedSocketApp } from './fixtures/session-interceptor-ws.fixture.js';
import { type AdapterName, adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { type SocketClient, connectSocket, socketPlatforms, useSocketPlatform } from './support/sockets.js';
import { CountingStore } from './support/stores.js';

async function stored(store: SessionStore, client: Client): Promise<Record<string, unknown> | undefined> {
  const cookie = client.jar.get('sid');
  return cookie === undefined ? undefined : (await store.get(handleOf(idOf(cookie))))?.data;
}

/** Writes that take a while, so that a save made after the reply would be seen missing. */
class SlowStore extends CountingStore {
  override async patch(...args: Parameters<CountingStore['patch']>): Promise<boolean> {
    await delay(100);
    return super.patch(...args);
  }
}

describe.each(adapters)('SessionInterceptor in WebSocket gateways (%s)', (adapter: AdapterName) => {
  describe.each(socketPlatforms)('with %s', (platform) => {
    const store = new SlowStore();
    const sockets: SocketClient[] = [];
    let app: INestApplication;
    let base: string;

    beforeAll(async () => {
      app = await startApp(interceptedSocketApp(store), adapter, { beforeInit: (a) => useSocketPlatform(a, platform) });
      base = await baseUrl(app);
    });
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.close();
    });
    afterAll(() => app.close());

    async function open(browser: Client | undefined): Promise<SocketClient> {
      const cookie = browser?.jar.get('sid');
      const socket = await connectSocket(platform, base, cookie === undefined ? undefined : `sid=${cookie}`);
      sockets.push(socket);
      return socket;
    }

    async function loggedIn(userId: number): Promise<Client> {
      const browser = new Client(base);
      expect((await browser.post('/login', { userId })).status).toBe(200);
      return browser;
    }

    it('saves what a handler changed through SessionService.current() before its reply', async () => {
      const browser = await loggedIn(31);
      const socket = await open(browser);
      expect(await socket.send('note', 'hello')).toEqual({ event: 'note', data: true });
      // Saved before the reply left, although the store takes 100 ms to write.
      expect(await stored(store, browser)).toEqual({ userId: 31, note: 'hello' });
      expect(await socket.send('count')).toEqual({ event: 'count', data: 1 });
      expect(await socket.send('count')).toEqual({ event: 'count', data: 2 });
      expect(await stored(store, browser)).toEqual({ userId: 31, note: 'hello', count: 2 });
    });

    it('writes once for a handler with @Session(), and nothing for one that never uses the session', async () => {
      const browser = await loggedIn(32);
      const socket = await open(browser);
      store.reset();
      expect(await socket.send('bump')).toEqual({ event: 'bump', data: 1 });
      expect(store.writes).toBe(1);
      expect(await stored(store, browser)).toEqual({ userId: 32, bumps: 1 });
      store.reset();
      expect(await socket.send('ping')).toEqual({ event: 'ping', data: 'pong' });
      expect(store.calls).toMatchObject({ get: 0, set: 0, patch: 0, touch: 0 });
    });

    it('with globalInterceptor: false, still saves a handler with @Session() before its reply', async () => {
      const off = await startApp(interceptedSocketApp(store, { session: { globalInterceptor: false } }), adapter, { beforeInit: (a) => useSocketPlatform(a, platform) });
      try {
        const offBase = await baseUrl(off);
        const browser = new Client(offBase);
        expect((await browser.post('/login', { userId: 33 })).status).toBe(200);
        const cookie = browser.jar.get('sid')!;
        const socket = await connectSocket(platform, offBase, `sid=${cookie}`);
        sockets.push(socket);
        expect(await socket.send('bump')).toEqual({ event: 'bump', data: 1 });
        expect(await stored(store, browser)).toEqual({ userId: 33, bumps: 1 });
        // Without the interceptor a handler reaching the session through the service has none.
        const refused = await socket.send('note', 'lost');
        expect(refused.event).toBe('exception');
        expect(await stored(store, browser)).toEqual({ userId: 33, bumps: 1 });
      } finally {
        await off.close();
      }
    });

    it('cannot create a session from a socket', async () => {
      const size = store.size;
      const socket = await open(undefined);
      const refused = await socket.send('note', 'nobody');
      expect(refused.event).toBe('exception');
      expect((refused.data as { message: string }).message).toMatch(/cannot start a session: log in over HTTP/);
      expect(store.size).toBe(size);
    });
  });
});
