import type { SessionPatch } from './session-store.interface.js';
import { patchedSessionJson, splicedSessionJson } from './session-json.splice.js';

const patch = (p: Partial<SessionPatch>): SessionPatch => ({ clear: false, set: {}, unset: [], incr: {}, touchedAt: 0, ...p });

/** What MemoryStore.patch did before the splice, written out again here: the reference the splice must match. */
function reference(json: string, p: SessionPatch): string {
  const data = (p.clear ? {} : JSON.parse(json)) as Record<string, unknown>;
  Object.setPrototypeOf(data, null);
  for (const key of p.unset) delete data[key];
  Object.assign(data, p.set);
  for (const key in p.incr) {
    const current = data[key];
    data[key] = (typeof current === 'number' ? current : 0) + p.incr[key]!;
  }
  return JSON.stringify(data);
}

/** The splice's own text (it must not leave it to the object path), checked against the reference, at offset 0 and behind a prefix. */
function spliced(json: string, p: SessionPatch): string {
  const text = splicedSessionJson(json, 0, p);
  expect(text).toBe(reference(json, p));
  const prefix = '\u0001\u0002x12:{"u":1}';
  expect(splicedSessionJson(`${prefix}${json}`, prefix.length, p)).toBe(text);
  return text!;
}

/** Null-prototype data, so that `__proto__` is an ordinary key. */
function data(entries: [string, unknown][]): Record<string, unknown> {
  const object = Object.setPrototypeOf({}, null) as Record<string, unknown>;
  for (const [key, value] of entries) object[key] = value;
  return object;
}

const session = JSON.stringify({ userId: 4242, role: 'customer', cart: [{ sku: 'A-1', qty: 2, price: 9.99 }, { sku: 'B-2', qty: 1, price: 19.5 }, { sku: 'C-3', qty: 3, price: 4.25 }], n: 7 });

