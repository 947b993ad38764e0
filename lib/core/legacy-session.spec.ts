import { resolveLegacyOptions } from './legacy-session.js';
import type { SessionLegacyOptions } from '../session-module-options.interface.js';
import type { ExpressSessionStoreLike } from '../stores/express-session.store.js';

const store: ExpressSessionStoreLike = { get: () => undefined, set: () => undefined, destroy: () => undefined };

describe('resolveLegacyOptions', () => {
  it('fills in the documented defaults and keeps the old secrets as they are, short ones included', () => {
    expect(resolveLegacyOptions(undefined, 'sid')).toBeUndefined();
    expect(resolveLegacyOptions({ store, secret: 'keyboard cat' }, 'sid')).toEqual({
      store,
      secrets: ['keyboard cat'],
      cookieName: 'connect.sid',
      cookiePath: '/',
      cookieDomain: undefined,
    });
    expect(resolveLegacyOptions({ store, secret: ['new', 'old'], cookieName: 'app.sid', cookiePath: '/app', cookieDomain: 'example.com' }, 'sid')).toMatchObject({
      secrets: ['new', 'old'],
      cookieName: 'app.sid',
      cookiePath: '/app',
      cookieDomain: 'example.com',
    });
  });

  it.each<[string, unknown, RegExp]>([
    ['no store', { secret: 'x' }, /legacy\.store must be the express-session store the old app used/],
    ['a store without get', { store: { destroy() {} }, secret: 'x' }, /legacy\.store must be/],
    ['no secret', { store }, /legacy\.secret must be the old app's express-session secret/],
    ['an empty secret list', { store, secret: [] }, /legacy\.secret must be/],
    ['an empty secret in the list', { store, secret: ['x', ''] }, /legacy\.secret must be/],
    ['a bad cookie name', { store, secret: 'x', cookieName: 'a b' }, /legacy\.cookieName "a b" is not a valid cookie name/],
    ['our own cookie name', { store, secret: 'x', cookieName: 'sid' }, /legacy\.cookieName "sid" is also the name of this app's cookie.*cookie\.name/],
    ['a relative path', { store, secret: 'x', cookiePath: 'app' }, /legacy\.cookiePath must be a path starting with "\/"/],
  ])('refuses %s, saying what to do', (_, legacy, message) => {
    expect(() => resolveLegacyOptions(legacy as SessionLegacyOptions, 'sid')).toThrow(message);
  });
});
