import type { IncomingHttpHeaders } from 'node:http';

/** What the pages need of a request: Express's `Request` and Fastify's `FastifyRequest` both have it. */
export interface PageRequest {
  headers: IncomingHttpHeaders;
}

/** What the pages need of a response: Express's `Response` and Fastify's `FastifyReply` both have it. */
export interface PageResponse {
  status(code: number): unknown;
  header(name: string, value: string): unknown;
}

/** Markup that is already safe: {@link html} inserts it as is. */
export class Html {
  constructor(readonly markup: string) {}

  toString(): string {
    return this.markup;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `text` with the characters that mean something in HTML escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * A template tag that escapes every interpolated value (user input included), except
 * {@link Html} values and arrays of them, so markup is built from template strings safely.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const part = (value: unknown): string =>
    value instanceof Html ? value.markup : Array.isArray(value) ? value.map(part).join('') : value === undefined || value === null || value === false ? '' : escapeHtml(String(value));
  return new Html(strings.reduce((out, s, i) => out + part(values[i - 1]) + s));
}

/** True when a browser asks for a page: navigations and form posts accept `text/html`; curl and fetch do not say so. */
export function wantsHtml(req: PageRequest): boolean {
  return /\btext\/html\b/.test(req.headers.accept ?? '');
}

/** True for a posted HTML form (`application/x-www-form-urlencoded`), which gets a redirect instead of JSON. */
export function isForm(req: PageRequest): boolean {
  return (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

/**
 * Answers a form post with `303 See Other` to `location`, so reloading the next page does not
 * post the form again. The handler returns what this returns (an empty body).
 */
export function seeOther(res: PageResponse, location: string): string {
  res.status(303);
  res.header('Location', location);
  return '';
}

/** Flash messages as a session returns them, with their kind. */
export interface Flashes {
  info?: unknown[];
  error?: unknown[];
}

/**
 * A whole page: sets the content type and returns the document. `user` is the logged-in
 * user's name, shown in the menu; pages that do not load the session leave it out.
 */
export function page(res: PageResponse, title: string, body: Html, options: { user?: string; flash?: Flashes } = {}): string {
  res.header('Content-Type', 'text/html; charset=utf-8');
  const messages = [
    ...(options.flash?.info ?? []).map((m) => html`<p class="flash info" role="status">${String(m)}</p>`),
    ...(options.flash?.error ?? []).map((m) => html`<p class="flash error" role="alert">${String(m)}</p>`),
  ];
  const account = options.user
    ? html`<span>Signed in as <b>${options.user}</b></span>
        <form method="post" action="/logout"><button>Log out</button></form>`
    : html`<a href="/login">Log in</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · nestjs-sessionkit sample</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  nav { display: flex; gap: 1rem; align-items: center; border-bottom: 1px solid #ddd; padding-bottom: .5rem; }
  nav .account { margin-left: auto; display: flex; gap: .5rem; align-items: center; }
  form { display: inline; }
  form.stack { display: grid; gap: .5rem; max-width: 18rem; }
  .flash { padding: .5rem .75rem; border-radius: 4px; }
  .info { background: #e7f5e9; } .error { background: #fdecea; }
  table { border-collapse: collapse; } td, th { padding: .25rem .75rem; border-bottom: 1px solid #eee; text-align: left; }
  code { background: #f4f4f4; padding: 0 .25rem; }
</style>
</head>
<body>
<nav><a href="/">Home</a><a href="/profile">Profile</a><a href="/cart">Cart</a><span class="account">${account}</span></nav>
<main>
<h1>${title}</h1>
${messages}
${body}
</main>
</body>
</html>
`.markup;
}
