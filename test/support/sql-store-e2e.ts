import { type INestApplication, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { SessionModule, type SessionStore } from 'nestjs-sessionkit';
import { RedisAppController } from '../fixtures/redis-app.fixture.js';
import { type AdapterName, SECRET, baseUrl, delay, startApp } from './app.js';
import { Client } from './client.js';

/**
 * An app with its own database module, as a user writes it (one pool, from `newPool`, ended on shutdown),
 * and its store built from that module's pool the documented way, with `forRootAsync`. (Nest runs every
 * beforeApplicationShutdown hook, where SessionModule stops its cleanup timer, before the pool is ended.)
 */
export function sqlSessionApp<P extends { end(): Promise<void> }>(newPool: () => P, newStore: (pool: P) => SessionStore): new () => unknown {
  @Injectable()
  class Database implements OnApplicationShutdown {
    readonly pool = newPool();
    async onApplicationShutdown(): Promise<void> {
      await this.pool.end();
    }
  }

  @Module({ providers: [Database], exports: [Database] })
  class DatabaseModule {}

  @Module({
    imports: [
      SessionModule.forRootAsync({
        imports: [DatabaseModule],
        inject: [Database],
        useFactory: (db: Database) => ({ secret: SECRET, cookie: { secure: false }, store: newStore(db.pool) }),
      }),
    ],
    controllers: [RedisAppController],
  })
  class SqlAppModule {}
  return SqlAppModule;
}

/** A stored row as the SQL stores keep it: the session's data (or a forwarding row's new handle) and its user key. */
export interface StoredRow {
  data: Record<string, unknown> | string;
  user_key: string | null;
}

/** What the shared suite needs to know about one SQL store. */
export interface SqlStoreE2e {
  /** An app module with its own pool, its store built on the suite's table or schema (see `RedisAppController`). */
  appModule(): new () => unknown;
  /** The row stored under `handle`, read past the store, or `undefined`. */
  rowOf(handle: string): Promise<StoredRow | undefined>;
  /** Runs once both apps are closed: drops the suite's tables and ends its own pools. */
  cleanUp(): Promise<void>;
}

/** The two running instances, filled in by the suite's `beforeAll`. */
export interface TwoInstances {
  baseA: string;
  baseB: string;
  /** Logs `userId` in on `base` (A by default) and returns the client and the new session's handle. */
  loggedIn(base?: string, userId?: number | string): Promise<{ client: Client; handle: string }>;
}

/**
 * Declares, inside a `describe`, the tests every SQL store passes with two app instances sharing it:
 * login, reads and changes across instances, parallel changes and increments, a logout during a slow
 * request, and listing and revoking a user's sessions. Starts both apps; the spec keeps its
 * store-specific tests and can use the returned instances in them.
 */
export function sqlStoreTwoInstanceTests(adapter: AdapterName, store: SqlStoreE2e): TwoInstances {
  let appA: INestApplication | undefined;
  let appB: INestApplication | undefined;
  const instances: TwoInstances = {
    baseA: '',
    baseB: '',
    async loggedIn(base = instances.baseA, userId = 1) {
      const client = new Client(base);
      const login = await client.post('/login', { userId });
      expect(login.status).toBe(200);
      return { client, handle: (login.body as { handle: string }).handle };
    },
  };
  const rowOf = (handle: string): Promise<StoredRow | undefined> => store.rowOf(handle);
  const loggedIn = instances.loggedIn;

  beforeAll(async () => {
    appA = await startApp(store.appModule(), adapter);
    appB = await startApp(store.appModule(), adapter);
    instances.baseA = await baseUrl(appA);
    instances.baseB = await baseUrl(appB);
  });
  afterAll(async () => {
    try {
      await appA?.close();
      await appB?.close();
    } finally {
      await store.cleanUp();
    }
  });

  it('created the table at startup; logs in on A, reads and changes on B, logs out on B', async () => {
    const { client, handle } = await loggedIn(instances.baseA, 42);
    expect(await rowOf(handle)).toEqual({ data: { userId: 42 }, user_key: '42' });
    const onB = new Client(instances.baseB);
    onB.jar.set('sid', client.jar.get('sid')!);
    expect((await onB.get('/me')).body).toEqual({ userId: 42 });
    expect((await onB.post('/set/theme', { value: 'dark' })).status).toBe(200);
    expect(await rowOf(handle)).toEqual({ data: { userId: 42, theme: 'dark' }, user_key: '42' });
    expect((await client.get('/data')).body).toEqual({ userId: 42, theme: 'dark' });
    expect((await onB.post('/logout')).status).toBe(200);
    expect(await rowOf(handle)).toBeUndefined();
    expect((await client.get('/me')).status).toBe(401);
  });

  it('keeps every key of 50 parallel requests and every one of 50 parallel increments, across two instances', async () => {
    const { client, handle } = await loggedIn();
    const other = new Client(instances.baseB);
    other.jar.set('sid', client.jar.get('sid')!);
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? client : other).post(`/set/k${i}`, { value: i })).concat(
        Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? other : client).post('/increment/n')),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(100).fill(200));
    const data = (await rowOf(handle))!.data as Record<string, unknown>;
    for (let i = 0; i < 50; i++) expect(data[`k${i}`]).toBe(i);
    expect(data.n).toBe(50);
    expect(data.userId).toBe(1);
  });

  it('does not bring back a session logged out while a slow request was running', async () => {
    const { client, handle } = await loggedIn();
    const cookie = client.jar.get('sid')!;
    const slow = client.post('/slow/late?ms=400');
    await delay(100);
    const other = new Client(instances.baseB);
    other.jar.set('sid', cookie);
    expect((await other.post('/logout')).status).toBe(200);
    expect((await slow).status).toBe(200);
    expect(await rowOf(handle)).toBeUndefined();
    const again = new Client(instances.baseA);
    again.jar.set('sid', cookie);
    expect((await again.get('/data')).body).toEqual({});
  });

  it('lists a user’s sessions and revokes the others', async () => {
    const first = await loggedIn(instances.baseA, 'listed-user');
    const second = await loggedIn(instances.baseB, 'listed-user');
    const list = await first.client.get('/sessions');
    expect((list.body as { handle: string; current: boolean }[]).map((s) => [s.handle, s.current]).sort()).toEqual(
      [
        [first.handle, true],
        [second.handle, false],
      ].sort(),
    );
    expect((await first.client.post('/logout-others')).body).toEqual({ destroyed: 1 });
    expect(await rowOf(second.handle)).toBeUndefined();
    expect(await rowOf(first.handle)).toEqual({ data: { userId: 'listed-user' }, user_key: 'listed-user' });
    expect((await second.client.get('/me')).status).toBe(401);
  });

  return instances;
}
