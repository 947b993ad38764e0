import { SessionTooLargeError } from './session.errors.js';

/** Bytes of `value`'s JSON (UTF-8), as a store would write it. */
function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/** At most how many bytes of UTF-8 a JSON text of `length` UTF-16 units takes (3 per unit: a surrogate pair's 4 bytes are 2 units). */
function bytesAtMost(length: number): number {
  return length * 3;
}

/**
 * Throws a {@link SessionTooLargeError} if setting `key` to `value` would make `data` larger than
 * `limit` bytes of JSON (`0`: no limit). Checked before the change, so a refused `set()` changes nothing.
 */
export function assertSessionSize(data: Record<string, unknown>, key: string, value: unknown, limit: number): void {
  if (limit === 0) return;
  // A value no larger than the one it replaces cannot take the session over the limit, and one
  // that shrinks a session already over it (the limit was lowered) is let through: no need to
  // serialize the whole session.
  if (key in data && jsonBytes(value) <= jsonBytes(data[key])) return;
  // Far under the limit (most sets): the session as it is plus `"key":value,` cannot go over it,
  // whatever the key replaces, so no copy of the session with the new value is made and measured.
  const bound = (JSON.stringify(data).length + JSON.stringify(key).length + (JSON.stringify(value)?.length ?? 0) + 2);
  if (bytesAtMost(bound) <= limit) return;
  const next = { ...data };
  Object.defineProperty(next, key, { value, enumerable: true, writable: true, configurable: true });
  const size = jsonBytes(next);
  if (size > limit) throw new SessionTooLargeError(key, size, limit);
}

/**
 * Throws a {@link SessionTooLargeError} if `data` is larger than `limit` bytes of JSON, naming the
 * largest of `keys` (the values this request wrote or changed in place): checked before a save.
 */
export function assertSavedSize(data: Record<string, unknown>, keys: Iterable<string>, limit: number): void {
  if (limit === 0) return;
  const json = JSON.stringify(data);
  if (bytesAtMost(json.length) <= limit) return;
  const size = Buffer.byteLength(json, 'utf8');
  if (size <= limit) return;
  let culprit = '';
  let largest = -1;
  for (const key of keys) {
    const bytes = key in data ? jsonBytes(data[key]) : 0;
    if (bytes > largest) [culprit, largest] = [key, bytes];
  }
  throw new SessionTooLargeError(culprit, size, limit);
}
