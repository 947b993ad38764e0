/**
 * Splits a `Cache-Control` value into its directives, keeping quoted strings (which may hold
 * commas, as in `no-cache="Set-Cookie, Vary"`) whole. Empty items are dropped.
 */
function directives(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34 /* " */) quoted = !quoted;
    else if (c === 92 /* \ */ && quoted) i++;
    else if (c === 44 /* , */ && !quoted) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(value.slice(start).trim());
  return out.filter((d) => d.length > 0);
}

/** A directive's name, lower-cased: what comes before `=`, if anything. */
function directiveName(directive: string): string {
  const eq = directive.indexOf('=');
  return (eq === -1 ? directive : directive.slice(0, eq)).trim().toLowerCase();
}

/**
 * The `Cache-Control` value a response that sets the session cookie must carry so that no shared
 * cache keeps it, given the value the handler set (`undefined`: none), or `undefined` when the
 * handler's value already ensures it.
 *
 * - none: `no-store`;
 * - a value with a `no-store` or an unqualified `private` directive: kept as it is;
 * - any other value: `private` is added in front and `public` removed, the other directives kept
 *   in their order (a `private="field"` that names fields only makes those fields private, so it
 *   does not count).
 */
export function privateCacheControl(current: string | undefined): string | undefined {
  if (current === undefined) return 'no-store';
  const list = directives(current);
  const safe = list.some((d) => {
    const name = directiveName(d);
    return name === 'no-store' || (name === 'private' && !d.includes('='));
  });
  if (safe) return undefined;
  return ['private', ...list.filter((d) => directiveName(d) !== 'public')].join(', ');
}
