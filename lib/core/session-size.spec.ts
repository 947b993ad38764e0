import { assertSavedSize, assertSessionSize } from './session-size.js';
import { SessionTooLargeError } from './session.errors.js';

/** Exact bytes of the session `data` with `key` set to `value`, as a store would write it. */
function bytesWith(data: Record<string, unknown>, key: string, value: unknown): number {
  return Buffer.byteLength(JSON.stringify({ ...data, [key]: value }), 'utf8');
}

function refusal(run: () => void): SessionTooLargeError | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof SessionTooLargeError) return error;
    throw error;
  }
}

describe('session size limits', () => {
  // Multi-byte text: the quick bound (3 bytes per UTF-16 unit) is far from the exact size, so
  // the cases at the limit are decided by the exact measure.
  const texts = ['ascii', 'é', '€', '😀', 'mixed é € 😀 text', '"quoted\\"', '\u0001control'];

  it.each(texts)('a set is refused exactly when the session would pass the limit (%j)', (text) => {
    const data: Record<string, unknown> = { a: text.repeat(3), b: [1, { c: text }] };
    for (const [key, value] of [
      ['a', text.repeat(9)],
      ['new', text.repeat(5)],
      ['b', { deep: [text, text] }],
    ] as const) {
      const size = bytesWith(data, key, value);
      for (const limit of [size - 1, size, size + 1, size * 3]) {
        const error = refusal(() => assertSessionSize(data, key, value, limit));
        if (size > limit) {
          expect(error).toBeDefined();
          expect(error?.size).toBe(size);
          expect(error?.key).toBe(key);
        } else expect(error).toBeUndefined();
      }
    }
  });

  it('a value no larger than the one it replaces passes, even in a session over the limit', () => {
    const data = { big: 'x'.repeat(100) };
    expect(refusal(() => assertSessionSize(data, 'big', 'y'.repeat(50), 10))).toBeUndefined();
    expect(refusal(() => assertSessionSize(data, 'big', 'y'.repeat(101), 10))?.size).toBe(bytesWith(data, 'big', 'y'.repeat(101)));
  });

  it('a "__proto__" key is measured as an own key', () => {
    const data = Object.create(null) as Record<string, unknown>;
    const size = Buffer.byteLength('{"__proto__":"' + 'v'.repeat(40) + '"}', 'utf8');
    expect(refusal(() => assertSessionSize(data, '__proto__', 'v'.repeat(40), size - 1))?.size).toBe(size);
    expect(refusal(() => assertSessionSize(data, '__proto__', 'v'.repeat(40), size))).toBeUndefined();
  });

  it('no limit (0) lets anything through', () => {
    expect(refusal(() => assertSessionSize({}, 'k', 'x'.repeat(100_000), 0))).toBeUndefined();
    expect(refusal(() => assertSavedSize({ k: 'x'.repeat(100_000) }, ['k'], 0))).toBeUndefined();
  });

  it.each(texts)('a save is refused exactly over the limit, naming the largest key written (%j)', (text) => {
    const data = { small: text, large: text.repeat(20), other: text.repeat(40) };
    const size = Buffer.byteLength(JSON.stringify(data), 'utf8');
    expect(refusal(() => assertSavedSize(data, ['small', 'large'], size))).toBeUndefined();
    const error = refusal(() => assertSavedSize(data, ['small', 'large'], size - 1));
    expect(error?.size).toBe(size);
    expect(error?.key).toBe('large');
  });
});
