import type { INestApplication } from '@nestjs/common';
import { CookieStore } from 'nestjs-sessionkit';
import { WriteCountingStore, parityApp } from './fixtures/express-session-parity.fixture.js';
import { adapters, baseUrl, delay, startApp } from './support/app.js';
import { Client, type Reply } from './support/client.js';
import { handleOf, idOf, setCookieValue } from './support/cookies.js';
import { type TestStore, storeKinds, testStore } from './support/store-matrix.js';

/** The `sid` Set-Cookie header of a reply, if any. */
const sidCookie = (res: Reply): string | undefined => res.setCookies.find((c) => c.startsWith('sid='));

/** The value of attribute `name` in a Set-Cookie header (`true` when it has no value), or undefined. */
function attribute(header: string | undefined, name: string): string | true | undefined {
  for (const part of (header ?? '').split(';').slice(1)) {
    const [key, ...value] = part.trim().split('=');
    if (key!.toLowerCase() === name.toLowerCase()) return value.length > 0 ? value.join('=') : true;
  }
  return undefined;
}

/**
 * The behaviours express-session's own test suite (test/session.js) checks for `req.session`,
 * written as express-session code, on both adapters and both stores; the README's "Coming from
 * express-session" table lists each, and the reason for every difference.
 */
describe.each(adapters)('express-session parity of req.session (%s)', (adapter) => {
  describe.each(storeKinds)('on %s', (kind) => {
    let testing: TestStore;
    let store: WriteCountingStore;
    let app: INestApplication;
    let base: string;
    /** An app with short timeouts and persistent cookies (express-session's `cookie.maxAge`). */
    let persistentApp: INestApplication;
    let persistentBase: string;

    beforeAll(async () => {
      testing = testStore(kind, `parity-${adapter}`);
      store = new WriteCountingStore(testing.store);
      app = await startApp(parityApp(store), adapter);
      base = await baseUrl(app);
      persistentApp = await startApp(parityApp(store, { idleTimeout: 3000, touchInterval: 100, cookie: { persistent: true } }), adapter);
      persistentBase = await baseUrl(persistentApp);
    });
    afterAll(async () => {
      await app.close();
      await persistentApp.close();
      await testing.close();
    });

    const handleIn = (client: Client): string => handleOf(idOf(client.jar.get('sid')!));
    const stored = async (client: Client) => (await store.get(handleIn(client)))?.data;

    describe('values', () => {
      it('persists values across requests (the counter)', async () => {
        const client = new Client(base);
        expect((await client.get('/es/count')).body).toBe(1);
        expect(await stored(client)).toEqual({ count: 1 });
        expect((await client.get('/es/count')).body).toBe(2);
        expect(await stored(client)).toEqual({ count: 2 });
      });

      it('sets the cookie only when the session was modified', async () => {
        const client = new Client(base);
        expect(sidCookie(await client.get('/es/count'))).toBeDefined();
        const second = await client.get('/es/count');
        expect(second.body).toBe(2);
        const writes = store.writes;
        const unmodified = await client.get('/es/count?modify=0');
        expect(unmodified.body).toBe(2);
        expect(sidCookie(unmodified)).toBeUndefined();
        expect(store.writes).toBe(writes);
        expect((await client.get('/es/count')).body).toBe(3);
        expect(await stored(client)).toEqual({ count: 3 });
      });

      it('lists only the data and cookie as enumerable keys (for...in and Object.keys), no methods', async () => {
        const res = await new Client(base).get('/es/keys');
        expect(res.body).toEqual({ forIn: ['bar', 'cookie', 'foo'], keys: ['bar', 'cookie', 'foo'] });
      });

      it('keeps working when the stored data has a key named like a method (reserved properties)', async () => {
        const client = new Client(base);
        await client.get('/es/num');
        const record = (await store.get(handleIn(client)))!;
        await store.set(handleIn(client), { ...record, data: { ...record.data, save: 'nope' } }, 60_000);
        const res = await client.get('/es/num');
        expect(res.body).toEqual({ num: 1, save: 'function', keys: ['cookie', 'num'] });
      });

      it('stores a Date as its ISO string, drops a key set to undefined, and stores NaN and ±Infinity as null', async () => {
        const client = new Client(base);
        const res = await client.post('/es/json');
        expect(res.body).toEqual({ when: '1970-01-01T00:00:00.000Z', removed: false, nan: null });
        expect(await stored(client)).toEqual({ when: '1970-01-01T00:00:00.000Z', nan: null, inf: null, nested: { at: '1970-01-01T00:00:00.000Z', low: null, list: [null, 1] } });
      });

      it('stores ++req.session.x of a key never set as null, as JSON stores NaN', async () => {
        const client = new Client(base);
        expect((await client.get('/es/increment-unset')).body).toEqual({ result: 'NaN', views: null });
        expect(await stored(client)).toEqual({ views: null });
      });

      it.each(['handle', 'service'])('keeps the strict JSON check through %s: a Date is refused and nothing stored', async (via) => {
        const client = new Client(base);
        await client.get('/es/count');
        expect((await client.post(`/es/strict/${via}`)).body).toMatchObject({ error: 'SessionValueError' });
        expect(await stored(client)).toEqual({ count: 1 });
      });
    });

    describe('writes', () => {
      it.each(['req', 'handle', 'service'])('writes nothing when a value equal to the stored one is assigned (through %s)', async (via) => {
        const client = new Client(base);
        await client.post(`/es/write/${via}?v=bob`);
        await client.post(`/es/write-object/${via}`);
        const writes = store.writes;
        const again = await client.post(`/es/write/${via}?v=bob`);
        await client.post(`/es/write-object/${via}`);
        expect(store.writes).toBe(writes);
        expect(sidCookie(again)).toBeUndefined();
        await client.post(`/es/write/${via}?v=eve`);
        expect(store.writes).toBe(writes + 1);
        expect(await stored(client)).toEqual({ v: 'eve', profile: { name: 'bob', roles: ['a', 'b'] } });
      });

      it.each(['plain', 'empty', 'multi', 'sized'])('has saved the session when the response ended (%s)', async (how) => {
        const client = new Client(base);
        const res = await client.get(`/es/ended/${how}`);
        expect(res.status).toBe(200);
        expect(res.text).toBe({ plain: 'session saved', empty: '', multi: 'hello, world', sized: 'session saved' }[how]);
        expect(await stored(client)).toEqual({ hit: true });
      });

      it('handles the response being ended twice: the first answer goes out, the session is saved', async () => {
        const client = new Client(base);
        const res = await client.get('/es/ended/twice');
        expect(res.status).toBe(200);
        expect(res.text).toBe('Hello, world!');
        expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
        expect(await stored(client)).toEqual({ hit: true });
      });

      it('handles the response being ended with null', async () => {
        const client = new Client(base);
        const res = await client.get('/es/ended/null');
        expect(res.status).toBe(200);
        expect(res.text).toBe('');
        expect(await stored(client)).toEqual({ hit: true });
      });

      it('saves the session when write() and end() were wrapped by another library after the session was used', async () => {
        const client = new Client(base);
        const res = await client.get('/es/ended/patched');
        expect(res.status).toBe(200);
        expect(res.text).toBe('hello, world');
        expect(await stored(client)).toEqual({ hit: true });
      });

      it.each(['set-header', 'write-head'])('keeps a cookie the app set itself beside the session cookie (%s)', async (how) => {
        const client = new Client(base);
        const res = await client.get(`/es/previous/${how}`);
        expect(setCookieValue(res.setCookies, 'previous')).toBe('cookieValue');
        expect(sidCookie(res)).toBeDefined();
        expect(await stored(client)).toEqual({ hit: true });
      });
    });

    describe('methods', () => {
      it('destroy(cb) destroys the session: req.session is undefined afterwards, and a new session sets no cookie', async () => {
        const fresh = await new Client(base).get('/es/destroy');
        expect(fresh.body).toEqual({ error: null, string: 'undefined', type: 'undefined' });
        expect(sidCookie(fresh)).toBeUndefined();

        const client = new Client(base);
        await client.get('/es/count');
        const handle = handleIn(client);
        const res = await client.get('/es/destroy');
        expect(res.body).toEqual({ error: null, string: 'undefined', type: 'undefined' });
        expect(await store.get(handle)).toBeUndefined();
        expect(client.jar.has('sid')).toBe(false);
      });

      it('regenerate(cb) replaces the session with an empty one under a new id', async () => {
        const client = new Client(base);
        await client.get('/es/count');
        const oldHandle = handleIn(client);
        const res = await client.get('/es/regenerate');
        expect(res.body).toEqual({ error: null, same: false, kept: null, keys: ['cookie'] });
        expect(await store.get(oldHandle)).toBeUndefined();
        // Nothing written to the new session: no record, and the old cookie is cleared.
        expect(client.jar.has('sid')).toBe(false);
        expect((await client.get('/es/count')).body).toBe(1);
      });

      it('reload(cb) reads the session again from the store, with what another request saved meanwhile', async () => {
        const client = new Client(base);
        await client.get('/es/count');
        const res = await client.get('/es/reload');
        expect(res.body).toEqual({ error: null, url: '/bar' });
        expect(await stored(client)).toEqual({ count: 1, url: '/bar' });
      });

      it('reload(cb) gives an error when the session is gone from the store, and leaves the session as it was', async () => {
        const client = new Client(base);
        await client.get('/es/count');
        const handle = handleIn(client);
        const res = await client.get('/es/reload-gone');
        expect(res.body).toMatchObject({ error: 'SessionGoneError', unsaved: 'x' });
        expect((res.body as { message: string }).message).toMatch(/^failed to load session/);
        // Saving a session gone from the store does not bring it back: the cookie is cleared.
        expect(client.jar.has('sid')).toBe(false);
        expect(await store.get(handle)).toBeUndefined();
      });

      it('reload(cb) called again from its own failing callback does not overflow or throw', async () => {
        const client = new Client(base);
        await client.get('/es/count');
        expect((await client.get('/es/reload-many')).body).toEqual({ ok: true });
      });

      it('save(cb) has written the session to the store when its callback runs', async () => {
        const client = new Client(base);
        const res = await client.get('/es/save');
        expect(res.body).toMatchObject({ error: null, stored: 1 });
        expect(await stored(client)).toEqual({ hit: 1 });
      });

      it('save(cb) leaves nothing for the end of the request to write', async () => {
        const client = new Client(base);
        for (let hit = 1; hit <= 2; hit++) {
          const res = await client.get('/es/save');
          expect(store.writes).toBe((res.body as { writes: number }).writes);
          expect(await stored(client)).toEqual({ hit });
        }
      });

      it('save(cb) after reload(cb) leaves nothing for the end of the request to write', async () => {
        const client = new Client(base);
        await client.get('/es/count');
        const res = await client.get('/es/save-reloaded');
        expect(store.writes).toBe((res.body as { writes: number }).writes);
        // reload() dropped the unsaved change.
        expect(await stored(client)).toEqual({ count: 1 });
      });

      it('touch() resets the session expiration in the store', async () => {
        const client = new Client(base);
        await client.get('/es/touch');
        const before = (await store.get(handleIn(client)))!.touchedAt;
        await delay(100);
        await client.get('/es/touch');
        expect((await store.get(handleIn(client)))!.touchedAt).toBeGreaterThan(before);
      });

      it.each(['save', 'destroy', 'regenerate', 'reload'] as const)('an error thrown in the %s(cb) callback becomes a 500 through the app\'s filters', async (method) => {
        const res = await new Client(base).get(`/es/callback-throws/${method}`);
        expect(res.status).toBe(500);
        expect(res.body).toEqual({ filtered: true, message: `thrown in the ${method} callback` });
      });
    });

    describe('another session middleware', () => {
      it('leaves a req.session that another middleware set alone', async () => {
        const client = new Client(base);
        const res = await client.get('/es/foreign');
        expect(res.body).toEqual({ session: { owner: 'another middleware' } });
        expect(sidCookie(res)).toBeUndefined();
      });
    });

    describe('id and display', () => {
      it('req.sessionID is the session handle (what the store keys by), never the secret id', async () => {
        const client = new Client(base);
        const res = await client.get('/es/session-id');
        const body = res.body as { sessionID: string; id: string; handle: string; cookieId: string };
        expect(body.sessionID).toBe(body.handle);
        expect(body.sessionID).toBe(handleIn(client));
        expect(body.sessionID).not.toBe(body.cookieId);
        expect(await store.get(body.sessionID)).toBeDefined();
      });

      it('String(), template strings, JSON.stringify, util.inspect and spreading show the data, never the id', async () => {
        const client = new Client(base);
        const res = await client.get('/es/show');
        const body = res.body as { string: string; template: string; json: string; inspect: string; spread: object; id: string };
        expect(body.string).toBe('[object Object]');
        expect(body.template).toBe('[object Object]');
        expect(JSON.parse(body.json)).toEqual({ user: 'ada', cart: { items: 2 } });
        expect(body.inspect).toContain("user: 'ada'");
        expect(body.inspect).toContain('cookie');
        expect(body.spread).toEqual({ user: 'ada', cart: { items: 2 } });
        for (const shown of [body.json, body.inspect, JSON.stringify(body.spread)]) expect(shown).not.toContain(body.id);
      });
    });

    describe('cookie', () => {
      it('is a browser-session cookie by default, set only once', async () => {
        const client = new Client(base);
        const first = sidCookie(await client.get('/es/count'));
        expect(attribute(first, 'Expires')).toBeUndefined();
        expect(attribute(first, 'Max-Age')).toBeUndefined();
        expect(sidCookie(await client.get('/es/count?modify=0'))).toBeUndefined();
      });

      it('cookie.maxAge = ms sets the cookie to expire in ms, and a change changes it', async () => {
        const client = new Client(base);
        const first = await client.get('/es/max-age?ms=2000');
        expect(attribute(sidCookie(first), 'Max-Age')).toBe('2');
        expect(first.body).toMatchObject({ maxAge: 2000, originalMaxAge: 2000 });
        const changed = await client.get('/es/max-age?ms=5000');
        expect(attribute(sidCookie(changed), 'Max-Age')).toBe('5');
        const expires = Date.parse((changed.body as { expires: string }).expires);
        expect(Math.abs(expires - (Date.now() + 5000))).toBeLessThan(2000);
        expect((await stored(client))!.visits).toBe(2);
      });

      it('cookie.maxAge larger than the idle timeout is capped by it (the cookie never outlives the server-side session)', async () => {
        const client = new Client(base);
        const res = await client.get('/es/max-age?ms=3000000000');
        expect(attribute(sidCookie(res), 'Max-Age')).toBe('86400');
        expect(res.body).toMatchObject({ originalMaxAge: 3_000_000_000 });
        expect((res.body as { maxAge: number }).maxAge).toBeGreaterThan(86_300_000);
      });

      it('cookie.originalMaxAge equals the maxAge given, on every later request', async () => {
        const client = new Client(base);
        expect((await client.get('/es/max-age?ms=2000')).body).toMatchObject({ originalMaxAge: 2000 });
        await delay(100);
        const later = (await client.get('/es/max-age')).body as { originalMaxAge: number; maxAge: number };
        expect(later.originalMaxAge).toBe(2000);
        expect(later.maxAge).toBeLessThanOrEqual(2000);
      });

      it('cookie.maxAge = null makes a browser-session cookie', async () => {
        const client = new Client(persistentBase);
        await client.get('/es/count');
        const res = await client.get('/es/max-age?ms=null');
        expect(res.body).toEqual({ maxAge: null, originalMaxAge: null, expires: null });
        expect(attribute(sidCookie(res), 'Max-Age')).toBeUndefined();
        expect(attribute(sidCookie(res), 'Expires')).toBeUndefined();
      });

      it('cookie.expires = a Date sets when the cookie expires (as Max-Age)', async () => {
        const at = Date.now() + 60_000;
        const res = await new Client(base).get(`/es/expires?at=${at}`);
        // Max-Age rather than Expires: the browser's clock may be off, Max-Age does not depend on it.
        expect(Number(attribute(sidCookie(res), 'Max-Age'))).toBeGreaterThanOrEqual(58);
        expect(Number(attribute(sidCookie(res), 'Max-Age'))).toBeLessThanOrEqual(60);
        expect(Math.abs(Date.parse((res.body as { expires: string }).expires) - at)).toBeLessThan(2000);
      });

      it('cookie.expires = a Date in the past (or maxAge <= 0) is refused with a SessionCookieOptionError naming destroy()', async () => {
        const client = new Client(base);
        const res = await client.get('/es/expires?at=0');
        expect(res.body).toMatchObject({ error: 'SessionCookieOptionError' });
        expect((res.body as { message: string }).message).toContain('req.session.destroy()');
        expect((await client.get('/es/max-age?ms=0')).body).toMatchObject({ error: 'SessionCookieOptionError' });
      });

      it('cookie.expires = null makes a browser-session cookie that is not reset on later requests', async () => {
        const client = new Client(persistentBase);
        const first = sidCookie(await client.get('/es/expires?at=null'));
        expect(first).toBeDefined();
        expect(attribute(first, 'Expires')).toBeUndefined();
        expect(sidCookie(await client.get('/es/expires?at=null'))).toBeUndefined();
      });

      it('cookie.expires = null: a browser-session cookie is not reset when the session is modified', async () => {
        const client = new Client(persistentBase);
        expect(attribute(sidCookie(await client.get('/es/expires?at=null&hit=1')), 'Expires')).toBeUndefined();
        expect(sidCookie(await client.get('/es/expires?at=null&hit=1'))).toBeUndefined();
        expect((await stored(client))!.hit).toBe(2);
      });

      it.each(['httpOnly', 'secure', 'sameSite', 'domain', 'path', 'partitioned'])(
        'cookie.%s is read-only: assigning it throws a SessionCookieOptionError saying to set it in forRoot()',
        async (name) => {
          const res = await new Client(base).get(`/es/cookie-fixed/${name}`);
          expect(res.body).toMatchObject({ error: 'SessionCookieOptionError', isSessionError: true });
          expect((res.body as { message: string }).message).toContain(`cookie.${name} in SessionModule.forRoot()`);
        },
      );
    });

    describe('persistent cookies (express-session cookie.maxAge)', () => {
      it.each(['req', 'handle', 'service'])('re-sends Max-Age when a request writes, as the stored expiry moves (through %s)', async (via) => {
        const client = new Client(persistentBase);
        const first = await client.post(`/es/write/${via}?v=1`);
        expect(attribute(sidCookie(first), 'Max-Age')).toBe('3');
        const before = (await store.get(handleIn(client)))!.touchedAt;
        await delay(20);
        const second = await client.post(`/es/write/${via}?v=2`);
        expect(attribute(sidCookie(second), 'Max-Age')).toBe('3');
        expect((await store.get(handleIn(client)))!.touchedAt).toBeGreaterThan(before);
        expect(await stored(client)).toEqual({ v: '2' });
      });

      it('updates the cookie expiration after a slow (streamed) write', async () => {
        const client = new Client(persistentBase);
        const first = await client.get('/es/slow');
        expect(first.text).toBe('hello, world!');
        expect(attribute(sidCookie(first), 'Max-Age')).toBe('3');
        const before = (await store.get(handleIn(client)))!.touchedAt;
        await delay(1100);
        // Nothing changes (the same user), but the touch is due: the expiry and the cookie move together.
        const second = await client.get('/es/slow?ms=0');
        expect(attribute(sidCookie(second), 'Max-Age')).toBe('3');
        expect((await store.get(handleIn(client)))!.touchedAt).toBeGreaterThanOrEqual(before + 1000);
        expect(await stored(client)).toEqual({ user: 'bob' });
      });

      it('finishes a streamed response when a touch falls due before its end', async () => {
        const client = new Client(persistentBase);
        await client.get('/es/count');
        const before = (await store.get(handleIn(client)))!.touchedAt;
        // Longer than touchInterval (100 ms): the touch falls due after the headers left.
        const res = await client.get('/es/slow?ms=250');
        expect(res.status).toBe(200);
        expect(res.text).toBe('hello, world!');
        expect(await stored(client)).toEqual({ count: 1, user: 'bob' });
        expect((await store.get(handleIn(client)))!.touchedAt).toBeGreaterThan(before);
      });
    });

    describe('when the cookie names no stored session', () => {
      it('creates a new session with a new id', async () => {
        const client = new Client(base);
        await client.get('/es/count');
        const old = client.jar.get('sid')!;
        await store.destroy(handleIn(client));
        const res = await client.get('/es/count');
        expect(res.body).toBe(1);
        expect(client.jar.get('sid')).not.toBe(old);
        expect(await stored(client)).toEqual({ count: 1 });
      });
    });
  });
});

describe.each(adapters)('express-session parity with CookieStore (%s)', (adapter) => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await startApp(parityApp(new CookieStore(), { idleTimeout: 3000, touchInterval: 100, cookie: { persistent: true } }), adapter);
    base = await baseUrl(app);
  });
  afterAll(() => app.close());

  it('finishes a streamed response when a touch falls due before its end', async () => {
    const client = new Client(base);
    await client.get('/es/count');
    const res = await client.get('/es/slow?ms=250');
    expect(res.status).toBe(200);
    expect(res.text).toBe('hello, world!');
    // The session in the cookie sent with the headers holds the change made before them.
    expect((await client.get('/es/count')).body).toBe(2);
  });
});
