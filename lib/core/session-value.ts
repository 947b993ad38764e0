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
      const reason = unstorableReason((value as Record<string, unknown>)[key], `${path}.${key}`, seen);
      if (reason) return reason;
    }
    return undefined;
  } finally {
    seen.pop();
  }
}

/** A value given to the session cannot be stored (a `TypeError`, so `instanceof TypeError` holds). */
export class SessionValueError extends TypeError {
  override readonly name = 'SessionValueError';
}

/** Throws a {@link SessionValueError} naming `key` when `value` cannot be stored. */
export function assertStorable(key: string, value: unknown): void {
  const reason = unstorableReason(value, key);
  if (reason !== undefined) {
    throw new SessionValueError(`Session value for key "${key}" cannot be stored: ${reason}. Sessions keep plain JSON data only; the session was not changed.`);
  }
}
