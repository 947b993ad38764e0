import type { SessionRecord } from '../stores/session-store.interface.js';
import { SessionError } from './session.errors.js';

/**
 * Keys refused anywhere in session data: assigned to an ordinary object, `__proto__` replaces its
 * prototype, and `constructor` / `prototype` are the usual next steps of prototype pollution.
 */
const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** True for a key session data may not use (`__proto__`, `constructor`, `prototype`). */
export function isReservedKey(key: string): boolean {
  return RESERVED_KEYS.has(key);
}

function reservedKeyReason(path: string, key: string): string {
  return `${path} has the key "${key}", which is refused because it could change object prototypes (prototype pollution)`;
}

/** An empty object for session data: no prototype, so no key can reach or replace `Object.prototype`. */
export function emptySessionData(): Record<string, unknown> {
  // Not Object.create(null), which makes a dictionary object (about 180 bytes, slower to fill and read).
  return Object.setPrototypeOf({}, null) as Record<string, unknown>;
}

/**
 * Why `value` would not survive a JSON round trip through a store, or `undefined` if it would.
 * Only plain data passes: strings, finite numbers, booleans, null, arrays and plain objects.
 */
export function unstorableReason(value: unknown, path: string, seen: unknown[] = []): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON turns into null`;
    case 'undefined':
      return `${path} is undefined, which JSON drops; use delete() or null`;
    case 'function':
      return `${path} is a function`;
    case 'symbol':
      return `${path} is a symbol`;
    case 'bigint':
      return `${path} is a bigint; store it as a string`;
  }
  if (value === null) return undefined;
  if (seen.includes(value)) return `${path} refers back to itself (circular structure)`;
  seen.push(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) return `${path}[${i}] is an empty slot, which JSON turns into null`;
        const reason = unstorableReason(value[i], `${path}[${i}]`, seen);
        if (reason) return reason;
      }
      return undefined;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as object).constructor?.name ?? 'object';
      const hint = value instanceof Date ? '; store date.toISOString() or date.getTime()' : '; store a plain object or array';
      return `${path} is a ${kind}, which JSON does not restore${hint}`;
    }
    if (Object.getOwnPropertySymbols(value as object).length > 0) return `${path} has symbol keys, which JSON drops`;
    for (const key of Object.keys(value as object)) {
      if (isReservedKey(key)) return reservedKeyReason(path, key);
      const reason = unstorableReason((value as Record<string, unknown>)[key], `${path}.${key}`, seen);
      if (reason) return reason;
    }
    return undefined;
  } finally {
    seen.pop();
  }
}

/** A value given to the session cannot be stored: the message names the key and why; the session is unchanged. */
export class SessionValueError extends SessionError {
  override readonly name = 'SessionValueError';
}

/** Throws a {@link SessionValueError} naming `key` when `value` cannot be stored. */
export function assertStorable(key: string, value: unknown): void {
  const reason = unstorableReason(value, key);
  if (reason !== undefined) {
    throw new SessionValueError(`Session value for key "${key}" cannot be stored: ${reason}. Sessions keep plain JSON data only; the session was not changed.`);
  }
}

/** Throws a {@link SessionValueError} when `key` is one session data may not use. */
export function assertSessionKey(key: string): void {
  if (isReservedKey(key)) {
    throw new SessionValueError(`Session key "${key}" is not allowed: it could change object prototypes (prototype pollution). Use another name; the session was not changed.`);
  }
}

/** The path of the first reserved key inside `value`, or `undefined` (JSON data, so no cycles). */
function reservedKeyPath(value: unknown, path: string): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = reservedKeyPath(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (isReservedKey(key)) return `${path}.${key}`;
    const found = reservedKeyPath((value as Record<string, unknown>)[key], `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * True when `value` may hold a reserved key at any depth. The walk a read makes on every request:
 * no key list, no path string, nothing allocated. `for...in` sees every own enumerable key (and
 * inherited ones, which can only make it say yes; the exact walk then decides).
 */
