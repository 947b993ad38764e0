import { resolveSessionOptions } from './session-options.js';
import type { SessionModuleOptions } from './session-module-options.interface.js';

const secret = 's'.repeat(32);

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
    });
    expect(resolveSessionOptions({ secret, idleTimeout: 1000 }).touchInterval).toBe(100);
  });

  it.each<[string, unknown, RegExp]>([
    ['no options', undefined, /Pass at least \{ secret/],
    ['no secret', {}, /at least 32 characters/],
    ['a short secret', { secret: 'short' }, /at least 32 characters.*randomBytes/],
    ['a short secret among long ones', { secret: [secret, 'x'] }, /at least 32/],
    ['an empty secret list', { secret: [] }, /at least 32/],
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
});