describe('splicedSessionJson', () => {
  it('increments, sets and removes top-level values of a typical session', () => {
    expect(spliced(session, patch({ incr: { n: 1 } }))).toBe(session.replace('"n":7', '"n":8'));
    expect(spliced(session, patch({ set: { role: 'admin' } }))).toBe(session.replace('"customer"', '"admin"'));
    expect(spliced(session, patch({ unset: ['cart'] }))).toBe('{"userId":4242,"role":"customer","n":7}');
    expect(spliced(session, patch({ set: { seen: true } }))).toBe(`${session.slice(0, -1)},"seen":true}`);
  });

  it('changes a key at the first, a middle and the last place, and several at once', () => {
    const json = '{"a":1,"b":"two","c":[3],"d":{"e":4}}';
    expect(spliced(json, patch({ set: { a: 'x' } }))).toBe('{"a":"x","b":"two","c":[3],"d":{"e":4}}');
    expect(spliced(json, patch({ set: { c: null } }))).toBe('{"a":1,"b":"two","c":null,"d":{"e":4}}');
    expect(spliced(json, patch({ set: { d: 5 } }))).toBe('{"a":1,"b":"two","c":[3],"d":5}');
    expect(spliced(json, patch({ unset: ['a'] }))).toBe('{"b":"two","c":[3],"d":{"e":4}}');
    expect(spliced(json, patch({ unset: ['b'] }))).toBe('{"a":1,"c":[3],"d":{"e":4}}');
    expect(spliced(json, patch({ unset: ['d'] }))).toBe('{"a":1,"b":"two","c":[3]}');
    expect(spliced(json, patch({ unset: ['a', 'b', 'c', 'd'] }))).toBe('{}');
    expect(spliced(json, patch({ unset: ['b', 'd'], set: { a: 0, z: [1, { y: '}' }] }, incr: { c: 2, w: 1 } }))).toBe('{"a":0,"c":2,"z":[1,{"y":"}"}],"w":1}');
  });

  it('reads from both ends and copies what lies between, read or not', () => {
    const json = '{"a":1,"b":[{"x":"]"}],"c":"\\\\","d":{"e":"\\"}"},"f":true,"g":null,"h":-1.5e-7}';
    expect(spliced(json, patch({ set: { b: 0 } }))).toBe('{"a":1,"b":0,"c":"\\\\","d":{"e":"\\"}"},"f":true,"g":null,"h":-1.5e-7}');
    expect(spliced(json, patch({ set: { g: 0 } }))).toBe('{"a":1,"b":[{"x":"]"}],"c":"\\\\","d":{"e":"\\"}"},"f":true,"g":0,"h":-1.5e-7}');
    expect(spliced(json, patch({ unset: ['b', 'g'] }))).toBe('{"a":1,"c":"\\\\","d":{"e":"\\"}"},"f":true,"h":-1.5e-7}');
    expect(spliced(json, patch({ set: { c: 'x' }, incr: { h: 1 } }))).toBe('{"a":1,"b":[{"x":"]"}],"c":"x","d":{"e":"\\"}"},"f":true,"g":null,"h":0.99999985}');
    expect(spliced(json, patch({ unset: ['d'], set: { z: 1 } }))).toBe('{"a":1,"b":[{"x":"]"}],"c":"\\\\","f":true,"g":null,"h":-1.5e-7,"z":1}');
    expect(spliced(json, patch({ unset: ['a', 'h'] }))).toBe('{"b":[{"x":"]"}],"c":"\\\\","d":{"e":"\\"}"},"f":true,"g":null}');
  });

  it('replaces an object by a number and a number by an object', () => {
    const json = '{"o":{"p":{"q":[1,2,{"r":"]"}]}},"n":1}';
    expect(spliced(json, patch({ set: { o: 5, n: { deep: ['{'] } } }))).toBe('{"o":5,"n":{"deep":["{"]}}');
  });

  it('skips braces, brackets, quotes, colons and commas inside strings, and escaped quotes and backslashes', () => {
    const json = JSON.stringify({ s: '{"a":1,"n":2}', t: 'back\\slash\\', u: 'quote"in"', v: ['}', ']', '\\"', { w: '\\\\"' }], n: 1 });
    expect(spliced(json, patch({ incr: { n: 1 } }))).toBe(json.replace('"n":1}', '"n":2}'));
    expect(spliced(json, patch({ set: { v: 0 } }))).toContain('"v":0,"n":1}');
    expect(spliced(json, patch({ unset: ['t', 'u'] }))).toBe(JSON.stringify({ s: '{"a":1,"n":2}', v: ['}', ']', '\\"', { w: '\\\\"' }], n: 1 }));
  });

  it('matches keys exactly, as JSON.stringify writes them', () => {
    const keys = data([
      ['"q"', 1],
      ['back\\slash', 2],
      ['é😀', 3],
      ['', 4],
      ['a:b', 5],
      ['n ', 6],
      ['\u0001\n', 7],
      ['\ud800', 8],
      ['n', 9],
    ]);
    const json = JSON.stringify(keys);
    for (const key of Object.keys(keys)) {
      expect(JSON.parse(spliced(json, patch({ incr: { [key]: 10 } })))[key]).toBe((keys[key] as number) + 10);
      expect(Object.keys(JSON.parse(spliced(json, patch({ unset: [key] }))))).toEqual(Object.keys(keys).filter((k) => k !== key));
    }
    // A key only like a stored one (a prefix, or escaped differently) is another key.
    expect(spliced(json, patch({ set: { '"q': 0, 'back\\': 0, é: 0, q: 0 } }))).toBe(`${json.slice(0, -1)},"\\"q":0,"back\\\\":0,"é":0,"q":0}`);
  });

  it('keeps unicode text as it is', () => {
    const json = JSON.stringify({ a: 'é €😀\u2028', b: '\ud83d', c: 1 });
    expect(spliced(json, patch({ incr: { c: 1 }, set: { d: '日本' } }))).toBe(JSON.stringify({ a: 'é €😀\u2028', b: '\ud83d', c: 2, d: '日本' }));
  });

  it('patches the empty object', () => {
    expect(spliced('{}', patch({}))).toBe('{}');
    expect(spliced('{}', patch({ unset: ['a'] }))).toBe('{}');
    expect(spliced('{}', patch({ set: { a: 1 }, incr: { n: 2 } }))).toBe('{"a":1,"n":2}');
  });

  it('ignores the unset of an absent key', () => {
    expect(spliced('{"a":1}', patch({ unset: ['b', 'a"'] }))).toBe('{"a":1}');
  });

  it('increments an absent key, a non-number and a float as JavaScript adds them', () => {
    const json = '{"s":"5","t":true,"nil":null,"o":{"n":1},"a":[1],"f":0.1,"neg":-2.5,"big":1e+21}';
    expect(spliced(json, patch({ incr: { s: 1, t: 1, nil: 1, o: 1, a: 1, f: 0.2, neg: 1, big: 1, absent: -3 } }))).toBe(
      '{"s":1,"t":1,"nil":1,"o":1,"a":1,"f":0.30000000000000004,"neg":-1.5,"big":1e+21,"absent":-3}',
    );
    expect(spliced('{"n":1}', patch({ incr: { n: Number.NaN } }))).toBe('{"n":null}');
  });

  it('increments after setting, and adds again at the end a key removed and set', () => {
    expect(spliced('{"a":1,"b":2}', patch({ set: { a: 10 }, incr: { a: 1 } }))).toBe('{"a":11,"b":2}');
    expect(spliced('{"a":1,"b":2}', patch({ set: { a: 'x' }, incr: { a: 1 } }))).toBe('{"a":1,"b":2}');
    expect(spliced('{"a":1,"b":2}', patch({ unset: ['a'], set: { a: 3 } }))).toBe('{"b":2,"a":3}');
    expect(spliced('{"a":1,"b":2}', patch({ unset: ['a'], incr: { a: 3 } }))).toBe('{"b":2,"a":3}');
    expect(spliced('{"a":1,"b":2}', patch({ unset: ['a'], set: { z: 0 }, incr: { a: 3 } }))).toBe('{"b":2,"z":0,"a":3}');
  });

  it('drops a key set to undefined, as JSON.stringify does, but increments it in its place', () => {
    expect(spliced('{"a":1,"b":2}', patch({ set: { a: undefined, c: undefined } }))).toBe('{"b":2}');
    expect(spliced('{"a":1,"b":2}', patch({ set: { a: undefined }, incr: { a: 5 } }))).toBe('{"a":5,"b":2}');
  });

  it('treats __proto__ as an ordinary key, stored or given', () => {
    const json = '{"__proto__":{"userId":"victim"},"a":1}';
    expect(spliced(json, patch({ incr: { a: 1 } }))).toBe('{"__proto__":{"userId":"victim"},"a":2}');
    expect(spliced(json, patch({ set: JSON.parse('{"__proto__":{"admin":true}}') }))).toBe('{"__proto__":{"admin":true},"a":1}');
    expect(spliced(json, patch({ unset: ['__proto__'] }))).toBe('{"a":1}');
    expect(spliced('{"a":1}', patch({ set: data([['__proto__', 1]]) }))).toBe('{"a":1,"__proto__":1}');
    // An object literal's __proto__ is its prototype, not a key: nothing is set, and nothing inherited either.
    expect(spliced('{"a":1}', patch({ set: { __proto__: { polluted: 1 } } as Record<string, unknown> }))).toBe('{"a":1}');
    const parsed = JSON.parse(patchedSessionJson(json, 0, patch({ incr: { a: 1 } }))) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['__proto__', 'a']);
  });

  it('changes integer-like keys stored, and leaves adding one to the object path, which orders them first', () => {
    const json = '{"1":1,"2":2,"a":3}';
    expect(spliced(json, patch({ set: { 2: 'x' }, unset: ['1'] }))).toBe('{"2":"x","a":3}');
    expect(splicedSessionJson(json, 0, patch({ set: { 0: 0 } }))).toBeUndefined();
    expect(splicedSessionJson(json, 0, patch({ unset: ['2'], incr: { 2: 1 } }))).toBeUndefined();
    expect(patchedSessionJson(json, 0, patch({ set: { 0: 0 } }))).toBe('{"0":0,"1":1,"2":2,"a":3}');
    expect(spliced(json, patch({ set: { '01': 0, '-1': 0, '1.5': 0 } }))).toBe('{"1":1,"2":2,"a":3,"01":0,"-1":0,"1.5":0}');
  });

  it('leaves clear, toJSON values and large patches to the object path', () => {
    expect(splicedSessionJson('{"a":1}', 0, patch({ clear: true, set: { b: 1 } }))).toBeUndefined();
    expect(patchedSessionJson('{"a":1}', 0, patch({ clear: true, set: { b: 1 } }))).toBe('{"b":1}');
    const keyed = { toJSON: (key: string) => key };
    expect(splicedSessionJson('{"a":1}', 0, patch({ set: { k: keyed } }))).toBeUndefined();
    expect(patchedSessionJson('{"a":1}', 0, patch({ set: { k: keyed } }))).toBe('{"a":1,"k":"k"}');
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
    expect(splicedSessionJson('{"a":1}', 0, patch({ set: many }))).toBeUndefined();
    expect(patchedSessionJson('{"a":1}', 0, patch({ set: many }))).toBe(reference('{"a":1}', patch({ set: many })));
    expect(spliced('{"a":1}', patch({ set: Object.fromEntries(Object.entries(many).slice(0, 16)) }))).toContain('"k15":15}');
  });

  it('refuses text that JSON.stringify does not write, up to where it found every key named', () => {
    for (const text of ['', '[]', '{', '{"a":1', '{"a":1}x', '{ "a":1}', '{"a" :1}', '{"a":}', '{"a":1,}', '{"a":"1}', '{"a":[1}', 'null']) {
      expect(splicedSessionJson(text, 0, patch({ incr: { z: 1 } }))).toBeUndefined();
    }
  });

  it('throws where JSON.stringify throws', () => {
    expect(() => patchedSessionJson('{"a":1}', 0, patch({ set: { b: 1n } }))).toThrow(TypeError);
  });
});

