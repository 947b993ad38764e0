import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of a session's CSRF secret. */
const SECRET_BYTES = 32;
/** base64url length of a masked token: a mask and the masked secret, SECRET_BYTES each. */
const TOKEN_LENGTH = Math.ceil((2 * SECRET_BYTES * 4) / 3);
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A new random CSRF secret, base64url, to keep in the session. */
export function newCsrfSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

/** True if `value` looks like a secret made by {@link newCsrfSecret} (a session may hold anything). */
export function isCsrfSecret(value: unknown): value is string {
  return typeof value === 'string' && Buffer.from(value, 'base64url').length === SECRET_BYTES;
}

/**
 * A token for `secret`, different on every call: a fresh random mask followed by the secret XOR
 * the mask (base64url). The page never shows the same bytes twice, so compressed responses
 * (BREACH) do not leak the secret.
 */
export function maskCsrfToken(secret: string): string {
  const raw = Buffer.from(secret, 'base64url');
  const mask = randomBytes(raw.length);
  const masked = Buffer.allocUnsafe(raw.length);
  for (let i = 0; i < raw.length; i++) masked[i] = raw[i]! ^ mask[i]!;
  return Buffer.concat([mask, masked]).toString('base64url');
}

/** True if `token` was made by {@link maskCsrfToken} from `secret`; compared in constant time. */
export function verifyCsrfToken(secret: string, token: unknown): boolean {
  if (typeof token !== 'string' || token.length !== TOKEN_LENGTH || !BASE64URL.test(token)) return false;
  const raw = Buffer.from(secret, 'base64url');
  const bytes = Buffer.from(token, 'base64url');
  // Canonical encoding only, so one token has one spelling.
  if (raw.length !== SECRET_BYTES || bytes.length !== 2 * SECRET_BYTES || bytes.toString('base64url') !== token) return false;
  const unmasked = Buffer.allocUnsafe(SECRET_BYTES);
  for (let i = 0; i < SECRET_BYTES; i++) unmasked[i] = bytes[i]! ^ bytes[SECRET_BYTES + i]!;
  return timingSafeEqual(unmasked, raw);
}
