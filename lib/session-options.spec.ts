import { resolveSessionOptions } from './session-options.js';
import type { SessionModuleOptions } from './session-module-options.interface.js';

const secret = 'a-long-random-enough-test-secret-0123456789';

describe('resolveSessionOptions', () => {
  it('fills in the documented defaults', () => {
    const o = resolveSessionOptions({ secret });
    expect(o).toMatchObject({
      secrets: [secret],
      store: undefined,
      cookie: { name: 'sid', path: '/', domain: undefined, secure: true, httpOnly: true, sameSite: 'lax', partitioned: false, persistent: false },
      idleTimeout: 86_400_000,
      absoluteTimeout: 604_800_000,
      touchInterval: 60_000,
      authKey: 'userId',
      authPath: ['userId'],
      maxSessionsPerUser: undefined,
    });
    expect(resolveSessionOptions({ secret, idleTimeout: 1000 }).touchInterval).toBe(100);
  });

  it('splits a dotted authKey into the path of keys down to the user id', () => {
    expect(resolveSessionOptions({ secret, authKey: 'passport.user' })).toMatchObject({ authKey: 'passport.user', authPath: ['passport', 'user'] });
    expect(resolveSessionOptions({ secret, authKey: 'a.b.c' }).authPath).toEqual(['a', 'b', 'c']);
  });

  it.each<[string, unknown, RegExp]>([
    ['no options', undefined, /Pass at least \{ secret/],
    ['no secret', {}, /secret is missing \(got undefined\).*SESSION_SECRET.*Set SESSION_SECRET.*openssl rand -base64 48/],
    ['an empty secret', { secret: '' }, /secret is missing \(got an empty string\).*Set SESSION_SECRET/],
    ['an empty secret list', { secret: [] }, /secret is missing \(got an empty list\).*Set SESSION_SECRET/],
    ['a list of empty secrets', { secret: ['', undefined] }, /secret is missing.*Set SESSION_SECRET/],
    ['a short secret', { secret: 'short' }, /secret is too short: 5 bytes, at least 32 are needed\. Generate one with `openssl rand -base64 48`/],
    ['a short secret among long ones', { secret: [secret, 'x'] }, /secret\[1\] is too short: 1 byte,/],
    ['a missing secret among long ones', { secret: [secret, ''] }, /secret\[1\] is missing/],
    ['a secret that is not a string', { secret: 12345 }, /secret must be a string, got number/],
    ['32 identical characters', { secret: 's'.repeat(32) }, /too easy to guess: it has only 1 distinct character, at least 8.*openssl rand -base64 48/],
    ['a repeated short pattern', { secret: 'abcdefg'.repeat(10) }, /only 7 distinct characters, at least 8/],
    ['a short secret of many bytes per character', { secret: '₤₩₹₽₿₺₴₦₱₲' }, /too short: 30 bytes/],
    ['maxSessionsPerUser 0', { secret, maxSessionsPerUser: 0 }, /maxSessionsPerUser must be a positive whole number, got 0/],
    ['a fractional maxSessionsPerUser', { secret, maxSessionsPerUser: 2.5 }, /maxSessionsPerUser must be a positive whole number/],
    ['authKey __proto__', { secret, authKey: '__proto__' }, /authKey "__proto__" is not allowed/],
    ['authKey constructor', { secret, authKey: 'constructor' }, /authKey "constructor" is not allowed/],
    ['a path through __proto__', { secret, authKey: 'passport.__proto__' }, /authKey "passport\.__proto__": "__proto__" is not allowed as a session key.*'passport\.user'/],
    ['a path with an empty key', { secret, authKey: 'passport..user' }, /authKey "passport\.\.user" has an empty key in it\. Separate the keys of a path with single dots/],
    ['a path ending in a dot', { secret, authKey: 'passport.' }, /authKey "passport\." has an empty key/],
    ['__host- in lower case without secure', { secret, cookie: { name: '__host-sid', secure: false } }, /"__host-sid" must be Secure, with Path=\/ and no Domain/],
    ['__HOST- with a domain', { secret, cookie: { name: '__HOST-sid', domain: 'example.com' } }, /must be Secure, with Path=\/ and no Domain/],
    ['__secure- in lower case without secure', { secret, cookie: { name: '__secure-sid', secure: false } }, /"__secure-sid" must be Secure/],
    ['an unknown sameSite', { secret, cookie: { sameSite: 'loose' } }, /sameSite "loose".*Use 'lax', 'strict' or 'none'/],
    ['sameSite none without secure', { secret, cookie: { sameSite: 'none', secure: false } }, /need cookie.secure/],
    ['a bad cookie name', { secret, cookie: { name: 'my sid' } }, /not a valid cookie name/],
    ['__Host- without secure', { secret, cookie: { name: '__Host-sid', secure: false } }, /must be Secure, with Path=\/ and no Domain/],
    ['__Host- with a path', { secret, cookie: { name: '__Host-sid', path: '/app' } }, /__Host-/],
    ['__Host- with a domain', { secret, cookie: { name: '__Host-sid', domain: 'example.com' } }, /__Host-/],
    ['__Secure- without secure', { secret, cookie: { name: '__Secure-sid', secure: false } }, /must be Secure/],
    ['a negative idleTimeout', { secret, idleTimeout: -1 }, /idleTimeout must be a positive number/],
    ['touchInterval not below idleTimeout', { secret, idleTimeout: 1000, touchInterval: 1000 }, /touchInterval \(1000\) must be less than idleTimeout/],
    ['an empty authKey', { secret, authKey: '' }, /authKey must be a non-empty string/],
    ['a store that is not one', { secret, store: { get: 1 } }, /store must be a SessionStore/],
  ])('refuses %s with a message that says how to fix it', (_, options, message) => {
    expect(() => resolveSessionOptions(options as SessionModuleOptions)).toThrow(message);
  });

  it('accepts __Host- cookies with their rules and absoluteTimeout 0', () => {
    const o = resolveSessionOptions({ secret, absoluteTimeout: 0, cookie: { name: '__Host-sid' } });
    expect(o.cookie.name).toBe('__Host-sid');
    expect(o.absoluteTimeout).toBe(0);
  });

  it('counts secret length in bytes and accepts a long random one', () => {
    // 11 characters of 3 bytes each: 33 bytes, enough, though only 11 UTF-16 units.
    const multiByte = '€₤₩₹₽₿₺₴₦₱₲';
    expect(resolveSessionOptions({ secret: multiByte }).secrets).toEqual([multiByte]);
    expect(resolveSessionOptions({ secret: [secret, 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0MTIzNDU2'] }).secrets).toHaveLength(2);
  });

  it('takes maxSessionsPerUser, with no limit by default', () => {
    expect(resolveSessionOptions({ secret, maxSessionsPerUser: 3 }).maxSessionsPerUser).toBe(3);
    expect(resolveSessionOptions({ secret }).maxSessionsPerUser).toBeUndefined();
  });

  it('registers the global interceptor unless globalInterceptor is false', () => {
    expect(resolveSessionOptions({ secret }).globalInterceptor).toBe(true);
    expect(resolveSessionOptions({ secret, globalInterceptor: false }).globalInterceptor).toBe(false);
    expect(() => resolveSessionOptions({ secret, globalInterceptor: 'no' } as unknown as SessionModuleOptions)).toThrow(
      /globalInterceptor must be true or false, got no\. Set globalInterceptor: false or leave it out/,
    );
  });
});
