import { SessionSealer } from './session-seal.js';
import { newSessionId } from '../http/session-cookie.js';

const A = 'first-secret-that-is-long-enough-0123456789';
const B = 'second-secret-that-is-long-enough-987654321';

describe('SessionSealer', () => {
  const id = newSessionId();
  const record = { data: { userId: 'u1', cart: [1, 2, { sku: 'x' }] }, createdAt: 1_000, touchedAt: 2_000 };

  it('opens what it sealed, with a fresh salt and IV every time', () => {
    const sealer = new SessionSealer([A], 'sid');
    const one = sealer.seal(id, record);
    const two = sealer.seal(id, record);
    expect(one).not.toBe(two);
    for (const value of [one, two]) {
      const opened = sealer.open(value)!;
      expect(opened.id).toBe(id);
      expect(opened.rotated).toBe(false);
      expect({ ...opened.record, data: { ...opened.record.data } }).toEqual(record);
      expect(Object.getPrototypeOf(opened.record.data)).toBeNull();
    }
  });

  it('refuses any changed byte, a truncation, another secret or another cookie name', () => {
    const sealer = new SessionSealer([A], 'sid');
    const value = sealer.seal(id, record);
    const bytes = Buffer.from(value, 'base64url');
    for (let i = 0; i < bytes.length; i += 7) {
      const changed = Buffer.from(bytes);
      changed[i] ^= 1;
      expect(sealer.open(changed.toString('base64url'))).toBeUndefined();
    }
    expect(sealer.open(value.slice(0, -4))).toBeUndefined();
    expect(new SessionSealer([B], 'sid').open(value)).toBeUndefined();
    expect(new SessionSealer([A], 'other').open(value)).toBeUndefined();
    expect(sealer.open('')).toBeUndefined();
    expect(sealer.open('%%%')).toBeUndefined();
    expect(sealer.open('A'.repeat(10_000))).toBeUndefined();
  });

  it('opens exactly one spelling of a sealed value: a last character differing only in unused bits is refused', () => {
    const sealer = new SessionSealer([A], 'sid');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const remainders = new Set<number>();
    // Values of every length modulo 3, so the last character carries 2 or 4 unused bits, or none.
    for (let pad = 0; pad < 3; pad++) {
      const value = sealer.seal(id, { ...record, data: { ...record.data, pad: 'x'.repeat(pad) } });
      remainders.add(Buffer.from(value, 'base64url').length % 3);
      const opening = [...alphabet].map((c) => value.slice(0, -1) + c).filter((v) => sealer.open(v) !== undefined);
      expect(opening).toEqual([value]);
      // Padding, or a stray character past the end, is no other spelling either.
      expect(sealer.open(`${value}=`)).toBeUndefined();
      expect(sealer.open(`${value}A`)).toBeUndefined();
    }
    expect([...remainders].sort()).toEqual([0, 1, 2]);
  });

  it('seals with the first secret and opens with any, reporting an older one as rotated', () => {
    const old = new SessionSealer([B], 'sid').seal(id, record);
    const both = new SessionSealer([A, B], 'sid');
    expect(both.open(old)?.rotated).toBe(true);
    const current = both.seal(id, record);
    expect(both.open(current)?.rotated).toBe(false);
    expect(new SessionSealer([A], 'sid').open(current)?.id).toBe(id);
  });

  it('refuses authentic data that is not a session, or that would pollute prototypes', () => {
    const sealer = new SessionSealer([A], 'sid');
    // Sealed by this very sealer, so only the shape check can refuse them.
    const forge = (payload: unknown[]): string => sealer.seal(payload[0] as string, { createdAt: payload[1] as number, touchedAt: payload[2] as number, data: payload[3] as Record<string, unknown> });
    expect(sealer.open(forge(['not-an-id', 1, 2, {}]))).toBeUndefined();
    expect(sealer.open(forge([id, 1, 2, JSON.parse('{"__proto__":{"admin":true}}') as Record<string, unknown>]))).toBeUndefined();
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });
});