/** A seeded generator (mulberry32): the same cases on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('splicedSessionJson against parse, apply and stringify', () => {
  const next = random(24);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const KEYS = ['a', 'b', 'n', 'role', 'cart', '"q"', 'back\\slash', 'é😀', '', 'a:b', '{', ',', '1', '10', '01', '__proto__', 'n\u0000', '\ud800'];
  const CHARS = ['a', 'z', '"', '\\', '\\\\', '\\"', '"\\', '{', '}', '[', ']', ':', ',', ' ', 'é', '😀', '\ud83d', '\udc00', '\n', '\u0000', '\u2028', '\u007f', 'n', '1', '-'];
  const text = (): string => Array.from({ length: Math.floor(next() * 6) }, () => pick(CHARS)).join('');
  const number = (): number => pick([0, -0, 1, -1, 42, 0.1, -2.5, 1e21, 1e-7, 5e-324, 4242, Number.MAX_SAFE_INTEGER, Number.NaN, Infinity, Math.floor(next() * 1000) - 500, next() * 100]);
  const value = (depth: number): unknown => {
    const kind = Math.floor(next() * (depth > 2 ? 4 : 6));
    if (kind === 0) return text();
    if (kind === 1) return number();
    if (kind === 2) return pick([true, false, null]);
    if (kind === 3) return pick([text(), number()]);
    if (kind === 4) return Array.from({ length: Math.floor(next() * 4) }, () => value(depth + 1));
    return object(depth + 1);
  };
  const object = (depth: number): Record<string, unknown> => {
    const entries: [string, unknown][] = [];
    for (let i = Math.floor(next() * (depth === 0 ? 10 : 5)); i > 0; i--) entries.push([next() < 0.7 ? pick(KEYS) : text(), value(depth)]);
    return data(entries);
  };
  const someKeys = (): string[] => Array.from({ length: Math.floor(next() * 3) }, () => (next() < 0.9 ? pick(KEYS) : text()));

  it('gives the same text for thousands of random sessions and patches', () => {
    let byObject = 0;
    const cases = 5_000;
    for (let c = 0; c < cases; c++) {
      const json = JSON.stringify(object(0));
      const set = next() < 0.5 ? data([]) : ({} as Record<string, unknown>);
      for (const key of someKeys()) set[key] = next() < 0.1 ? undefined : value(1);
      const incr = (next() < 0.5 ? data([]) : {}) as Record<string, number>;
      for (const key of someKeys()) incr[key] = number();
      const p = patch({ clear: next() < 0.02, set, unset: someKeys(), incr });
      const expected = reference(json, p);
      const spliced = splicedSessionJson(json, 0, p);
      if (spliced === undefined) byObject++;
      else expect(spliced).toBe(expected);
      expect(patchedSessionJson(`xx${json}`, 2, p)).toBe(expected);
    }
    // Most go through the splice: the object path is only for clear and for integer-like keys added.
    expect(byObject).toBeLessThan(cases * 0.25);
  });
});
