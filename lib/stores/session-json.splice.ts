import type { SessionPatch } from './session-store.interface.js';

// A patch applied to session JSON (internal, for MemoryStore): in the text itself when it can be,
// without parsing and re-serializing the whole session for the few values a request changes.

/** The most keys a patch may name for the splice: each stored key is compared with each of them. */
const MAX_KEYS = 16;

const UNSET = 1;
const SET = 2;
const INCR = 4;

const SPACE = 32;
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
const SURROGATE = 0xd800;
const AFTER_SURROGATES = 0xe000;

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
  if (end - start < 2 || json.charCodeAt(start) !== OPEN_BRACE || json.charCodeAt(end - 1) !== CLOSE_BRACE) return undefined;
  // The members are read from both ends in turn, up to where every key named was found: a key
  // changed often (a counter) is often among the last ones added. The members not read between
  // the two ends, and those read but not named, are copied as they are, in one slice if they touch.
  /** The keys found in the text, one bit each. */
  let found = 0;
  const all = (1 << keys) - 1;
  /** The start of the first member not read from the front, and the end (its `,` or the last `}`) of the last one not read from the back. */
  let i = start + 1;
  let j = end - 1;
  /** The members read from the front and from the back, as they are written, but for the runs copied as they are. */
  let front = '';
  let back = '';
  /** The run of members copied as they are at the end of the front part, and at the start of the back part: -1 when none. */
  let frontRun = -1;
  let frontRunEnd = -1;
  let backRun = -1;
  let backRunEnd = -1;
  while (found !== all && i < j) {
    const valueEnd = memberFrom(json, i, j);
    if (valueEnd < 0) return undefined;
    const at = keyAt(quoted, json, i, scannedKeyEnd);
    if (at < 0) {
      if (frontRun < 0) frontRun = i;
      frontRunEnd = valueEnd;
    } else {
      found |= 1 << at;
      if (frontRun >= 0) front = joined(front, json.slice(frontRun, frontRunEnd));
      frontRun = -1;
      front = joined(front, newMember(ops[at]!, quoted[at]!, values[at], increments[at]!, json, scannedKeyEnd + 1, valueEnd));
    }
    i = valueEnd + 1;
    if (found === all || i >= j) break;
    const member = memberTo(json, j, i);
    if (member < 0) return undefined;
    const at2 = keyAt(quoted, json, member, scannedKeyEnd);
    if (at2 < 0) {
      if (backRun < 0) backRunEnd = j;
      backRun = member;
    } else {
      found |= 1 << at2;
      if (backRun >= 0) back = joined(json.slice(backRun, backRunEnd), back);
      backRun = -1;
      back = joined(newMember(ops[at2]!, quoted[at2]!, values[at2], increments[at2]!, json, scannedKeyEnd + 1, j), back);
    }
    j = member - 1;
  }
  // Only `{}` leaves no member between the two ends; elsewhere it is an empty member, `,,` or `,}`.
  if (i === j && end - start !== 2) return undefined;
  // What is copied as it is between the two parts: the front's last run, the members not read, the back's first run.
  const from = frontRun >= 0 ? frontRun : i < j ? i : backRun;
  const to = backRun >= 0 ? backRunEnd : i < j ? j : frontRunEnd;
  let out = joined(joined(front, from >= 0 ? json.slice(from, to) : ''), back);
  for (let k = 0; k < keys; k++) {
    const op = ops[k]!;
    if ((op & (SET | INCR)) === 0 || (((found >> k) & 1) === 1 && (op & UNSET) === 0)) continue;
    const value = newValue(op & ~UNSET, values[k], increments[k]!, json, -1, -1);
    if (value === undefined) continue;
    const key = quoted[k]!;
    if (isIndexLike(key)) return undefined;
    out = joined(out, `${key}:${value}`);
  }
  return `{${out}}`;
}

/** The index of `key` among the patch's keys, added if new; -1 past {@link MAX_KEYS}. */
function slot(quoted: string[], ops: number[], key: string): number {
  const json = quote(key);
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
  if ((op & INCR) === 0) return stringify(value);
  let current: unknown = value;
  if ((op & SET) === 0) {
    const c = valueStart < 0 ? -1 : json.charCodeAt(valueStart);
    current = c === MINUS || (c >= ZERO && c <= NINE) ? Number(json.slice(valueStart, valueEnd)) : undefined;
  }
  return stringify((typeof current === 'number' ? current : 0) + increment);
}

/** JSON.stringify(value), with the usual numbers and plain strings made directly: each call costs more than the splice of a small session. */
function stringify(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'string') return quote(value);
  return JSON.stringify(value);
}

