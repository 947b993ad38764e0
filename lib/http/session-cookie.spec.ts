import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { stringifySetCookie } from 'cookie';
import { SessionCookie, isSessionHandle, isSessionId, newSessionId, sessionHandle } from './session-cookie.js';
import { resolveSessionOptions } from '../session-options.js';

const NEW = 'n'.repeat(32) + '-new-secret';
const OLD = 'o'.repeat(32) + '-old-secret';

function cookieFor(secret: string | string[], cookie = {}) {
  return new SessionCookie(resolveSessionOptions({ secret, cookie }));
}

function valueOf(setCookie: string): string {
  return setCookie.split(';')[0]!.split('=')[1]!;
}

describe('session ids and handles', () => {
  it('draws 256-bit base64url ids that do not repeat', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newSessionId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(isSessionId(id)).toBe(true);
      expect(Buffer.from(id, 'base64url')).toHaveLength(32);
    }
  });

  it('hashes an id into a hex handle that cannot be mistaken for an id', () => {
    const id = newSessionId();
    const handle = sessionHandle(id);
    expect(handle).toMatch(/^[0-9a-f]{64}$/);
    expect(handle).not.toContain(id);
    expect(isSessionHandle(handle)).toBe(true);
    expect(isSessionHandle(id)).toBe(false);
    expect(isSessionId(handle)).toBe(false);
  });
});

