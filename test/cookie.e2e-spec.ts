import type { INestApplication } from '@nestjs/common';
import { MemoryStore } from 'nestjs-sessionkit';
import { cookieApp } from './fixtures/cookie.fixture.js';
import { OLD_SECRET, SECRET, adapters, baseUrl, startApp, startupError } from './support/app.js';
import { Client } from './support/client.js';
import { idOf, randomId, setCookieValue, signedValue } from './support/cookies.js';
import { CountingStore } from './support/stores.js';

const FOREIGN_SECRET = 'foreign-secret-that-is-long-enough-424242';
const SIGNED = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/;

function attributes(setCookie: string): string[] {
  return setCookie.split(';').slice(1).map((a) => a.trim().toLowerCase());
}

describe.each(adapters)('session cookie (%s)', (adapter) => {
  describe('attributes and caching', () => {
    let app: INestApplication;
    let base: string;

    beforeAll(async () => {
      // Default cookie options: fetch gets the Secure cookie's header over plain http all the same.
      app = await startApp(cookieApp({ secret: SECRET }), adapter);
      base = await baseUrl(app);
    });
    afterAll(() => app.close());

    it('is sid, Path=/, HttpOnly, Secure, SameSite=Lax, a browser-session cookie, not cacheable', async () => {
      const client = new Client(base);
      const res = await client.post('/set', { a: 1 });
      expect(res.status).toBe(200);
      expect(res.setCookies).toHaveLength(1);
      const header = res.setCookies[0]!;
      expect(setCookieValue(res.setCookies, 'sid')).toMatch(SIGNED);
      const attrs = attributes(header);
      expect(attrs).toEqual(expect.arrayContaining(['path=/', 'httponly', 'secure', 'samesite=lax']));
      expect(attrs.some((a) => a.startsWith('domain'))).toBe(false);
      expect(attrs.some((a) => a.startsWith('max-age') || a.startsWith('expires'))).toBe(false);
      expect(res.headers.get('cache-control')).toMatch(/no-store|private/);
    });

    it('makes a public response private when it sets the cookie, and leaves others alone', async () => {
      const client = new Client(base);
      const res = await client.post('/cached');
      expect(res.status).toBe(200);
      expect(res.setCookies).toHaveLength(1);
      const cacheControl = res.headers.get('cache-control')!;
      expect(cacheControl).toMatch(/private|no-store/);
      expect(cacheControl).not.toMatch(/public/);

      const other = await client.get('/public');
      expect(other.setCookies).toEqual([]);
      expect(other.headers.get('cache-control')).toBe('public, max-age=60');
    });
  });

  describe('startup checks', () => {
    it('accepts a __Host- name with the default attributes', async () => {
      const app = await startApp(cookieApp({ secret: SECRET, cookie: { name: '__Host-sid' } }), adapter);
      try {
        const res = await new Client(await baseUrl(app)).post('/set', { a: 1 });
        expect(setCookieValue(res.setCookies, '__Host-sid')).toMatch(SIGNED);
        expect(attributes(res.setCookies[0]!)).toEqual(expect.arrayContaining(['path=/', 'secure']));
      } finally {
        await app.close();
      }
    });

    it.each([
      ['secure: false', { secure: false }],
      ['a path', { path: '/app' }],
      ['a domain', { domain: 'example.com' }],
    ])('refuses a __Host- cookie with %s', async (_label, cookie) => {
      expect((await startupError(cookieApp({ secret: SECRET, cookie: { name: '__Host-sid', ...cookie } }), adapter)).message).toMatch(
        /"__Host-sid" must be Secure, with Path=\/ and no Domain.*Remove cookie\.secure: false, cookie\.path and cookie\.domain/,
      );
    });

    it.each([
      ['no secret (an unset SESSION_SECRET)', { secret: process.env.SESSION_SECRET_THAT_IS_NOT_SET }, /secret is missing \(got undefined\)/],
      ['an empty secret', { secret: '' }, /secret is missing \(got an empty string\)/],
      ['an empty secret list', { secret: [] }, /secret is missing \(got an empty list\)/],
    ])('refuses %s as missing, naming SESSION_SECRET', async (_label, options, message) => {
      const error = await startupError(cookieApp(options as never), adapter);
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/Set SESSION_SECRET .* `openssl rand -base64 48`/);
      expect(error.message).not.toMatch(/too short/);
    });

    it.each([
      ['a short secret', { secret: 'too-short' }, /secret is too short: 9 bytes, at least 32 are needed/],
      ['a short old secret', { secret: [SECRET, 'too-short'] }, /secret\[1\] is too short/],
      ['32 identical characters', { secret: 'x'.repeat(32) }, /secret is too easy to guess: it has only 1 distinct character,/],
    ])('refuses %s, saying how to make one', async (_label, options, message) => {
      const error = await startupError(cookieApp(options as never), adapter);
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/Generate one with `openssl rand -base64 48`/);
    });

    it.each([
      ['__host-sid', { secure: false }, /"__host-sid" must be Secure, with Path=\/ and no Domain/],
      ['__HOST-sid', { path: '/app' }, /"__HOST-sid" must be Secure, with Path=\/ and no Domain/],
      ['__secure-sid', { secure: false }, /"__secure-sid" must be Secure/],
    ])('applies the prefix rules whatever the case: refuses %s with %j', async (name, cookie, message) => {
      expect((await startupError(cookieApp({ secret: SECRET, cookie: { name, ...cookie } }), adapter)).message).toMatch(message);
    });

    it('refuses an unknown sameSite, listing the accepted values', async () => {
      expect((await startupError(cookieApp({ secret: SECRET, cookie: { sameSite: 'loose' as never } }), adapter)).message).toMatch(
        /cookie\.sameSite "loose" is not supported\. Use 'lax', 'strict' or 'none'/,
      );
    });
  });

  describe('cookies that must not be trusted', () => {
    const store = new CountingStore();
    let app: INestApplication;
    let base: string;
    let good: string;

    beforeAll(async () => {
      app = await startApp(cookieApp({ secret: SECRET, cookie: { secure: false }, store }), adapter);
      base = await baseUrl(app);
      const client = new Client(base);
      await client.post('/set', { owner: 'victim' });
      good = client.jar.get('sid')!;
    });
    afterAll(async () => {
      await app.close();
      await store.close();
    });

    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
    const cases: [string, () => string][] = [
      ['with a changed signature', () => flip(good, good.length - 1)],
      ['with a changed id', () => flip(good, 0)],
      ['truncated', () => good.slice(0, -1)],
      ['without signature', () => idOf(good)],
      ['oversized', () => good + 'A'.repeat(4000)],
      ['doubled', () => good + good],
      ['signed with an unknown secret', () => signedValue(idOf(good), FOREIGN_SECRET)],
      ['of garbage', () => 'not a session cookie'],
    ];

    it.each(cases)('ignores a cookie %s without asking the store, giving a fresh session', async (_label, make) => {
      const bad = make();
      const client = new Client(base);
      client.cookieHeader = `sid=${bad}`;
      store.reset();

      const read = await client.get('/read');
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ isNew: true, data: {} });
      expect((read.body as { id: string }).id).not.toBe(idOf(good));
      expect(read.setCookies).toEqual([]);

      const write = await client.post('/set', { b: 2 });
      expect(write.status).toBe(200);
      const issued = setCookieValue(write.setCookies)!;
      expect(issued).toMatch(SIGNED);
      expect(idOf(issued)).not.toBe(idOf(good));
      expect(store.calls.get).toBe(0);

      // The real session was not touched.
      const owner = new Client(base);
      owner.jar.set('sid', good);
      expect((await owner.get('/read')).body).toMatchObject({ isNew: false, data: { owner: 'victim' } });
    });

    it('gives a new id for a well-signed id the store does not know', async () => {
      const sent = randomId();
      const client = new Client(base);
      client.cookieHeader = `sid=${signedValue(sent, SECRET)}`;
      store.reset();

      const read = await client.get('/read');
      expect(read.body).toMatchObject({ isNew: true, data: {} });
      expect(store.calls.get).toBe(1);

      const write = await client.post('/set', { planted: true });
      expect(write.status).toBe(200);
      const issued = setCookieValue(write.setCookies)!;
      expect(issued).toMatch(SIGNED);
      expect(idOf(issued)).not.toBe(sent);
      expect((write.body as { id: string }).id).toBe(idOf(issued));
    });
  });

  describe('secret rotation', () => {
    // One store shared by three apps: signed with OLD only, rotating [NEW, OLD], NEW only.
    const store = new MemoryStore();
    let oldApp: INestApplication;
    let rotatingApp: INestApplication;
    let newApp: INestApplication;

    beforeAll(async () => {
      const cookie = { secure: false };
      oldApp = await startApp(cookieApp({ secret: OLD_SECRET, cookie, store }), adapter);
      rotatingApp = await startApp(cookieApp({ secret: [SECRET, OLD_SECRET], cookie, store }), adapter);
      newApp = await startApp(cookieApp({ secret: SECRET, cookie, store }), adapter);
    });
    afterAll(async () => {
      await Promise.all([oldApp.close(), rotatingApp.close(), newApp.close()]);
      await store.close();
    });

    it('accepts a cookie signed with the old secret and re-issues it under the new one', async () => {
      const onOld = new Client(await baseUrl(oldApp));
      await onOld.post('/set', { user: 'ann' });
      const oldCookie = onOld.jar.get('sid')!;
      expect(oldCookie).toBe(signedValue(idOf(oldCookie), OLD_SECRET));

      // Before rotation reaches it, the NEW-only app does not accept the OLD cookie.
      const stranger = new Client(await baseUrl(newApp));
      stranger.jar.set('sid', oldCookie);
      expect((await stranger.get('/read')).body).toMatchObject({ isNew: true, data: {} });

      const rotating = new Client(await baseUrl(rotatingApp));
      rotating.jar.set('sid', oldCookie);
      const read = await rotating.get('/read');
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ isNew: false, data: { user: 'ann' } });
      const reissued = setCookieValue(read.setCookies)!;
      expect(reissued).toBe(signedValue(idOf(oldCookie), SECRET));

      // Re-issued once: the new cookie is not re-issued again.
      const again = await rotating.get('/read');
      expect(again.body).toMatchObject({ isNew: false, data: { user: 'ann' } });
      expect(again.setCookies).toEqual([]);

      const onNew = new Client(await baseUrl(newApp));
      onNew.jar.set('sid', reissued);
      const after = await onNew.get('/read');
      expect(after.body).toMatchObject({ isNew: false, data: { user: 'ann' } });
      expect(after.setCookies).toEqual([]);
    });
  });
});