/** JSON.stringify(text): directly when no character needs escaping (a control character, `"`, `\` or a surrogate, paired or not). */
function quote(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < SPACE || c === QUOTE || c === BACKSLASH || (c >= SURROGATE && c < AFTER_SURROGATES)) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/** The index among the quoted keys of the key written from `member` to `keyEnd`, or -1. */
function keyAt(quoted: string[], json: string, member: number, keyEnd: number): number {
  for (let k = 0; k < quoted.length; k++) {
    const key = quoted[k]!;
    if (key.length === keyEnd - member && json.startsWith(key, member)) return k;
  }
  return -1;
}

/** `a,b`, or either alone when the other is empty. */
function joined(a: string, b: string): string {
  return a === '' ? b : b === '' ? a : `${a},${b}`;
}

/** A stored member named by the patch, as it is written after the patch: `''` when removed, or dropped by JSON.stringify. */
function newMember(op: number, key: string, value: unknown, increment: number, json: string, valueStart: number, valueEnd: number): string {
  // A key removed is added again at the end if it is set or incremented too.
  if ((op & UNSET) !== 0) return '';
  const text = newValue(op, value, increment, json, valueStart, valueEnd);
  return text === undefined ? '' : `${key}:${text}`;
}

/** Where its key ends, set by {@link memberFrom} and {@link memberTo}: a second result, without allocating a pair. */
let scannedKeyEnd = 0;

/** Where the member starting at `i` ends: at `j` or at a `,` before; -1 if it does not. */
function memberFrom(json: string, i: number, j: number): number {
  if (json.charCodeAt(i) !== QUOTE) return -1;
  const keyEnd = stringEnd(json, i, j);
  if (keyEnd < 0 || json.charCodeAt(keyEnd) !== COLON) return -1;
  const valueEnd = valueFrom(json, keyEnd + 1, j);
  if (valueEnd < 0 || (valueEnd !== j && json.charCodeAt(valueEnd) !== COMMA)) return -1;
  scannedKeyEnd = keyEnd;
  return valueEnd;
}

/** Where the member ending at `j` starts: at `i` or after a `,`; -1 if it does not. */
function memberTo(json: string, j: number, i: number): number {
  const valueStart = valueTo(json, j, i);
  if (valueStart < i + 3 || json.charCodeAt(valueStart - 1) !== COLON || json.charCodeAt(valueStart - 2) !== QUOTE) return -1;
  const member = openingQuote(json, valueStart - 2, i);
  if (member < 0 || (member !== i && json.charCodeAt(member - 1) !== COMMA)) return -1;
  scannedKeyEnd = valueStart - 1;
  return member;
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

/** Where the value starting at `i` ends, at `end` at most, or -1: a string, an object or array (nested at any depth), or a number, `true`, `false` or `null`. */
function valueFrom(json: string, i: number, end: number): number {
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
  for (let c = json.charCodeAt(i); i < end && c !== COMMA && c !== CLOSE_BRACE; c = json.charCodeAt(++i));
  return i === from ? -1 : i;
}

/** Where the value ending at `j` starts, at `i` at least, or -1: {@link valueFrom} backwards. */
function valueTo(json: string, j: number, i: number): number {
  let at = j - 1;
  const last = json.charCodeAt(at);
  if (last === QUOTE) return openingQuote(json, at, i);
  if (last === CLOSE_BRACE || last === CLOSE_BRACKET) {
    let depth = 0;
    while (at >= i) {
      const c = json.charCodeAt(at);
      if (c === QUOTE) {
        // Outside strings, a quote is the end of one.
        at = openingQuote(json, at, i) - 1;
        if (at < -1) return -1;
        continue;
      }
      if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth++;
      else if ((c === OPEN_BRACE || c === OPEN_BRACKET) && --depth === 0) return at;
      at--;
    }
    return -1;
  }
  // A number or a literal: no colon inside.
  while (at >= i) {
    if (json.charCodeAt(at) === COLON) return at === j - 1 ? -1 : at + 1;
    at--;
  }
  return -1;
}

/**
 * Where the string whose closing quote is at `close` starts (its opening quote), at `i` at least,
 * or -1. A quote inside a string is escaped, so an odd number of backslashes comes right before
 * it (`\"`, `\\\"`); the opening quote has none (or an even number, which never happens here).
 */
function openingQuote(json: string, close: number, i: number): number {
  for (let at = close - 1; at >= i; at--) {
    if (json.charCodeAt(at) !== QUOTE) continue;
    let before = at - 1;
    while (json.charCodeAt(before) === BACKSLASH) before--;
    if (((at - 1 - before) & 1) === 0) return at;
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
