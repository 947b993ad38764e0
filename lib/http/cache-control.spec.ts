import { privateCacheControl } from './cache-control.js';

describe('privateCacheControl', () => {
  it('asks for no-store when the handler set nothing', () => {
    expect(privateCacheControl(undefined)).toBe('no-store');
  });

  it.each(['no-store', 'private', 'Private, max-age=60', 'max-age=0, NO-STORE', ' private ,max-age=5'])(
    'keeps %j, which already keeps shared caches away',
    (value) => {
      expect(privateCacheControl(value)).toBeUndefined();
    },
  );

  it.each([
    ['x-private-ext, public, max-age=600', 'private, x-private-ext, max-age=600'],
    ['public, max-age=600', 'private, max-age=600'],
    ['PUBLIC', 'private'],
    ['max-age=600', 'private, max-age=600'],
    ['no-cache="x-no-store, private", max-age=60', 'private, no-cache="x-no-store, private", max-age=60'],
    ['private="Set-Cookie", max-age=60', 'private, private="Set-Cookie", max-age=60'],
    ['s-maxage=600,public', 'private, s-maxage=600'],
    ['x-ext="a\\"b, private", public', 'private, x-ext="a\\"b, private"'],
    ['', 'private'],
  ])('parses %j into directives and makes it %j', (value, expected) => {
    expect(privateCacheControl(value)).toBe(expected);
  });
});
