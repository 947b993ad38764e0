import { type KeyObject, createHmac, createSecretKey, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { stringifySetCookie } from 'cookie';
import type { ResolvedSessionOptions } from '../session-options.js';

// 32 random bytes (256 bits) give 43 base64url characters; an HMAC-SHA256 gives 43 more.
const ID_BYTES = 32;
const ID_LENGTH = 43;
const SIGNED_LENGTH = ID_LENGTH * 2 + 1;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// Handles are hex so they can never be mistaken for an id (base64url, 43 characters).
const HANDLE = /^[0-9a-f]{64}$/;

// Ids are drawn from a pool refilled in blocks: one randomBytes call serves many new sessions.
const POOL_IDS = 128;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** A new session id: 256 bits from the system CSPRNG, base64url. */
export function newSessionId(): string {
  if (poolOffset >= pool.length) {
    pool = randomBytes(ID_BYTES * POOL_IDS);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  // Each block of bytes is used once; wipe it so the id does not linger in the pool.
  pool.fill(0, poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return id;
}

/** The store handle of a session id: a one-way hash, so the store never holds a usable id. */
export function sessionHandle(id: string): string {
  // The one-shot hash: a third of the time of createHash(), which builds a Hash object per call.
  return hash('sha256', id, 'hex');
}

/** True when `value` has the form of a store handle rather than of a session id. */
export function isSessionHandle(value: string): boolean {
  return HANDLE.test(value);
}

/** True when `value` has the form of a session id. */
export function isSessionId(value: string): boolean {
  return value.length === ID_LENGTH && BASE64URL.test(value);
}

/** A verified cookie: the session id in it, its store handle, and whether an older secret signed it. */
export interface VerifiedCookie {
  id: string;
  handle: string;
  rotated: boolean;
}

// Cookies verified recently, so a returning browser costs a map lookup rather than an HMAC
// and a hash. Only cookies that passed verification get in, so nothing can be forged into it.
// Bounded by entries and by (estimated) bytes; it holds compact copies of the cookie's strings,
// never slices of a request's Cookie header, which would keep the whole header alive.
const VERIFIED_CACHE_SIZE = 10_000;
const VERIFIED_CACHE_BYTES = 4 * 1024 * 1024;
/** Estimated bytes of one cache entry besides its two strings' characters: Map slot, object, string headers. */
const CACHE_ENTRY_OVERHEAD = 200;
/**
 * The most cookies of the session's name checked per request. A browser sends several when a
 * sibling subdomain planted one (cookie tossing); the first that verifies wins, but an attacker
 * must not make one request cost hundreds of HMACs.
 */
const MAX_CANDIDATES = 8;

/** Accepts any candidate value (for `carried`; one function, not a closure per call). */
function acceptAny(): true {
  return true;
}

/** A copy of `s` that shares no memory with the string it was sliced from. */
function compact(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

function cacheBytes(key: string, entry: VerifiedCookie): number {
  return key.length + entry.handle.length + CACHE_ENTRY_OVERHEAD;
}

/** Signs, verifies and writes the session cookie (internal). */
export class SessionCookie {
  private readonly verified = new Map<string, VerifiedCookie>();
  private verifiedBytes = 0;
  /**
   * The cached cookies in the order they came in, a ring from `oldest` on. Taking the oldest with
   * `verified.keys().next()` would walk over every slot a deletion left at the front of the
   * `Map`, several microseconds per new cookie once the cache is full.
   */
  private readonly arrivals: string[] = new Array<string>(VERIFIED_CACHE_SIZE).fill('');
  private oldest = 0;
  /** Key objects made once: createHmac() with a KeyObject skips preparing the key on every call. */
  private readonly keys: KeyObject[];
  private readonly name: string;
  private readonly prefix: string;
  private readonly clearHeader: string;
  /** The attributes after `Max-Age` (Domain, Path, HttpOnly, Secure, Partitioned, SameSite), the same for every cookie issued. */
  private readonly attributes: string;

  constructor(private readonly options: ResolvedSessionOptions) {
    this.keys = options.secrets.map((s) => createSecretKey(Buffer.from(s, 'utf8')));
    this.name = options.cookie.name;
    this.prefix = `${this.name}=`;
    this.clearHeader = this.serialize('', 0);
    // Serialized once (which also validates them); issue() only adds the value and Max-Age.
    this.attributes = this.serialize('x', undefined).slice(this.prefix.length + 1);
  }

  private sign(id: string, key: KeyObject): string {
    return createHmac('sha256', key).update(id).digest('base64url');
  }

  /**
   * Reads the session id from a `Cookie` header. Returns `undefined` for a missing, malformed,
   * oversized or wrongly signed cookie; `rotated` is true when an older secret signed it. When
   * the header holds several cookies of the session's name, the first that verifies counts.
   */
  read(header: string | undefined): VerifiedCookie | undefined {
    return this.find(header, this.acceptSigned);
  }

  /** A candidate value in the form of a signed id, verified (made once, not per request). */
  private readonly acceptSigned = (value: string): VerifiedCookie | undefined => {
    if (value.length !== SIGNED_LENGTH || value.charCodeAt(ID_LENGTH) !== 46 /* . */) return undefined;
    return this.verified.get(value) ?? this.verify(value);
  };

  /**
   * The first value of a cookie of the session's name in `header` that `open` accepts (for
   * `CookieStore`, whose cookie carries the sealed session rather than a signed id).
   */
  readSealed<T>(header: string | undefined, open: (value: string) => T | undefined): T | undefined {
    return this.find(header, open);
  }

  /** True when `header` carries a cookie of the session's name, valid or not. */
  carried(header: string | undefined): boolean {
    return this.find(header, acceptAny) === true;
  }

  /** Tries the values of at most {@link MAX_CANDIDATES} cookies of the session's name, in order. */
  private find<T>(header: string | undefined, accept: (value: string) => T | undefined): T | undefined {
    if (!header || !header.includes(this.prefix)) return undefined;
    let candidates = 0;
    let start = 0;
    while (start < header.length && candidates < MAX_CANDIDATES) {
      let end = header.indexOf(';', start);
      if (end === -1) end = header.length;
      const value = this.valueOf(header, start, end);
      start = end + 1;
      if (value === undefined) continue;
      candidates++;
      const result = accept(value);
      if (result !== undefined) return result;
    }
    return undefined;
  }

  /** The value of the pair `header[start, end)` if it is a cookie of the session's name. */
  private valueOf(header: string, start: number, end: number): string | undefined {
    const eq = header.indexOf('=', start);
    if (eq === -1 || eq >= end || !this.isName(header, start, eq)) return undefined;
    const value = header.slice(eq + 1, end).trim();
    return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  }

  /**
   * True when `header[start, end)`, trimmed, is the session's cookie name. Compared in place, with
   * no string made per cookie of the header; edges other than plain spaces take `trim()`'s way.
   */
  private isName(header: string, start: number, end: number): boolean {
    let from = start;
    let to = end;
    while (from < to && header.charCodeAt(from) === 32) from++;
    while (to > from && header.charCodeAt(to - 1) === 32) to--;
    const first = header.charCodeAt(from);
    const last = header.charCodeAt(to - 1);
    if (from === to || first < 33 || first > 126 || last < 33 || last > 126) return header.slice(start, end).trim() === this.name;
    return to - from === this.name.length && header.startsWith(this.name, from);
  }

  /** Checks `value`'s signature against every secret; a verified cookie is cached. */
  private verify(value: string): VerifiedCookie | undefined {
    const id = value.slice(0, ID_LENGTH);
    const signature = value.slice(ID_LENGTH + 1);
    if (!BASE64URL.test(id) || !BASE64URL.test(signature)) return undefined;
    const given = Buffer.from(signature, 'utf8');
    for (let i = 0; i < this.keys.length; i++) {
      const expected = Buffer.from(this.sign(id, this.keys[i]!), 'utf8');
      if (expected.length === given.length && timingSafeEqual(expected, given)) {
        const key = compact(value);
        const result: VerifiedCookie = { id: key.slice(0, ID_LENGTH), handle: sessionHandle(id), rotated: i > 0 };
        this.remember(key, result);
        return result;
      }
    }
    return undefined;
  }

  private remember(key: string, entry: VerifiedCookie): void {
    const bytes = cacheBytes(key, entry);
    while (this.verified.size > 0 && (this.verified.size >= VERIFIED_CACHE_SIZE || this.verifiedBytes + bytes > VERIFIED_CACHE_BYTES)) {
      const oldKey = this.arrivals[this.oldest]!;
      this.verifiedBytes -= cacheBytes(oldKey, this.verified.get(oldKey)!);
      this.verified.delete(oldKey);
      this.arrivals[this.oldest] = '';
      this.oldest = (this.oldest + 1) % VERIFIED_CACHE_SIZE;
    }
    this.arrivals[(this.oldest + this.verified.size) % VERIFIED_CACHE_SIZE] = key;
    this.verified.set(key, entry);
    this.verifiedBytes += bytes;
  }

  /**
   * A `Set-Cookie` value carrying `id`, signed with the first secret, with `Max-Age` from
   * `maxAgeMs` when `persistent` (default: the `cookie.persistent` option; a session's `persist()` overrides it).
   */
  issue(id: string, maxAgeMs: number | undefined, persistent = this.options.cookie.persistent): string {
    return this.issueValue(`${id}.${this.sign(id, this.keys[0]!)}`, maxAgeMs, persistent);
  }

  /**
   * A `Set-Cookie` value carrying `value` as it is (a signed id, or a sealed session: both
   * base64url, which needs no encoding), with `Max-Age` as for {@link issue}.
   */
  issueValue(value: string, maxAgeMs: number | undefined, persistent = this.options.cookie.persistent): string {
    if (!persistent) return `${this.prefix}${value}${this.attributes}`;
    const maxAge = Math.max(0, Math.floor((maxAgeMs ?? 0) / 1000));
    // Max-Age=0 also gets an Expires in the past (serialize() adds it); otherwise only the value
    // and Max-Age vary.
    return maxAge === 0 ? this.serialize(value, 0) : `${this.prefix}${value}; Max-Age=${maxAge}${this.attributes}`;
  }

  /** A `Set-Cookie` value that removes the cookie. */
  clear(): string {
    return this.clearHeader;
  }

  private serialize(value: string, maxAgeSeconds: number | undefined): string {
    const c = this.options.cookie;
    return stringifySetCookie({
      name: c.name,
      value,
      path: c.path,
      domain: c.domain,
      secure: c.secure,
      httpOnly: c.httpOnly,
      sameSite: c.sameSite,
      partitioned: c.partitioned || undefined,
      maxAge: maxAgeSeconds,
      expires: maxAgeSeconds === 0 ? new Date(0) : undefined,
    });
  }
}
