import type { INestApplication } from '@nestjs/common';
import { SESSION_STORE, SessionModule } from 'nestjs-sessionkit';
import {
  AppConfig,
  AppConfigModule,
  BackendStore,
  CONFIG_SECRET,
  StoreBackend,
  StoreInspector,
  asyncOptionsApp,
  configurations,
} from './fixtures/async-options.fixture.js';
import { adapters, baseUrl, startApp, startupError } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf, signedValue } from './support/cookies.js';

describe.each(adapters)('module configuration (%s)', (adapter) => {
  describe.each(Object.keys(configurations))('%s', (name) => {
    let app: INestApplication;
    let base: string;

    beforeAll(async () => {
      app = await startApp(asyncOptionsApp(configurations[name]!()), adapter);
      base = await baseUrl(app);
    });
    afterAll(() => app.close());

    it('signs with the configured secret and keeps sessions in the injected store class', async () => {
      const client = new Client(base);
      const res = await client.post('/set', { value: 'configured' });
      expect(res.status).toBe(200);
      const cookie = client.jar.get('sid')!;
      expect(cookie).toBe(signedValue(idOf(cookie), CONFIG_SECRET));
      expect((await client.get('/peek')).body).toEqual({ isNew: false, value: 'configured' });

      const store = app.get(SESSION_STORE);
      expect(store).toBeInstanceOf(BackendStore);
      // The store got the global module's provider, and that is where the session is.
      const backend = app.get(StoreBackend);
      expect((store as BackendStore).backend).toBe(backend);
      const handle = handleOf(idOf(cookie));
      expect((res.body as { handle: string }).handle).toBe(handle);
      expect((await backend.memory.get(handle))?.data).toEqual({ value: 'configured' });
    });

    it('injects the very store the module uses with @Inject(SESSION_STORE)', async () => {
      const client = new Client(base);
      const res = await client.post('/set', { value: 'seen by the service' });
      const handle = (res.body as { handle: string }).handle;
      expect(app.get(StoreInspector).store).toBe(app.get(SESSION_STORE));
      expect((await client.get(`/inspect/${handle}`)).body).toEqual({ data: { value: 'seen by the service' } });
    });

    it('closes the store class it built on shutdown', async () => {
      const other = await startApp(asyncOptionsApp(configurations[name]!()), adapter);
      const backend = other.get(StoreBackend);
      const openBefore = !backend.closed;
      await other.close();
      expect(openBefore).toBe(true);
      expect(backend.closed).toBe(true);
    });
  });

  it('fails at startup when the factory gives a bad secret', async () => {
    const bad = SessionModule.forRootAsync({
      imports: [AppConfigModule],
      inject: [AppConfig],
      useFactory: () => ({ secret: 'short' }),
    });
    expect((await startupError(asyncOptionsApp(bad), adapter)).message).toMatch(/secret is too short: 5 bytes, at least 32 are needed/);
  });
});
