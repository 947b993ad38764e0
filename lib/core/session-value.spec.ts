import { SessionValueError, assertStorable, CheckedSessionRecord, jsonMayHoldReservedKey, recordFromJson, reservedKeyIn, storedRecordData, storedSessionData, unstorableReason } from './session-value.js';
import { SessionError } from './session.errors.js';

describe('session values', () => {
  it('accepts plain JSON data, shared (non-circular) references included', () => {
    const shared = { a: 1 };
    for (const value of ['s', 0, -1.5, true, null, [], {}, [1, 'a', null, { b: [true] }], { x: shared, y: shared }, Object.create(null)]) {
      expect(unstorableReason(value, 'k')).toBeUndefined();
    }
  });

  it.each<[string, unknown, RegExp]>([
    ['a function', () => 1, /key "k" cannot be stored: k is a function/],
    ['a symbol', Symbol('s'), /k is a symbol/],
    ['a bigint', 1n, /k is a bigint/],
    ['undefined', undefined, /k is undefined/],
    ['NaN', NaN, /k is NaN/],
    ['Infinity', Infinity, /k is Infinity/],
    ['a Date', new Date(), /k is a Date.*toISOString/],
    ['a Map', new Map(), /k is a Map/],
    ['a class instance', new (class Cart {})(), /k is a Cart/],
    ['a nested function', { a: [{ b: () => 1 }] }, /k\.a\[0\]\.b is a function/],
    ['an undefined property', { a: undefined }, /k\.a is undefined/],
    // eslint-disable-next-line no-sparse-arrays -- the hole is what is tested
    ['an array hole', [1, , 3], /k\[1\] is an empty slot/],
    ['symbol keys', { [Symbol('x')]: 1 }, /symbol keys/],
  ])('refuses %s with a SessionValueError naming the key and the path', (_, value, message) => {
    expect(() => assertStorable('k', value)).toThrow(message);
    expect(() => assertStorable('k', value)).toThrow(SessionError);
    expect(() => assertStorable('k', value)).toThrow(SessionValueError);
  });

  it('refuses circular structures', () => {
    const a: Record<string, unknown> = { n: 1 };
    a.self = a;
    expect(() => assertStorable('cart', a)).toThrow(/cart\.self refers back to itself/);
    const list: unknown[] = [];
    list.push({ list });
    expect(() => assertStorable('l', list)).toThrow(/l\[0\]\.list refers back/);
  });

  it('finds a reserved key at any depth in stored data, and refuses to load it', () => {
    expect(reservedKeyIn({ a: 1, cart: [{ sku: 'x', tags: ['proto'] }], profile: { name: 'constructor' } })).toBeUndefined();
    expect(reservedKeyIn(JSON.parse('{"a":1,"__proto__":{"x":1}}'))).toBe('__proto__');
    expect(reservedKeyIn(JSON.parse('{"cart":[{"sku":"x"},{"constructor":{}}]}'))).toBe('cart[1].constructor');
    expect(reservedKeyIn(JSON.parse('{"profile":{"name":"x","prototype":1}}'))).toBe('profile.prototype');
    expect(() => storedSessionData(JSON.parse('{"profile":{"__proto__":{"userId":"victim"}}}'))).toThrow(/reserved key at "profile\.__proto__"/);
    const loaded = storedSessionData({ a: 1, b: { c: 2 } });
    expect(Object.getPrototypeOf(loaded)).toBeNull();
    expect(loaded).toEqual({ a: 1, b: { c: 2 } });
  });

  it('tells JSON that may hold a reserved key from JSON that cannot', () => {
    for (const data of [{ a: 1 }, { cart: [{ sku: 'x', qty: 2 }] }, { name: 'protein' }]) expect(jsonMayHoldReservedKey(JSON.stringify(data))).toBe(false);
    // The words in a value: a false yes, which only costs the full check.
    expect(jsonMayHoldReservedKey(JSON.stringify({ topic: 'prototyping' }))).toBe(true);
    for (const json of ['{"__proto__":{}}', '{"a":{"constructor":1}}', '{"a":[{"prototype":1}]}']) expect(jsonMayHoldReservedKey(json)).toBe(true);
    // A key spelled with escapes, as another program may write it, is never taken for safe.
    for (const json of ['{"__pr\\u006fto__":{}}', '{"a":{"\\u0063onstructor":1}}']) {
      expect(jsonMayHoldReservedKey(json)).toBe(true);
      expect(reservedKeyIn(JSON.parse(json) as Record<string, unknown>)).toBeDefined();
    }
  });

  it('parses stored JSON into a record the runtime takes as it is, unless the text may hold a reserved key', () => {
    const record = recordFromJson('{"a":1,"cart":[{"sku":"x"}]}', 1, 2, 'u1');
    expect(record).toBeInstanceOf(CheckedSessionRecord);
    expect(record).toEqual({ data: { a: 1, cart: [{ sku: 'x' }] }, createdAt: 1, touchedAt: 2, user: 'u1' });
    expect(Object.getPrototypeOf(record.data)).toBeNull();
    expect(storedRecordData(record)).toBe(record.data);
    // Reserved keys, plain or escaped, at any depth: a plain record, which the runtime refuses.
    for (const json of ['{"a":1,"__proto__":{"userId":"victim"}}', '{"p":{"__pr\\u006fto__":{"userId":"victim"}}}', '{"\\u005f_proto__":{}}']) {
      const plain = recordFromJson(json, 1, 2, undefined);
      expect(plain).not.toBeInstanceOf(CheckedSessionRecord);
      expect(plain).toEqual(expect.objectContaining({ createdAt: 1, touchedAt: 2 }));
      expect(() => storedRecordData(plain)).toThrow(SessionValueError);
    }
    // A word in a value only costs the full check, which passes.
    const word = recordFromJson('{"topic":"prototyping"}', 1, 2, undefined);
    expect(word).not.toBeInstanceOf(CheckedSessionRecord);
    expect(storedRecordData(word)).toEqual({ topic: 'prototyping' });
    // Text that is not an object is left to the runtime's check as it is.
    for (const json of ['null', '[1]', '"text"', '3']) expect(recordFromJson(json, 1, 2, undefined)).not.toBeInstanceOf(CheckedSessionRecord);
  });

  it('takes the data of a record a store already checked as it is, once', () => {
    const data = Object.setPrototypeOf({ a: 1 }, null) as Record<string, unknown>;
    const record = new CheckedSessionRecord(data, 1, 2, undefined);
    expect(record).toEqual({ data: { a: 1 }, createdAt: 1, touchedAt: 2 });
    expect(storedRecordData(record)).toBe(data);
    // A second time it is checked and copied like any data.
    const again = storedRecordData(record);
    expect(again).not.toBe(data);
    expect(again).toEqual({ a: 1 });
    // Any other record is checked.
    expect(() => storedRecordData({ data: JSON.parse('{"a":{"__proto__":{}}}'), createdAt: 1, touchedAt: 2 })).toThrow(/reserved key at "a\.__proto__"/);
  });
});