function mayHoldReservedKey(value: object): boolean {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === 'object' && mayHoldReservedKey(item)) return true;
    }
    return false;
  }
  for (const key in value) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') return true;
    const item = (value as Record<string, unknown>)[key];
    if (item !== null && typeof item === 'object' && mayHoldReservedKey(item)) return true;
  }
  return false;
}

/**
 * A record that a store of this package built from JSON it wrote itself (internal): its data is a
 * new object with a null prototype and no reserved key at any depth, shared with nothing, which is
 * what {@link storedSessionData} would make of it. The runtime takes such data as it is, once
 * ({@link storedRecordData}); a record of any other making is checked and copied. A class rather
 * than a mark kept aside: `instanceof` costs nothing, a `WeakSet` entry per read does.
 */
export class CheckedSessionRecord implements SessionRecord {
  /** Set when the runtime took the data: a record handed out again is checked like any other. */
  taken: true | undefined;
  user?: string;

  constructor(
    public data: Record<string, unknown>,
    public createdAt: number,
    public touchedAt: number,
    user: string | undefined,
  ) {
    if (user !== undefined) this.user = user;
  }
}

/**
 * True when JSON text may hold a reserved key: every such key contains `proto` or `constructor`,
 * and JSON can spell a letter otherwise only as a `\u` escape (which `JSON.stringify` never writes
 * for one, so text written by another program that uses one is checked in full). Only a false yes
 * is possible (the words inside a value, an escaped control character), and it costs only the
 * full check.
 */
export function jsonMayHoldReservedKey(json: string): boolean {
  return json.includes('proto') || json.includes('constructor') || json.includes('\\u');
}

/**
 * A record whose data a store read back as JSON text (internal): parsed, given a null prototype,
 * and, when the text cannot hold a reserved key, a {@link CheckedSessionRecord} that the runtime
 * takes without walking and copying it again. Text that is not a JSON object gives a plain record,
 * which the runtime checks as it checks any other.
 */
export function recordFromJson(json: string, createdAt: number, touchedAt: number, user: string | undefined): SessionRecord {
  const data = JSON.parse(json) as Record<string, unknown>;
  const object = data !== null && typeof data === 'object' && !Array.isArray(data);
  // The parsed object itself loses its prototype: a copy into Object.create(null) would be a
  // slow dictionary object, built key by key (JSON.parse makes `__proto__` an own key, never the prototype).
  if (object) Object.setPrototypeOf(data, null);
  if (object && !jsonMayHoldReservedKey(json)) return new CheckedSessionRecord(data, createdAt, touchedAt, user);
  return user === undefined ? { data, createdAt, touchedAt } : { data, createdAt, touchedAt, user };
}

/**
 * Session data as read from a store, checked and copied into a prototype-less object. Throws a
 * {@link SessionValueError} when it holds a reserved key anywhere (a record written before such
 * keys were refused, or by another program).
 */
export function storedSessionData(data: Record<string, unknown>): Record<string, unknown> {
  const path = reservedKeyIn(data);
  if (path !== undefined) {
    throw new SessionValueError(
      `Session data read from the store has a reserved key at "${path}", refused because it could change object prototypes (prototype pollution). The session was not loaded; remove it from the store (SessionService.destroy(handle)).`,
    );
  }
  const copy = emptySessionData();
  for (const key in data) if (Object.hasOwn(data, key)) copy[key] = data[key];
  return copy;
}

/** The data of a record read from a store, as {@link storedSessionData} makes it; that of a {@link CheckedSessionRecord} as it is, the first time. */
export function storedRecordData(record: SessionRecord): Record<string, unknown> {
  if (record instanceof CheckedSessionRecord && record.taken === undefined) {
    record.taken = true;
    return record.data;
  }
  return storedSessionData(record.data);
}

/** The path of the first reserved key in session data read from a store (`__proto__`, `cart.constructor`), or `undefined`. */
export function reservedKeyIn(data: Record<string, unknown>): string | undefined {
  if (!mayHoldReservedKey(data)) return undefined;
  for (const key of Object.keys(data)) {
    const path = isReservedKey(key) ? key : reservedKeyPath(data[key], key);
    if (path !== undefined) return path;
  }
  return undefined;
}
