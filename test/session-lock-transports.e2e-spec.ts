import type { INestApplication } from '@nestjs/common';
import { CookieStore, type SessionRecord, type SessionStore } from 'nestjs-sessionkit';
import { Controller, Module, Post, type Type } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import { SessionLock, SessionModule } from 'nestjs-sessionkit';
import { SECRET, adapters, baseUrl, startApp, startupError } from './support/app.js';
import { Client } from './support/client.js';
import { loadMercuriusUnderJest } from './support/mercurius.js';
import { connectSocket, socketPlatforms, useSocketPlatform } from './support/sockets.js';
import { CountingStore } from './support/stores.js';

await loadMercuriusUnderJest();
const { sessionLockTransportsApp } = await import('./fixtures/session-lock-transports.fixture.js');

const ROUNDS = 20;

describe.each(adapters)('@SessionLock() on GraphQL resolvers and WebSocket handlers (%s)', (adapter) => {
  describe.each(socketPlatforms)('sockets on %s', (platform) => {
    let app: INestApplication;
    let base: string;
    let store: CountingStore;

    beforeAll(async () => {
      store = new CountingStore();
      app = await startApp(sessionLockTransportsApp(adapter, store), adapter, { beforeInit: (a) => useSocketPlatform(a, platform) });
      base = await baseUrl(app);
    });
    afterAll(() => app?.close());

    async function start(): Promise<{ client: Client; handle: string }> {
      const client = new Client(base);
      return { client, handle: ((await client.post('/start')).body as { handle: string }).handle };
    }

    it('serializes mutations of one session: parallel operations lose no item', async () => {
      const { client, handle } = await start();
      const replies = await Promise.all(
        Array.from({ length: ROUNDS }, (_, i) => client.post('/graphql', { query: `mutation { addItem(item: "g${i}") }` })),
      );
      expect(replies.every((r) => r.status === 200 && (r.body as { errors?: unknown }).errors === undefined)).toBe(true);
      const cart = (await store.get(handle))!.data.cart as string[];
      expect(cart.sort()).toEqual(Array.from({ length: ROUNDS }, (_, i) => `g${i}`).sort());
    });

    it('a mutation that waited past waitMs is a GraphQL error with status 409, and changes nothing', async () => {
      const { client, handle } = await start();
      const slow = client.post('/graphql', { query: 'mutation { addQuickly(item: "slow", ms: 400) }' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const busy = await client.post('/graphql', { query: 'mutation { addQuickly(item: "late", ms: 0) }' });
      const errors = (busy.body as { errors?: { message: string; extensions?: { status?: number; code?: string } }[] }).errors;
      // Apollo puts its own code beside the status; Mercurius keeps ours.
      expect(errors?.[0]).toMatchObject({ message: expect.stringMatching(/session is busy/), extensions: { status: 409, ...(adapter === 'fastify' ? { code: 'CONFLICT' } : {}) } });
      expect((await store.get(handle))!.data.cart).toEqual([]);
      await slow;
      expect((await store.get(handle))!.data.cart).toEqual(['slow']);
    });

    it('serializes messages of one session across sockets (a gateway-wide lock)', async () => {
      const { client, handle } = await start();
      const cookie = `sid=${client.jar.get('sid')!}`;
      const tabs = await Promise.all([connectSocket(platform, base, cookie), connectSocket(platform, base, cookie)]);
      try {
        await Promise.all(
          tabs.map(async (socket, t) => {
            for (let i = 0; i < ROUNDS / 2; i++) expect((await socket.send('add', `s${t}-${i}`)).event).toBe('add');
          }),
        );
      } finally {
        for (const socket of tabs) socket.close();
      }
      const cart = (await store.get(handle))!.data.cart as string[];
      expect(cart).toHaveLength(ROUNDS);
      // Freed after each message: an HTTP request of the session is not kept waiting.
      expect((await client.get('/cart')).body).toEqual({ cart });
    });
  });
});

@Controller()
class LockedController {
  @Post('x')
  @SessionLock()
  x() {
    return {};
  }
}

describe.each(adapters)('@SessionLock() at startup (%s)', (adapter) => {
  function appWith(store: SessionStore) {
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, store, cookie: { secure: false } })], controllers: [LockedController] })
    class LockedAppModule {}
    return LockedAppModule;
  }

  it('refuses CookieStore, saying why', async () => {
    const error = await startupError(appWith(new CookieStore()), adapter);
    expect(error.name).toBe('SessionStatelessError');
    expect(error.message).toMatch(/@SessionLock\(\) on LockedController\.x needs sessions kept on the server.*CookieStore/);
  });

  it('refuses a store without lock()', async () => {
    const inner = new CountingStore();
    const store: SessionStore = { get: (h) => inner.get(h), set: (h, r, t) => inner.set(h, r, t), destroy: (h) => inner.destroy(h) };
    const error = await startupError(appWith(store), adapter);
    expect(error.name).toBe('SessionError');
    expect(error.message).toMatch(/needs a store with a lock\(\) method, and the configured store has none/);
  });

  it('names the class of a store without lock(), though OpenTelemetry wraps the store', async () => {
    class NoLockStore implements SessionStore {
      private readonly inner = new CountingStore();
      get(handle: string) {
        return this.inner.get(handle);
      }
      set(handle: string, record: SessionRecord, ttlMs: number) {
        return this.inner.set(handle, record, ttlMs);
      }
      destroy(handle: string) {
        return this.inner.destroy(handle);
      }
    }
    const error = await startupError(appWith(new NoLockStore()), adapter);
    expect(error.message).toMatch(/needs a store with a lock\(\) method, and NoLockStore has none/);
  });

  it('refuses bad lock options', async () => {
    expect(() => SessionLock({ waitMs: -1 })).toThrow(/@SessionLock\(\): waitMs must be a number of milliseconds/);
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, lock: { ttlMs: 0 } })] })
    class BadOptionsModule {}
    const error = await startupError(BadOptionsModule, adapter);
    expect(error.message).toMatch(/SessionModule: lock: ttlMs must be a number of milliseconds/);
  });
});

@Controller()
class UnlockedController {
  @Post('x')
  x() {
    return {};
  }
}

describe.each(adapters)('the global lock guard (%s)', (adapter) => {
  // Nest runs every global guard on every route: an app without @SessionLock() should have none of ours.
  async function globalGuardsOf(controller: Type<unknown>): Promise<string[]> {
    @Module({ imports: [SessionModule.forRoot({ secret: SECRET, cookie: { secure: false } })], controllers: [controller] })
    class GuardAppModule {}
    const app = await startApp(GuardAppModule, adapter);
    try {
      return app.get(ApplicationConfig).getGlobalGuards().filter((guard) => guard != null).map((guard) => guard.constructor.name);
    } finally {
      await app.close();
    }
  }

  it('is registered in an app with a @SessionLock() handler', async () => {
    expect(await globalGuardsOf(LockedController)).toEqual(['SessionLockGuard']);
  });

  it('is not registered in an app without one', async () => {
    expect(await globalGuardsOf(UnlockedController)).toEqual([]);
  });
});
