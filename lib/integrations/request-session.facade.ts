import { inspect } from 'node:util';
import { SessionCookieOptionError, SessionError, SessionNotLoadedError, SessionWrongDecoratorError } from '../core/session.errors.js';
import type { SessionContext } from '../core/session.context.js';
import type { SessionHandle } from '../core/session.handle.js';
import { assertSessionKey, assertStorable, unstorableReason } from '../core/session-value.js';
import { sessionHttp } from '../http/session-http.adapter.js';

/** What `req.session.cookie` reads from the runtime: the module's attributes and the session's lifetime. */
export interface RequestSessionCookieInfo {
  path: string;
  domain: string | undefined;
  secure: boolean;
  httpOnly: boolean;
  sameSite: 'lax' | 'strict' | 'none';
  partitioned: boolean;
  maxAge: number | null;
  originalMaxAge: number | null;
}

/** Where a facade finds its request's session context (internal). */
export interface RequestSessionSource {
  contextOf(req: object, res: object): SessionContext;
  cookieInfo(session: SessionHandle | undefined): RequestSessionCookieInfo;
  /** An error thrown by a callback given to a `req.session` method, for the framework's error handling. */
  callbackFailed(req: object, res: object, error: unknown): void;
}

/**
 * `req.session.cookie`, as express-session names its members. The lifetime (`maxAge`,
 * `expires`) may be set per session, as `session.persist()` does; the other attributes are the
 * module's `cookie` options and are read-only (assigning one throws a `SessionCookieOptionError`).
 */
export interface RequestSessionCookie {
  readonly path: string;
  readonly domain: string | undefined;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: 'lax' | 'strict' | 'none';
  readonly partitioned: boolean;
  /**
   * Milliseconds the cookie still lives, or `null` for a browser-session cookie (the default
   * unless `cookie.persistent`). Set it to a positive number to make this session's cookie
   * persistent with that `Max-Age` (capped by the session's remaining life), or to `null` to make
   * it a browser-session cookie: the same as `session.persist(ms)` / `session.persist(false)`.
   */
  maxAge: number | null;
  /** When the cookie expires, or `null` for a browser-session cookie. Setting it sets `maxAge` to the time until then. */
  expires: Date | null;
  /** The `maxAge` the session's cookie was given (`persist(ms)`, or `idleTimeout` for a persistent cookie), or `null`. */
  readonly originalMaxAge: number | null;
}

type Callback = (error?: unknown) => void;

/**
 * `req.session`: the part of express-session's `Session` that Passport and typical middleware
 * use, backed by the request's one session handle. Values are read and written as properties,
 * with JSON's rules (a `Date` is stored as its ISO string, `undefined` removes the key, `NaN`
 * and `±Infinity` become `null`).
 */
export interface RequestSession {
  /** The session id (secret: what the cookie carries). Needs the session loaded. */
  readonly id: string;
  readonly cookie: RequestSessionCookie;
  /** Starts a new, empty session under a new id, as express-session's does; `req.session` is then a new object. */
  regenerate(callback?: Callback): this;
  save(callback?: Callback): this;
  /** Deletes the session; `req.session` is `undefined` for the rest of the request. */
  destroy(callback?: Callback): this;
  /** Drops unsaved changes and reads the store again; a session gone from the store gives a `SessionGoneError`. */
  reload(callback?: Callback): this;
  touch(): this;
  [key: string]: unknown;
}

const kSource = Symbol('source');

interface Source {
  source: RequestSessionSource;
  req: object;
  res: object;
  /**
   * Set once `regenerate(cb)` replaced this object as `req.session`: the data and id it had then,
   * so code that kept it (Passport's `keepSessionInfo`) can copy from it, as from express-session's.
   */
  detached?: { id: string; data: Record<string, unknown> };
}

interface Target {
  [kSource]: Source;
}

function contextOf(target: Target): SessionContext {
  const { source, req, res } = target[kSource];
  return source.contextOf(req, res);
}

function loaded(target: Target, what: string): SessionHandle {
  const session = contextOf(target).loaded;
  if (session === undefined) throw new SessionNotLoadedError(what);
  return session;
}

/** The data `target` shows: its snapshot once detached, else the loaded session's values. */
function dataOf(target: Target, what: string): Record<string, unknown> {
  return target[kSource].detached?.data ?? loaded(target, what).all();
}

/**
 * Runs `action` on the loaded session and reports to an express-style callback. The callback
 * runs outside the promise chain's error handling: what it throws goes to the framework's error
 * handling (a 500 through the app's filters), never into a promise nobody awaits.
 */
function later(target: Target, receiver: unknown, action: (session: SessionHandle) => unknown, callback?: Callback): unknown {
  contextOf(target)
    .load()
    .then(action)
    .then(
      () => undefined,
      (error: unknown) => error ?? new SessionError('The session operation failed.'),
    )
    .then((error) => {
      if (callback === undefined) return;
      try {
        if (error === undefined) callback();
        else callback(error);
      } catch (thrown) {
        const { source, req, res } = target[kSource];
        source.callbackFailed(req, res, thrown);
      }
    });
  return receiver;
}

