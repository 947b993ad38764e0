import type { INestApplication } from '@nestjs/common';
import { SessionService } from 'nestjs-sessionkit';
import { gate, hardeningApp } from './fixtures/hardening.fixture.js';
import { adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { setCookieValue } from './support/cookies.js';
import { type TestStore, storeKinds, testStore } from './support/store-matrix.js';

const TRIALS = 200;
const BATCH = 20;

describe.each(adapters)('a session destroyed while a login regenerates it stays destroyed (%s)', (adapter) => {
  describe.each(storeKinds)('%s', (kind) => {
    let store: TestStore;
    let app: INestApplication;
    let base: string;
    let sessions: SessionService;

    beforeAll(async () => {
      store = testStore(kind, `race-${adapter}`);
      app = await startApp(hardeningApp(store.store), adapter);
      base = await baseUrl(app);
      sessions = app.get(SessionService);
    });
    afterAll(async () => {
      await app.close();
      await store.close();
    });

    /**
     * One trial: a user logs in and starts a slow step-up login, which is held (just before
     * regenerate(), or just after it) until `revoke`, sent 0 to 30 ms after the login's handler
     * started, has logged the user out. The holds make the order certain however loaded the
     * machine is.
     * Returns what went wrong, or nothing.
     */
    async function trial(n: number, revoke: (client: Client, user: string) => Promise<unknown>): Promise<string | undefined> {
      const user = `race-${adapter}-${kind}-${n}-${Math.random()}`;
      const client = new Client(base);
      if ((await client.post('/login', { userId: user })).status !== 200) return 'login failed';
      const slow = new Client(base);
      slow.jar.set('sid', client.jar.get('sid')!);
      const name = `${user}-gate`;
      const pending = slow.post(`/relogin?gate=${encodeURIComponent(name)}&phase=${n % 2 === 0 ? 'before' : 'after'}`);
      await gate(`${name}:loaded`).promise;
      await delay(Math.floor(Math.random() * 31));
      await revoke(client, user);
      gate(name).open();
      const reply = await pending;
      if (reply.status !== 200) return `relogin answered ${reply.status}`;
      if (!(reply.body as { loadedExisting: boolean }).loadedExisting) return 'the relogin did not load the logged-in session';
      const listed = await sessions.listByUser(user);
      if (listed.length > 0) return `${listed.length} session(s) still listed for the user`;
      const newHandle = (reply.body as { handle: string }).handle;
      if ((await store.store.get(newHandle)) !== undefined) return 'a record exists under the new id';
      if ((setCookieValue(reply.setCookies) ?? '') !== '') return 'the relogin handed out a live cookie';
      if ((await slow.get('/me')).status !== 401) return 'the relogin client is logged in';
      if ((await client.get('/me')).status !== 401) return 'the old cookie still works';
      return undefined;
    }

    async function run(revoke: (client: Client, user: string) => Promise<unknown>): Promise<string[]> {
      const failures: string[] = [];
      for (let start = 0; start < TRIALS; start += BATCH) {
        const results = await Promise.all(Array.from({ length: BATCH }, (_, i) => trial(start + i, revoke)));
        for (const r of results) if (r !== undefined) failures.push(r);
      }
      return failures;
    }

    it(`POST /logout: ${TRIALS} trials, none logged in again`, async () => {
      expect(await run((client) => client.post('/logout'))).toEqual([]);
    });

    it(`SessionService.destroyByUser: ${TRIALS} trials, none logged in again`, async () => {
      expect(await run((_, user) => new Client(base).post('/logout-everywhere', { userId: user }))).toEqual([]);
    });

    it('without a logout, the slow login moves the session to a new id and keeps its data', async () => {
      const user = `race-ok-${adapter}-${kind}`;
      const client = new Client(base);
      const login = await client.post('/login', { userId: user });
      const oldHandle = (login.body as { handle: string }).handle;
      const reply = await client.post('/relogin?ms=1');
      const newHandle = (reply.body as { handle: string }).handle;
      expect(newHandle).not.toBe(oldHandle);
      expect(await store.store.get(oldHandle)).toBeUndefined();
      expect((await store.store.get(newHandle))?.data).toEqual({ userId: user, x: 1 });
      expect((await sessions.listByUser(user)).map((s) => s.handle)).toEqual([newHandle]);
      expect((await client.get('/me')).body).toEqual({ userId: user, x: 1 });
    });
  });
});