describe('SessionCookie', () => {
  it('issues a signed cookie with the default attributes and reads it back', () => {
    const c = cookieFor(NEW);
    const id = newSessionId();
    const header = c.issue(id, 1000);
    expect(header).toMatch(/^sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(c.read(`other=1; sid=${valueOf(header)}`)).toEqual({ id, handle: sessionHandle(id), rotated: false });
    // A second read of the same cookie is served from the cache, with the same answer.
    expect(c.read(`sid=${valueOf(header)}`)).toEqual({ id, handle: sessionHandle(id), rotated: false });
  });

  it('ignores missing, malformed, truncated, oversized and tampered cookies', () => {
    const c = cookieFor(NEW);
    const value = valueOf(c.issue(newSessionId(), 1000));
    expect(c.read(undefined)).toBeUndefined();
    expect(c.read('')).toBeUndefined();
    expect(c.read('sid=')).toBeUndefined();
    expect(c.read(`sid=${value.slice(0, -1)}`)).toBeUndefined();
    expect(c.read(`sid=${value}A`)).toBeUndefined();
    expect(c.read(`sid=${value.replace('.', '_')}`)).toBeUndefined();
    expect(c.read(`sid=${'a'.repeat(5000)}`)).toBeUndefined();
    const flipped = value.slice(0, 10) + (value[10] === 'A' ? 'B' : 'A') + value.slice(11);
    expect(c.read(`sid=${flipped}`)).toBeUndefined();
    const badSig = value.slice(0, 44) + (value[44] === 'A' ? 'B' : 'A') + value.slice(45);
    expect(c.read(`sid=${badSig}`)).toBeUndefined();
  });

  it('rejects a cookie signed with a secret it does not know', () => {
    const foreign = valueOf(cookieFor('foreign-secret-0123456789-abcdefghij').issue(newSessionId(), 1000));
    expect(cookieFor(NEW).read(`sid=${foreign}`)).toBeUndefined();
  });

  it('accepts a cookie signed with an older secret and says it must be re-issued', () => {
    const id = newSessionId();
    const old = valueOf(cookieFor(OLD).issue(id, 1000));
    const rotating = cookieFor([NEW, OLD]);
    expect(rotating.read(`sid=${old}`)).toEqual({ id, handle: sessionHandle(id), rotated: true });
    const reissued = valueOf(rotating.issue(id, 1000));
    expect(cookieFor(NEW).read(`sid=${reissued}`)).toEqual({ id, handle: sessionHandle(id), rotated: false });
  });

  it('writes Max-Age only for persistent cookies, and expires the cookie to clear it', () => {
    expect(cookieFor(NEW, { persistent: true }).issue(newSessionId(), 90_500)).toContain('Max-Age=90');
    expect(cookieFor(NEW).issue(newSessionId(), 90_500)).not.toContain('Max-Age');
    const clear = cookieFor(NEW, { name: '__Host-sid' }).clear();
    expect(clear).toMatch(/^__Host-sid=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax$/);
  });

  it('writes the same Set-Cookie as the cookie package, whatever the attributes', () => {
    const options = [
      {},
      { persistent: true },
      { name: '__Host-sid', sameSite: 'strict' },
      { domain: 'example.com', path: '/app', secure: false, httpOnly: false, persistent: true },
      { sameSite: 'none', partitioned: true },
    ];
    for (const cookie of options) {
      const resolved = resolveSessionOptions({ secret: NEW, cookie: cookie as never }).cookie;
      const c = new SessionCookie(resolveSessionOptions({ secret: NEW, cookie: cookie as never }));
      for (const ms of [90_500, 500]) {
        const header = c.issue(newSessionId(), ms);
        const maxAge = resolved.persistent ? Math.floor(ms / 1000) : undefined;
        expect(header).toBe(
          stringifySetCookie({
            name: resolved.name,
            value: valueOf(header),
            path: resolved.path,
            domain: resolved.domain,
            secure: resolved.secure,
            httpOnly: resolved.httpOnly,
            sameSite: resolved.sameSite,
            partitioned: resolved.partitioned || undefined,
            maxAge,
            expires: maxAge === 0 ? new Date(0) : undefined,
          }),
        );
      }
    }
  });

  it('keeps at most 10,000 verified cookies, dropping the oldest first', () => {
    const c = cookieFor(NEW);
    const cache = (c as unknown as { verified: Map<string, unknown> }).verified;
    const ids = Array.from({ length: 10_005 }, () => newSessionId());
    const values = ids.map((id) => valueOf(c.issue(id, 1000)));
    for (const value of values) c.read(`sid=${value}`);
    expect(cache.size).toBe(10_000);
    expect(cache.has(values[4]!)).toBe(false);
    expect(cache.has(values[5]!)).toBe(true);
    // A dropped cookie still verifies, and comes back in as the newest, pushing out the next oldest.
    expect(c.read(`sid=${values[0]}`)).toEqual({ id: ids[0], handle: sessionHandle(ids[0]!), rotated: false });
    expect(cache.has(values[0]!)).toBe(true);
    expect(cache.has(values[5]!)).toBe(false);
    expect(cache.size).toBe(10_000);
  });

  it('reads the first cookie of its name that verifies, not just the first one (cookie tossing)', () => {
    const c = cookieFor(NEW);
    const id = newSessionId();
    const good = valueOf(c.issue(id, 1000));
    const planted = valueOf(cookieFor('planted-by-a-sibling-subdomain-0123456789').issue(newSessionId(), 1000));
    const expected = { id, handle: sessionHandle(id), rotated: false };
    expect(c.read(`sid=${planted}; sid=garbage; other=1; sid=${good}`)).toEqual(expected);
    expect(c.read(`sid=${'A'.repeat(43)}.${'B'.repeat(43)}; sid="${good}"`)).toEqual(expected);
    // The first that verifies wins, as a browser sends the most specific cookie first.
    const other = newSessionId();
    expect(c.read(`sid=${valueOf(c.issue(other, 1000))}; sid=${good}`)).toMatchObject({ id: other });
    // Bounded: past 8 well-formed candidates, the rest are not checked.
    const many = Array.from({ length: 8 }, () => `sid=${planted}`).join('; ');
    expect(c.read(`${many}; sid=${good}`)).toBeUndefined();
    expect(c.read(`xsid=${good}`)).toBeUndefined();
  });

  it('keeps no request header alive in its cache of verified cookies (heap measured)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const c = cookieFor(NEW);
    const padding = `pad=${'x'.repeat(15_000)}`;
    const values = Array.from({ length: 12_000 }, () => valueOf(c.issue(newSessionId(), 1000)));
    gc();
    const before = process.memoryUsage().heapUsed;
    let verified = 0;
    // Each header is a fresh 15 KB string, as a request's would be.
    for (const value of values) if (c.read(`${padding}; sid=${value}`) !== undefined) verified++;
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(verified).toBe(12_000);
    // 10,000 cached cookies take about 4 MB; keeping their headers alive would take about 150 MB.
    expect(grown).toBeLessThan(12 * 1024 * 1024);
  });
});
