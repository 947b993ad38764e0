import type { INestApplication } from '@nestjs/common';
import { CookieStore, SessionModule } from 'nestjs-sessionkit';
import { cookieStoreApp } from './fixtures/cookie-store.fixture.js';
import { OLD_SECRET, SECRET, adapters, baseUrl, delay, startApp, startupError } from './support/app.js';
import { Client } from './support/client.js';

const NEW_SECRET = 'new-secret-that-is-long-enough-abcdefghij';

/** The value of the session cookie in a `Set-Cookie` header. */
function valueOf(setCookie: string): string {
  return setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
}

describe.each(adapters)('CookieStore (%s)', (adapter) => {
  const apps: INestApplication[] = [];

  async function start(...args: Parameters<typeof cookieStoreApp>): Promise<string> {
    const app = await startApp(cookieStoreApp(...args), adapter);
    apps.push(app);
    return baseUrl(app);
  }

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close()));
  });

  it('keeps the whole session in the encrypted cookie: another instance with the secret reads it', async () => {
    const base = await start({ secret: SECRET });
    const client = new Client(base);
    const set = await client.post('/set', { cart: ['apple', 'pear'], note: 'plain-text-marker' });
    expect(set.status).toBe(200);
    expect(set.setCookies).toHaveLength(1);
    const cookie = client.jar.get('sid')!;
    // Encrypted, not merely encoded: no value is readable in the cookie.
    expect(cookie).not.toContain('plain-text-marker');
    expect(Buffer.from(cookie, 'base64url').toString('latin1')).not.toContain('plain-text-marker');

    // A second app shares nothing with the first but the secret.
    const other = new Client(await start({ secret: SECRET }));
    other.jar.set('sid', cookie);
    expect((await other.get('/get')).body).toEqual({ isNew: false, data: { cart: ['apple', 'pear'], note: 'plain-text-marker' } });

    expect((await client.post('/incr')).body).toEqual({ n: 1 });
    expect((await client.post('/incr')).body).toEqual({ n: 2 });
    expect((await client.get('/get')).body).toEqual({ isNew: false, data: { cart: ['apple', 'pear'], note: 'plain-text-marker', n: 2 } });
  });

  it('sets no cookie on routes or visits that store nothing', async () => {
    const client = new Client(await start({ secret: SECRET }));
    expect((await client.get('/plain')).setCookies).toEqual([]);
    const read = await client.get('/get');
    expect(read.body).toEqual({ isNew: true, data: {} });
    expect(read.setCookies).toEqual([]);
  });

  it('ignores a tampered, truncated or foreign cookie: a fresh session, never a 500', async () => {
    const base = await start({ secret: SECRET });
    const client = new Client(base);
    await client.post('/set', { role: 'user' });
    const cookie = client.jar.get('sid')!;
    const flipped = cookie.slice(0, 40) + (cookie[40] === 'A' ? 'B' : 'A') + cookie.slice(41);
    const foreign = new Client(await start({ secret: NEW_SECRET }));
    foreign.jar.set('sid', cookie);
    for (const [name, value] of [['flipped', flipped], ['truncated', cookie.slice(0, -5)], ['garbage', 'not-a-sealed-session'], ['empty', '']] as const) {
      const attacker = new Client(base);
      attacker.jar.set('sid', value);
      const res = await attacker.get('/get');
      expect({ name, status: res.status, body: res.body }).toEqual({ name, status: 200, body: { isNew: true, data: {} } });
    }
    expect((await foreign.get('/get')).body).toEqual({ isNew: true, data: {} });
    // The genuine cookie still works.
    expect((await client.get('/get')).body).toEqual({ isNew: false, data: { role: 'user' } });
  });

  it('rotates secrets: old-key cookies are read and re-issued under the first secret', async () => {
    const oldClient = new Client(await start({ secret: OLD_SECRET }));
    await oldClient.post('/set', { kept: 'yes' });
    const oldCookie = oldClient.jar.get('sid')!;

    const rotated = new Client(await start({ secret: [NEW_SECRET, OLD_SECRET] }));
    rotated.jar.set('sid', oldCookie);
    const res = await rotated.get('/get');
    expect(res.body).toEqual({ isNew: false, data: { kept: 'yes' } });
    expect(res.setCookies).toHaveLength(1);
    const reissued = rotated.jar.get('sid')!;
    expect(reissued).not.toBe(oldCookie);

    // Only the new secret now: the re-issued cookie opens, the old one does not.
    const newOnly = await start({ secret: NEW_SECRET });
    const fresh = new Client(newOnly);
    fresh.jar.set('sid', reissued);
    expect((await fresh.get('/get')).body).toEqual({ isNew: false, data: { kept: 'yes' } });
    const stale = new Client(newOnly);
    stale.jar.set('sid', oldCookie);
    expect((await stale.get('/get')).body).toEqual({ isNew: true, data: {} });
  });

  it('enforces the idle timeout from inside the ciphertext, even when the old cookie is replayed', async () => {
    const base = await start({ secret: SECRET, idleTimeout: 1000 });
    const client = new Client(base);
    await client.post('/set', { value: 'idle' });
    const cookie = client.jar.get('sid')!;
    expect((await client.get('/get')).body).toEqual({ isNew: false, data: { value: 'idle' } });
    await delay(1100);
    const replay = new Client(base);
    replay.jar.set('sid', cookie);
    const res = await replay.get('/get');
    expect(res.body).toEqual({ isNew: true, data: {} });
    // The dead cookie is removed from the browser.
    expect(res.setCookies).toHaveLength(1);
    expect(replay.jar.has('sid')).toBe(false);
  });

  it('checks the expiry inside the ciphertext on reload(): a handler that waits past idleTimeout gets SessionGoneError, not the data', async () => {
    const base = await start({ secret: SECRET, idleTimeout: 300 });
    const client = new Client(base);
    await client.post('/set', { value: 'reloaded' });
    expect((await client.post('/wait-reload?ms=0')).body).toEqual({ before: { value: 'reloaded' }, after: { value: 'reloaded' } });
    const late = await client.post('/wait-reload?ms=450');
    expect(late.body).toEqual({ before: { value: 'reloaded' }, error: 'SessionGoneError' });
    // The session ended: its cookie is cleared, and nothing comes back with the next request.
    expect(client.jar.has('sid')).toBe(false);
    expect((await client.get('/get')).body).toEqual({ isNew: true, data: {} });
  });

  it('re-seals a used session once per touchInterval, so activity extends the idle expiry', async () => {
    const base = await start({ secret: SECRET, idleTimeout: 600, touchInterval: 100 });
    const client = new Client(base);
    await client.post('/set', { value: 'busy' });
    for (let i = 0; i < 5; i++) {
      await delay(200);
      expect((await client.get('/get')).body).toEqual({ isNew: false, data: { value: 'busy' } });
    }
  });

  it('ends a session at absoluteTimeout however busy it is', async () => {
    const base = await start({ secret: SECRET, idleTimeout: 5000, absoluteTimeout: 700, touchInterval: 50 });
    const client = new Client(base);
    const createdAt = Date.now();
    await client.post('/set', { value: 'old' });
    await delay(300);
    expect((await client.get('/get')).body).toEqual({ isNew: false, data: { value: 'old' } });
    await delay(createdAt + 800 - Date.now());
    expect((await client.get('/get')).body).toEqual({ isNew: true, data: {} });
  });

  it('refuses a session too large for its cookie before any header, and keeps the previous cookie valid', async () => {
    const base = await start({ secret: SECRET });
    const client = new Client(base);
    await client.post('/set', { small: 'kept' });
    const before = client.jar.get('sid')!;
    const res = await client.post('/set', { blob: 'x'.repeat(5000) });
    expect(res.status).toBe(500);
    expect(res.setCookies).toEqual([]);
    expect(client.jar.get('sid')).toBe(before);
    expect((await client.get('/get')).body).toEqual({ isNew: false, data: { small: 'kept' } });

    // Just under the limit still fits.
    const ok = await client.post('/set', { blob: 'x'.repeat(2500) });
    expect(ok.status).toBe(200);
    expect(Buffer.byteLength(ok.setCookies[0]!)).toBeLessThanOrEqual(4096);
    expect(((await client.get('/get')).body as { data: { blob: string } }).data.blob).toHaveLength(2500);
  });

  it('honours a smaller maxCookieBytes', async () => {
    const client = new Client(await start({ secret: SECRET }, new CookieStore({ maxCookieBytes: 512 })));
    expect((await client.post('/set', { blob: 'x'.repeat(100) })).status).toBe(200);
    expect((await client.post('/set', { blob: 'x'.repeat(600) })).status).toBe(500);
    expect(((await client.get('/get')).body as { data: { blob: string } }).data.blob).toHaveLength(100);
  });

  it('regenerates on login (new cookie, data kept) and clears the cookie on logout, keeping a flash', async () => {
    const client = new Client(await start({ secret: SECRET }));
    await client.post('/set', { cart: ['a'] });
    const anonymous = client.jar.get('sid')!;
    const login = await client.post('/login', { user: 'u1' });
    const { before, after } = login.body as { before: string; after: string };
    expect(after).not.toBe(before);
    expect(client.jar.get('sid')).not.toBe(anonymous);
    expect((await client.get('/get')).body).toEqual({ isNew: false, data: { cart: ['a'], userId: 'u1' } });

    const logout = await client.post('/logout');
    expect(logout.setCookies).toHaveLength(1);
    expect((await client.get('/flash')).body).toEqual({ info: ['logged out'] });
    expect((await client.get('/get')).body).toEqual({ isNew: false, data: {} });
  });

  it('fails the server-side APIs with a SessionStatelessError instead of pretending', async () => {
    const client = new Client(await start({ secret: SECRET }));
    await client.post('/set', { userId: 'u1' });
    const res = await client.post('/server-side');
    const body = res.body as Record<string, string>;
    for (const name of ['destroy', 'listByUser', 'destroyByUser']) {
      expect(body[name]).toMatch(/^SessionStatelessError: SessionService\.\w+\(\) needs sessions kept on the server, and CookieStore/);
    }
    // Nothing was lost meanwhile.
    expect((await client.get('/get')).body).toEqual({ isNew: false, data: { userId: 'u1' } });
  });

  it('refuses maxSessionsPerUser at startup', async () => {
    const error = await startupError(
      { module: class App {}, imports: [SessionModule.forRoot({ secret: SECRET, store: new CookieStore(), maxSessionsPerUser: 3 })] },
      adapter,
    );
    expect(error.message).toMatch(/maxSessionsPerUser needs a store that knows every session of a user, and CookieStore/);
  });

  it('keeps a persistent cookie\'s Max-Age within the session\'s life', async () => {
    const client = new Client(await start({ secret: SECRET, cookie: { secure: false, persistent: true }, idleTimeout: 60_000 }));
    const res = await client.post('/set', { a: 1 });
    const maxAge = Number(/Max-Age=(\d+)/i.exec(res.setCookies[0]!)?.[1]);
    expect(maxAge).toBeGreaterThan(55);
    expect(maxAge).toBeLessThanOrEqual(60);
    expect(valueOf(res.setCookies[0]!)).toBe(client.jar.get('sid'));
  });
});
