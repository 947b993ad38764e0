import type { SessionPatch } from './session-store.interface.js';

// A patch applied to session JSON (internal, for MemoryStore): in the text itself when it can be,
// without parsing and re-serializing the whole session for the few values a request changes.

/** The most keys a patch may name for the splice: each stored key is compared with each of them. */
const MAX_KEYS = 16;

const UNSET = 1;
const SET = 2;
const INCR = 4;

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/**
 * The session JSON `json.slice(start)` with `patch` applied (`touchedAt` and `user` aside): the
 * same text JSON.parse, then the patch on the object, then JSON.stringify make.
 */
export function patchedSessionJson(json: string, start: number, patch: SessionPatch): string {
  return (patch.clear ? undefined : splicedSessionJson(json, start, patch)) ?? reparsedSessionJson(json.slice(start), patch);
}

/** {@link patchedSessionJson} through the object: for what the splice leaves (`clear` among them). */
export function reparsedSessionJson(json: string, patch: SessionPatch): string {
  // Prototype-less before any key is assigned, so that no key given here can reach Object.prototype.
  const data = (patch.clear ? {} : JSON.parse(json)) as Record<string, unknown>;
  Object.setPrototypeOf(data, null);
  for (const key of patch.unset) delete data[key];
  Object.assign(data, patch.set);
  for (const key in patch.incr) {
    const current = data[key];
    data[key] = (typeof current === 'number' ? current : 0) + patch.incr[key]!;
  }
  return JSON.stringify(data);
}

/**
 * {@link patchedSessionJson} in the text: `json` from `start` must be what JSON.stringify made of an
 * object. Each top-level value the patch names is replaced, dropped or added at the end, the rest
 * copied as it is. `undefined` when the splice would not give the same text (`clear`, a value with
 * its own `toJSON`, an integer-like key to add, which objects order first, or too many keys).
 */
export function splicedSessionJson(json: string, start: number, patch: SessionPatch): string | undefined {
  if (patch.clear) return undefined;
  // Each key once, as JSON (how it appears in the text), with what the patch does to it. The set
  // keys come first, then the increments: the order in which keys not stored are appended, as
  // Object.assign and then the increments add them to an object.
  const quoted: string[] = [];
  const ops: number[] = [];
  const values: unknown[] = [];
  const increments: number[] = [];
  const { set, incr } = patch;
  for (const key in set) {
    if (!Object.hasOwn(set, key)) continue;
    const value = set[key];
    // JSON.stringify gives toJSON the key its value has in the object: here it would get "".
    if (value != null && typeof (value as { toJSON?: unknown }).toJSON === 'function') return undefined;
    const at = slot(quoted, ops, key);
    if (at < 0) return undefined;
    ops[at]! |= SET;
    values[at] = value;
  }
  for (const key in incr) {
    const at = slot(quoted, ops, key);
    if (at < 0) return undefined;
    ops[at]! |= INCR;
    increments[at] = incr[key]!;
  }
  for (const key of patch.unset) {
    const at = slot(quoted, ops, key);
    if (at < 0) return undefined;
    ops[at]! |= UNSET;
  }
  const keys = quoted.length;

  const end = json.length;
  if (json.charCodeAt(start) !== OPEN_BRACE) return undefined;
  let out = '{';
  /** Where the stored members copied as they are start, or -1: copied in one slice when the run ends. */
  let run = -1;
  let runEnd = -1;
  /** The keys found in the text, one bit each. */
  let found = 0;
  const all = (1 << keys) - 1;
  let i = start + 1;
  if (json.charCodeAt(i) === CLOSE_BRACE) i++;
  else {
    for (;;) {
      const member = i;
      if (json.charCodeAt(i) !== QUOTE) return undefined;
      const keyEnd = stringEnd(json, i, end);
      if (keyEnd < 0 || json.charCodeAt(keyEnd) !== COLON) return undefined;
      const valueStart = keyEnd + 1;
      const valueEnd = skipValue(json, valueStart, end);
      if (valueEnd < 0) return undefined;
      let at = -1;
      for (let k = 0; k < keys; k++) {
        const key = quoted[k]!;
        if (key.length === keyEnd - member && json.startsWith(key, member)) {
          at = k;
          break;
        }
      }
      if (at < 0) {
        if (run < 0) run = member;
        runEnd = valueEnd;
      } else {
        found |= 1 << at;
        if (run >= 0) {
          out += out.length > 1 ? `,${json.slice(run, runEnd)}` : json.slice(run, runEnd);
          run = -1;
        }
        // Removed (and added again at the end if set or incremented), or replaced where it is.
        if ((ops[at]! & UNSET) === 0) {
          const value = newValue(ops[at]!, values[at], increments[at]!, json, valueStart, valueEnd);
          if (value !== undefined) out += `${out.length > 1 ? ',' : ''}${quoted[at]!}:${value}`;
        }
      }
      i = valueEnd + 1;
      const next = json.charCodeAt(valueEnd);
      if (next === CLOSE_BRACE) break;
      if (next !== COMMA) return undefined;
      if (found === all) {
        // Every key named is behind: the rest is copied unread (JSON.stringify's own text ends with its `}`).
        if (run < 0) run = i;
        runEnd = end - 1;
        i = end;
        break;
      }
    }
  }
  if (i !== end) return undefined;
  if (run >= 0) out += out.length > 1 ? `,${json.slice(run, runEnd)}` : json.slice(run, runEnd);
  for (let k = 0; k < keys; k++) {
    const op = ops[k]!;
    if ((op & (SET | INCR)) === 0 || (((found >> k) & 1) === 1 && (op & UNSET) === 0)) continue;
    const value = newValue(op & ~UNSET, values[k], increments[k]!, json, -1, -1);
    if (value === undefined) continue;
    const key = quoted[k]!;
    if (isIndexLike(key)) return undefined;
    out += `${out.length > 1 ? ',' : ''}${key}:${value}`;
  }
  return `${out}}`;
}

