import { createHash, createHmac, randomBytes } from 'node:crypto';

/** A random value of the form of a session id (43 base64url characters). */
export function randomId(): string {
  return randomBytes(32).toString('base64url');
}

/** A cookie value for `id` signed with `secret`, as an app configured with that secret issues it. */
export function signedValue(id: string, secret: string): string {
  return `${id}.${createHmac('sha256', secret).update(id).digest('base64url')}`;
}

/** The session id inside a signed cookie value. */
export function idOf(value: string): string {
  return value.slice(0, value.indexOf('.'));
}

/** The store handle of a session id (what `session.handle` reports). */
export function handleOf(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** The value of cookie `name` in a list of Set-Cookie headers, or undefined. */
export function setCookieValue(setCookies: string[], name = 'sid'): string | undefined {
  for (const header of setCookies) {
    const pair = header.split(';')[0]!;
    const eq = pair.indexOf('=');
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