const FIXED_ATTRIBUTES = ['path', 'domain', 'secure', 'httpOnly', 'sameSite', 'partitioned', 'priority'] as const;

function fixedAttribute(name: string): never {
  throw new SessionCookieOptionError(
    `req.session.cookie.${name} is the same for every session and cannot be changed per request: set cookie.${name} in SessionModule.forRoot() (or forRootAsync()). Per session only the lifetime changes: req.session.cookie.maxAge / expires, or session.persist().`,
  );
}

function badLifetime(name: string, value: unknown): never {
  throw new SessionCookieOptionError(
    `req.session.cookie.${name} takes ${name === 'maxAge' ? 'a positive number of milliseconds' : 'a Date in the future'}, or null for a browser-session cookie; got ${String(value)}. To end the session, call req.session.destroy(). The session was not changed.`,
  );
}

const kTarget = Symbol('target');

/** `req.session.cookie`: reads the runtime's answer, writes the lifetime through `persist()`. */
class CookieView {
  private readonly [kTarget]: Target;

  constructor(target: Target) {
    this[kTarget] = target;
  }

  private info(what?: string): RequestSessionCookieInfo {
    const target = this[kTarget];
    const session = what === undefined ? contextOf(target).loaded : loaded(target, `cookie.${what}`);
    return target[kSource].source.cookieInfo(session);
  }

  private persist(ms: number | false): void {
    contextOf(this[kTarget]).write((s) => s.persist(ms));
  }

  get path(): string {
    return this.info().path;
  }
  get domain(): string | undefined {
    return this.info().domain;
  }
  get secure(): boolean {
    return this.info().secure;
  }
  get httpOnly(): boolean {
    return this.info().httpOnly;
  }
  get sameSite(): 'lax' | 'strict' | 'none' {
    return this.info().sameSite;
  }
  get partitioned(): boolean {
    return this.info().partitioned;
  }

  get maxAge(): number | null {
    return this.info('maxAge').maxAge;
  }
  set maxAge(ms: number | null) {
    if (ms !== null && (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)) badLifetime('maxAge', ms);
    this.persist(ms ?? false);
  }

  get expires(): Date | null {
    const { maxAge } = this.info('expires');
    return maxAge === null ? null : new Date(Date.now() + maxAge);
  }
  set expires(date: Date | null) {
    const ms = date === null ? false : date instanceof Date ? date.getTime() - Date.now() : NaN;
    if (ms !== false && !(ms > 0)) badLifetime('expires', date);
    this.persist(ms);
  }

  get originalMaxAge(): number | null {
    return this.info('originalMaxAge').originalMaxAge;
  }

  toJSON(): object {
    const { maxAge, ...rest } = this.info('cookie');
    return { ...rest, maxAge, expires: maxAge === null ? null : new Date(Date.now() + maxAge) };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `Cookie ${inspect(this.toJSON(), options)}`;
  }
}

for (const name of FIXED_ATTRIBUTES) {
  const descriptor = Object.getOwnPropertyDescriptor(CookieView.prototype, name);
  Object.defineProperty(CookieView.prototype, name, {
    configurable: true,
    enumerable: false,
    get: descriptor?.get ?? (() => undefined),
    set: () => fixedAttribute(name),
  });
}

/** Replaces `req.session` with a new, empty session's object; `target` keeps what it had. */
async function regenerate(target: Target, session: SessionHandle): Promise<void> {
  const snapshot = { id: session.id, data: session.all() };
  await session.regenerate();
  // express-session's regenerate() starts an empty session: nothing of the old one carries over.
  session.clear();
  const source = target[kSource];
  source.detached = snapshot;
  sessionHttp.setRequestSession(source.req, createRequestSession(source.source, source.req, source.res));
}

async function destroy(target: Target, session: SessionHandle): Promise<void> {
  await session.destroy();
  sessionHttp.setRequestSession(target[kSource].req, undefined);
}

const METHODS: Record<string, (target: Target, receiver: unknown) => unknown> = {
  regenerate: (t, r) => (cb?: Callback) => later(t, r, (s) => regenerate(t, s), cb),
  save: (t, r) => (cb?: Callback) => later(t, r, (s) => s.save(), cb),
  destroy: (t, r) => (cb?: Callback) => later(t, r, (s) => destroy(t, s), cb),
  reload: (t, r) => (cb?: Callback) => later(t, r, (s) => s.reload(), cb),
  touch: (t, r) => () => {
    contextOf(t).write((s) => s.touch());
    return r;
  },
  id: (t) => t[kSource].detached?.id ?? loaded(t, 'id').id,
  cookie: (t) => new CookieView(t),
  // Not a thenable: `await req.session` must give the session, not hang.
  then: () => undefined,
  toJSON: (t) => () => dataOf(t, 'toJSON'),
  // As express-session's (a plain object): `String(req.session)` and template strings work.
  toString: () => () => '[object Object]',
};

