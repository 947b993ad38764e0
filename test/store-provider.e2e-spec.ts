import { Global, type INestApplication, Module } from '@nestjs/common';
import { MemoryStore, SESSION_STORE, SessionModule, type SessionStore } from 'nestjs-sessionkit';
import { DbModule, SessionTable, TableStore, options, storeProviderApp } from './fixtures/store-provider.fixture.js';
import { adapters, baseUrl, delay, startApp, startupError } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';

/** The ways to give SessionModule a store with dependencies of the app's own. */
const ways = {
  'forRootAsync({ imports, inject, useFactory }) returning an instance': () =>
    storeProviderApp(SessionModule.forRootAsync({ imports: [DbModule], inject: [SessionTable], useFactory: (table: SessionTable) => options(new TableStore(table)) })),
  'forRootAsync({ imports, useFactory }) returning a class': () => storeProviderApp(SessionModule.forRootAsync({ imports: [DbModule], useFactory: () => options(TableStore) })),
  'forRoot({ store: Class }) with its dependency from a global module': () => {
    @Global()
    @Module({ providers: [SessionTable], exports: [SessionTable] })
    class GlobalDbModule {}
    return storeProviderApp(SessionModule.forRoot(options(TableStore)), { imports: [GlobalDbModule] });
  },
};

describe.each(adapters)('giving SessionModule a store (%s)', (adapter) => {
  describe.each(Object.keys(ways) as (keyof typeof ways)[])('%s', (way) => {
    let app: INestApplication;
    let base: string;
    beforeAll(async () => {
      app = await startApp(ways[way](), adapter);
      base = await baseUrl(app);
    });
    afterAll(() => app.close());

    it('keeps sessions in that store, the one @Inject(SESSION_STORE) gives, without patch, touch or listByUser', async () => {
      const client = new Client(base);
      const login = await client.post('/login');
      expect(login.status).toBe(200);
      const handle = handleOf(idOf(client.jar.get('sid')!));
      const store = app.get(SESSION_STORE) as SessionStore;
      expect(store).toBeInstanceOf(TableStore);
      const table = app.get(SessionTable, { strict: false });
      expect((store as TableStore).table).toBe(table);
      expect(table.rows.get(handle)?.record.data).toEqual({ userId: 5 });

      // Without patch the core writes whole records with set: changes still reach the store.
      expect((await client.post('/count')).body).toEqual({ n: 1 });
      expect((await client.post('/count')).body).toEqual({ n: 2 });
      expect(table.rows.get(handle)?.record.data).toEqual({ userId: 5, n: 2 });
      expect((await client.get('/data')).body).toEqual({ userId: 5, n: 2 });

      // Without listByUser, SessionService.listByUser fails loudly rather than answering [].
      expect((await client.get('/sessions')).status).toBe(500);

      expect((await client.post('/logout')).status).toBe(200);
      expect(table.rows.has(handle)).toBe(false);
      expect((await client.get('/data')).body).toEqual({});
    });
  });

  it('fails at startup when the app module provides SESSION_STORE itself, naming the supported ways', async () => {
    const app = storeProviderApp(SessionModule.forRoot(options(undefined)), { imports: [DbModule], providers: [{ provide: SESSION_STORE, useClass: TableStore }] });
    const error = await startupError(app, adapter);
    expect(error.message).toMatch(/StoreProviderAppModule provides SESSION_STORE \(TableStore\), but sessions would not use it/);
    expect(error.message).toMatch(/SessionModule\.forRoot\(\{ secret, store: MyStore \}\)/);
    expect(error.message).toMatch(/SessionModule\.forRootAsync\(\{ imports: \[DbModule\], inject: \[Pool\], useFactory/);
  });

  it('fails at startup when a feature module provides SESSION_STORE, also with forRootAsync', async () => {
    @Module({ providers: [{ provide: SESSION_STORE, useValue: new MemoryStore() }] })
    class FeatureModule {}
    const app = storeProviderApp(SessionModule.forRootAsync({ useFactory: () => options(undefined) }), { imports: [FeatureModule] });
    expect((await startupError(app, adapter)).message).toMatch(/FeatureModule provides SESSION_STORE, but sessions would not use it/);
  });

  it('fails at startup, with a hint, when a store class needs a provider SessionModule cannot see', async () => {
    // SessionTable is provided by the app module only: invisible from SessionModule.
    const app = storeProviderApp(SessionModule.forRoot(options(TableStore)), { providers: [SessionTable] });
    const error = await startupError(app, adapter);
    expect(error.message).toMatch(/could not build the store class TableStore/);
    expect(error.message).toMatch(/SessionTable/);
    expect(error.message).toMatch(/forRootAsync\(\{ imports: \[\.\.\.\] \}\)/);
  });
});

/** A store with the optional init() and cleanup(), recording when the module calls them. */
class UpkeepStore extends MemoryStore {
  readonly cleanupInterval: number;
  readonly calls: string[] = [];
  constructor(
    interval: number,
    private readonly failInit = false,
  ) {
    super();
    this.cleanupInterval = interval;
  }
  async init(): Promise<void> {
    this.calls.push('init');
    if (this.failInit) throw new Error('UpkeepStore: the database refused the table');
  }
  async cleanup(): Promise<number> {
    this.calls.push('cleanup');
    return 0;
  }
}

describe.each(adapters)('store upkeep driven by SessionModule (%s)', (adapter) => {
  it('awaits init() at startup and runs cleanup() every cleanupInterval until shutdown', async () => {
    const store = new UpkeepStore(40);
    const app = await startApp(storeProviderApp(SessionModule.forRoot(options(store))), adapter);
    expect(store.calls[0]).toBe('init');
    await delay(300);
    await app.close();
    const cleanups = store.calls.filter((c) => c === 'cleanup').length;
    expect(cleanups).toBeGreaterThanOrEqual(3);
    expect(cleanups).toBeLessThanOrEqual(9);
    const afterClose = store.calls.length;
    await delay(150);
    expect(store.calls.length).toBe(afterClose);
    await store.close();
  });

  it('runs no cleanup when cleanupInterval is 0', async () => {
    const store = new UpkeepStore(0);
    const app = await startApp(storeProviderApp(SessionModule.forRoot(options(store))), adapter);
    await delay(100);
    await app.close();
    expect(store.calls).toEqual(['init']);
    await store.close();
  });

  it('fails startup with the message of a failing init()', async () => {
    const store = new UpkeepStore(0, true);
    expect((await startupError(storeProviderApp(SessionModule.forRoot(options(store))), adapter)).message).toMatch(/database refused the table/);
    await store.close();
  });
});
