import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { SessionRecord } from '../stores/session-store.interface.js';
import { isSessionId } from '../http/session-cookie.js';
import { storedSessionData } from './session-value.js';

const VERSION = 1;
// A fresh key per cookie (HMAC of the master key and a random salt) keeps AES-GCM's
// random-IV limit of about 2^32 messages per key out of reach however many cookies are sealed.
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + SALT_BYTES + IV_BYTES;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** Longer values are not even decoded: no browser sends a cookie this large. */
const MAX_VALUE_CHARS = 8192;

/** A session opened from its cookie (internal). */
export interface OpenedSession {
  id: string;
  record: SessionRecord;
  /** Sealed under an older secret: re-issue it under the first. */
  rotated: boolean;
}

/**
 * Seals a session into a cookie value and opens it again, for `CookieStore` (internal): AES-256-GCM
 * with the cookie's name as associated data, so a value cannot be replayed under another cookie name.
 */
export class SessionSealer {
  private readonly keys: Buffer[];
  private readonly aad: Buffer;

  constructor(secrets: readonly string[], cookieName: string) {
    this.keys = secrets.map((secret) => Buffer.from(hkdfSync('sha256', secret, 'nestjs-sessionkit', 'cookie-store aes-256-gcm', 32)));
    this.aad = Buffer.from(cookieName, 'utf8');
  }

  private messageKey(master: Buffer, salt: Buffer): Buffer {
    return createHmac('sha256', master).update(salt).digest();
  }

  /** The cookie value carrying `record` for session `id`, under the first secret. */
  seal(id: string, record: SessionRecord): string {
    const plain = JSON.stringify([id, record.createdAt, record.touchedAt, record.data]);
    const head = Buffer.allocUnsafe(HEADER_BYTES);
    head[0] = VERSION;
    randomBytes(SALT_BYTES + IV_BYTES).copy(head, 1);
    const salt = head.subarray(1, 1 + SALT_BYTES);
    const iv = head.subarray(1 + SALT_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.messageKey(this.keys[0]!, salt), iv);
    cipher.setAAD(this.aad);
    const body = Buffer.concat([head, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return body.toString('base64url');
  }

  /**
   * The session in a cookie value, or `undefined` when it is not one this app sealed (tampered,
   * truncated, another secret, malformed): such a cookie is ignored, never an error.
   */
  open(value: string): OpenedSession | undefined {
    if (value.length > MAX_VALUE_CHARS || !BASE64URL.test(value)) return undefined;
    const body = Buffer.from(value, 'base64url');
    // Strict: Node ignores the unused low bits of the last character (and a dangling one), so a
    // sealed value could be spelled several ways. Only the one spelling we would write opens.
    if (body.toString('base64url') !== value) return undefined;
    if (body.length <= HEADER_BYTES + TAG_BYTES || body[0] !== VERSION) return undefined;
    const salt = body.subarray(1, 1 + SALT_BYTES);
    const iv = body.subarray(1 + SALT_BYTES, HEADER_BYTES);
    const sealed = body.subarray(HEADER_BYTES, body.length - TAG_BYTES);
    const tag = body.subarray(body.length - TAG_BYTES);
    for (let i = 0; i < this.keys.length; i++) {
      let plain: string;
      try {
        const decipher = createDecipheriv('aes-256-gcm', this.messageKey(this.keys[i]!, salt), iv);
        decipher.setAAD(this.aad);
        decipher.setAuthTag(tag);
        plain = decipher.update(sealed, undefined, 'utf8') + decipher.final('utf8');
      } catch {
        continue;
      }
      const record = parse(plain);
      return record === undefined ? undefined : { ...record, rotated: i > 0 };
    }
    return undefined;
  }
}

/** The sealed JSON, checked for shape: authentic data is still refused if it is not ours. */
function parse(plain: string): Omit<OpenedSession, 'rotated'> | undefined {
  try {
    const value: unknown = JSON.parse(plain);
    if (!Array.isArray(value) || value.length !== 4) return undefined;
    const [id, createdAt, touchedAt, data] = value as unknown[];
    if (typeof id !== 'string' || !isSessionId(id) || typeof createdAt !== 'number' || typeof touchedAt !== 'number') return undefined;
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
    return { id, record: { data: storedSessionData(data as Record<string, unknown>), createdAt, touchedAt } };
  } catch {
    return undefined;
  }
}
