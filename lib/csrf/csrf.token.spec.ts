import { isCsrfSecret, maskCsrfToken, newCsrfSecret, verifyCsrfToken } from './csrf.token.js';

describe('CSRF tokens', () => {
  const secret = newCsrfSecret();

  it('masks the secret differently on every call, and every mask verifies', () => {
    const tokens = new Set(Array.from({ length: 50 }, () => maskCsrfToken(secret)));
    expect(tokens.size).toBe(50);
    for (const token of tokens) {
      expect(token).not.toContain(secret);
      expect(verifyCsrfToken(secret, token)).toBe(true);
    }
  });

  it('refuses a token of another secret', () => {
    expect(verifyCsrfToken(secret, maskCsrfToken(newCsrfSecret()))).toBe(false);
  });

  it('refuses a token with any one character changed', () => {
    const token = maskCsrfToken(secret);
    // Last character included: its unused low bits must not give a second spelling.
    for (let i = 0; i < token.length; i++) {
      const changed = token.slice(0, i) + (token[i] === 'A' ? 'B' : token[i] === 'B' ? 'C' : 'A') + token.slice(i + 1);
      expect(verifyCsrfToken(secret, changed)).toBe(false);
    }
  });

  it('refuses missing, non-string, truncated, padded and non-base64url tokens, and the bare secret', () => {
    const token = maskCsrfToken(secret);
    for (const bad of [undefined, null, 42, ['x'], '', token.slice(1), `${token}A`, `${token.slice(1)}=`, `${token.slice(1)}+`, secret]) {
      expect(verifyCsrfToken(secret, bad)).toBe(false);
    }
  });

  it('recognises secrets it made, not arbitrary session values', () => {
    expect(isCsrfSecret(secret)).toBe(true);
    expect(isCsrfSecret('short')).toBe(false);
    expect(isCsrfSecret(42)).toBe(false);
  });
});
