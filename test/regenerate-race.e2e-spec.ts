import type { INestApplication } from '@nestjs/common';
import { SessionService } from 'nestjs-sessionkit';
import { gate, hardeningApp } from './fixtures/hardening.fixture.js';
import { adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { setCookieValue } from './support/cookies.js';
import { type TestStore, serverStoreKinds, testStore } from './support/store-matrix.js';

const TRIALS = 200;
const BATCH = 20;
/** Trials of the timing (a real 60 ms login and a revoke sent 55 to 95 ms after it started). */
const TIMED_TRIALS = 300;
const TIMED_BATCH = 50;

describe.each(adapters)('a session destroyed while a login regenerates it stays destroyed (%s)', (adapter) => {
  describe.each(serverStoreKinds)('%s', (kind) => {
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

    /**
     * One trial at the timing, no holds: a login whose handler takes 60 ms before it
     * regenerates, and `revoke` sent `from` to `from + spread` ms after it. Some revokes land
     * before the move, some while the store moves the session, some after it committed; the user
     * must end up logged out whichever it was. Returns what went wrong, or nothing.
     */
    async function timedTrial(n: number, from: number, spread: number, revoke: (client: Client, user: string) => Promise<unknown>): Promise<string | undefined> {
      const user = `timed-${adapter}-${kind}-${n}-${Math.random()}`;
      const client = new Client(base);
      if ((await client.post('/login', { userId: user })).status !== 200) return 'login failed';
      // Like a browser: one cookie jar, each response's Set-Cookie applied as it arrives.
      const pending = client.post('/relogin?ms=60');
      await delay(from + Math.random() * spread);
      const [reply] = await Promise.all([pending, revoke(client, user)]);
      if (reply.status !== 200) return `relogin answered ${reply.status}`;
      const newHandle = (reply.body as { handle: string }).handle;
      // A revoke that beat the login's load leaves it a fresh, anonymous session to regenerate.
      const record = await store.store.get(newHandle);
      if (record !== undefined && (record.data.userId !== undefined || record.user !== undefined)) return 'the session lives on under the new id';
      const listed = await sessions.listByUser(user);
      if (listed.length > 0) return `${listed.length} session(s) still listed for the user`;
      if ((await client.get('/me')).status !== 401) return 'the browser is still logged in';
      return undefined;
    }

    async function runTimed(from: number, spread: number, revoke: (client: Client, user: string) => Promise<unknown>): Promise<string[]> {
      const failures: string[] = [];
      for (let start = 0; start < TIMED_TRIALS; start += TIMED_BATCH) {
        const results = await Promise.all(Array.from({ length: TIMED_BATCH }, (_, i) => timedTrial(start + i, from, spread, revoke)));
        for (const r of results) if (r !== undefined) failures.push(r);
      }
      return failures;
    }

    it(`SessionService.destroyByUser 55-75 ms into a 60 ms login: ${TIMED_TRIALS} trials, none logged in`, async () => {
      expect(await runTimed(55, 20, (_, user) => new Client(base).post('/logout-everywhere', { userId: user }))).toEqual([]);
    });

    it(`POST /logout with the pre-login cookie, 55-95 ms into a 60 ms login: ${TIMED_TRIALS} trials, none logged in`, async () => {
      expect(await runTimed(55, 40, (client) => client.post('/logout'))).toEqual([]);
    });

    it('a logout with a cookie whose session is gone still clears the cookie', async () => {
      const client = new Client(base);
      await client.post('/login', { userId: `gone-${adapter}-${kind}` });
      const cookie = client.jar.get('sid')!;
      await client.post('/logout');
      client.jar.set('sid', cookie);
      const reply = await client.post('/logout');
      expect(reply.setCookies.some((c) => c.startsWith('sid=;') && /Max-Age=0/i.test(c))).toBe(true);
      expect(client.jar.has('sid')).toBe(false);
      // A cookie that names no session at all (its signature does not verify) is cleared too.
      client.jar.set('sid', `${cookie.slice(0, -2)}xx`);
      expect((await client.post('/logout')).setCookies.some((c) => c.startsWith('sid=;') && /Max-Age=0/i.test(c))).toBe(true);
      // A request without a session cookie gets none to clear.
      expect((await new Client(base).post('/logout')).setCookies).toEqual([]);
    });

    it('an old cookie reads nothing of the moved session', async () => {
      const client = new Client(base);
      const user = `fwd-${adapter}-${kind}`;
      await client.post('/login', { userId: user });
      const old = client.jar.get('sid')!;
      const reply = await client.post('/relogin?ms=1');
      const newHandle = (reply.body as { handle: string }).handle;
      const stale = new Client(base);
      stale.jar.set('sid', old);
      expect((await stale.get('/peek')).body).toEqual({ isNew: true, userId: null, data: {} });
      expect((await store.store.get(newHandle))?.data).toEqual({ userId: user, x: 1 });
      expect(store.store.forwardingTtl).toBe(10_000);
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