/** The index of `key` among the patch's keys, added if new; -1 past {@link MAX_KEYS}. */
function slot(quoted: string[], ops: number[], key: string): number {
  const json = JSON.stringify(key);
  const at = quoted.indexOf(json);
  if (at >= 0) return at;
  if (quoted.length === MAX_KEYS) return -1;
  ops.push(0);
  return quoted.push(json) - 1;
}

/**
 * The JSON of a key's new value, `undefined` when JSON.stringify leaves the key out: the set value,
 * plus the increment when there is one, added to the stored value (`valueStart` to `valueEnd`) if
 * not set; a value that is not a number counts as 0.
 */
function newValue(op: number, value: unknown, increment: number, json: string, valueStart: number, valueEnd: number): string | undefined {
  if ((op & INCR) === 0) return JSON.stringify(value);
  let current: unknown = value;
  if ((op & SET) === 0) {
    const c = valueStart < 0 ? -1 : json.charCodeAt(valueStart);
    current = c === MINUS || (c >= ZERO && c <= NINE) ? Number(json.slice(valueStart, valueEnd)) : undefined;
  }
  return JSON.stringify((typeof current === 'number' ? current : 0) + increment);
}

/** Where the string starting with the quote at `i` ends (after its closing quote), or -1. */
function stringEnd(json: string, i: number, end: number): number {
  for (i++; i < end; i++) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  return -1;
}

/** Where the value starting at `i` ends, or -1: a string, an object or array (nested at any depth), or a number, `true`, `false` or `null`. */
function skipValue(json: string, i: number, end: number): number {
  const first = json.charCodeAt(i);
  if (first === QUOTE) return stringEnd(json, i, end);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    while (i < end) {
      const c = json.charCodeAt(i);
      if (c === QUOTE) {
        i = stringEnd(json, i, end);
        if (i < 0) return -1;
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) return i + 1;
      i++;
    }
    return -1;
  }
  // A number or a literal: no comma or brace inside.
  const from = i;
  while (i < end) {
    const c = json.charCodeAt(i);
    if (c === COMMA || c === CLOSE_BRACE) return i === from ? -1 : i;
    i++;
  }
  return -1;
}

/**
 * True for a quoted key that may be an array index (digits, no leading zero): objects put those
 * first, in numeric order, so one added at the end could be out of place. Longer ones than indexes
 * (2 ** 32 - 2 at most) are counted in too: the object path is right for them as well.
 */
function isIndexLike(key: string): boolean {
  if (key.length < 3 || (key.charCodeAt(1) === ZERO && key.length > 3)) return false;
  for (let i = 1; i < key.length - 1; i++) {
    const c = key.charCodeAt(i);
    if (c < ZERO || c > NINE) return false;
  }
  return true;
}