/**
 * Methods of the library's handle: called on `req.session`, they mean the handler got Nest's own
 * `@Session()` (from `@nestjs/common`), which injects `req.session`, instead of the library's.
 */
const HANDLE_METHODS = new Set(['get', 'set', 'has', 'delete', 'increment', 'clear', 'all', 'flash']);

function isMember(key: string): boolean {
  return Object.prototype.hasOwnProperty.call(METHODS, key);
}

/**
 * `value` as a JSON round trip through a store gives it back, as express-session stores values:
 * a `Date` becomes its ISO string, `NaN` and `±Infinity` become `null`, `undefined` (and
 * functions, symbols) mean no value. Plain data, the usual case, is returned as it is.
 */
function jsonValue(key: string, value: unknown): unknown {
  if (unstorableReason(value, key) === undefined) return value;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // A bigint or a circular structure: JSON itself refuses it, so the session does too, naming the key.
    assertStorable(key, value);
  }
  return text === undefined ? undefined : JSON.parse(text);
}

const handler: ProxyHandler<Target> = {
  get(target, key, receiver) {
    if (key === kSource) return target[kSource];
    if (typeof key === 'symbol') return undefined;
    if (isMember(key)) return METHODS[key]!(target, receiver);
    const detached = target[kSource].detached;
    if (detached !== undefined) return detached.data[key];
    const session = contextOf(target).loaded;
    if (HANDLE_METHODS.has(key) && (session === undefined || !session.has(key))) throw new SessionWrongDecoratorError(key);
    if (session === undefined) throw new SessionNotLoadedError(key);
    return session.get(key);
  },
  set(target, key, value) {
    if (typeof key === 'symbol') return false;
    if (isMember(key)) {
      // Copying one session object onto another (Passport's keepSessionInfo) assigns `cookie`: it stays as it is.
      if (key === 'cookie' && value instanceof CookieView) return true;
      return false;
    }
    // Checked and converted now, so a bad value throws here even when the write waits for the load.
    assertSessionKey(key);
    const stored = jsonValue(key, value);
    const detached = target[kSource].detached;
    if (detached !== undefined) {
      if (stored === undefined) delete detached.data[key];
      else detached.data[key] = stored;
      return true;
    }
    if (stored === undefined) contextOf(target).write((s) => s.delete(key));
    else contextOf(target).write((s) => s.set(key, stored));
    return true;
  },
  deleteProperty(target, key) {
    if (typeof key === 'symbol' || isMember(key)) return false;
    const detached = target[kSource].detached;
    if (detached !== undefined) delete detached.data[key];
    else contextOf(target).write((s) => s.delete(key));
    return true;
  },
  has(target, key) {
    if (typeof key === 'symbol') return false;
    if (isMember(key)) return true;
    const detached = target[kSource].detached;
    return detached !== undefined ? detached.data[key] !== undefined : loaded(target, key).has(key);
  },
  ownKeys(target) {
    // `cookie` is enumerable, as on express-session's session: `Object.keys` and `for...in` list it.
    return ['cookie', ...Object.keys(dataOf(target, 'keys'))];
  },
  getOwnPropertyDescriptor(target, key) {
    if (typeof key === 'symbol') return undefined;
    if (key === 'cookie') return { value: new CookieView(target), writable: true, enumerable: true, configurable: true };
    if (isMember(key)) return undefined;
    const detached = target[kSource].detached;
    if (detached !== undefined) {
      return detached.data[key] === undefined ? undefined : { value: detached.data[key], writable: true, enumerable: true, configurable: true };
    }
    const session = loaded(target, key);
    if (!session.has(key)) return undefined;
    return { value: session.get(key), writable: true, enumerable: true, configurable: true };
  },
};

/**
 * What `util.inspect` (and `console.log`) shows: it looks at the proxy's target, not through the
 * proxy, so the target's prototype answers with the data and the cookie, never the id.
 */
const TARGET_PROTO = {
  [inspect.custom](this: Target, _depth: number, options: object): string {
    const source = this[kSource];
    const session = source.source.contextOf(source.req, source.res).loaded;
    if (source.detached === undefined && session === undefined) return 'Session (not loaded yet)';
    return `Session ${inspect({ cookie: new CookieView(this), ...(source.detached?.data ?? session!.all()) }, options)}`;
  },
};

/** Creates the `req.session` of one request; nothing is loaded until it is used. */
export function createRequestSession(source: RequestSessionSource, req: object, res: object): RequestSession {
  const target = Object.create(TARGET_PROTO) as Target;
  target[kSource] = { source, req, res };
  return new Proxy(target, handler) as unknown as RequestSession;
}

/**
 * The framework request and response behind a `req.session` this library made: Fastify's
 * middleware see only the Node request, whose session belongs to the `FastifyRequest`.
 */
export function requestSessionOwner(value: unknown): { req: object; res: object } | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  // Only this library's facades answer the symbol.
  const source = (value as Partial<Target>)[kSource];
  return source && { req: source.req, res: source.res };
}
