import { SessionNotLoadedError, SessionWrongDecoratorError } from '../core/session.errors.js';
import type { SessionContext } from '../core/session.context.js';
import type { SessionHandle } from '../core/session.handle.js';
import { assertStorable } from '../core/session-value.js';

/** Where a facade finds its request's session context (internal). */
export interface RequestSessionSource {
  contextOf(req: object, res: object): SessionContext;
  cookieInfo(session: SessionHandle | undefined): RequestSessionCookie;
}

/** The cookie attributes `req.session.cookie` reports, as express-session names them. */
export interface RequestSessionCookie {
  path: string;
  domain: string | undefined;
  secure: boolean;
  httpOnly: boolean;
  sameSite: 'lax' | 'strict' | 'none';
  /** Milliseconds the cookie still lives, or `null` for a browser-session cookie. */
  maxAge: number | null;
  /** When the cookie expires, or `null` for a browser-session cookie. */
  expires: Date | null;
}

type Callback = (error?: unknown) => void;

/**
 * `req.session`: the part of express-session's `Session` that Passport and typical middleware
 * use, backed by the request's one session handle. Values are read and written as properties.
 */
export interface RequestSession {
  /** The session id (secret). Needs the session loaded. */
  readonly id: string;
  readonly cookie: RequestSessionCookie;
  regenerate(callback?: Callback): this;
  save(callback?: Callback): this;
  destroy(callback?: Callback): this;
  reload(callback?: Callback): this;
  touch(): this;
  [key: string]: unknown;
}

const kSource = Symbol('source');

interface Target {
  [kSource]: { source: RequestSessionSource; req: object; res: object };
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

/** Runs `action` on the loaded session and reports to an express-style callback. */
function later(target: Target, receiver: unknown, action: (session: SessionHandle) => unknown, callback?: Callback): unknown {
  contextOf(target)
    .load()
    .then(action)
    .then(
      () => callback?.(),
      (error: unknown) => {
        if (callback) callback(error);
      },
    );
  return receiver;
}

const METHODS: Record<string, (target: Target, receiver: unknown) => unknown> = {
  regenerate: (t, r) => (cb?: Callback) => later(t, r, (s) => s.regenerate(), cb),
  save: (t, r) => (cb?: Callback) => later(t, r, (s) => s.save(), cb),
  destroy: (t, r) => (cb?: Callback) => later(t, r, (s) => s.destroy(), cb),
  reload: (t, r) => (cb?: Callback) => later(t, r, (s) => s.reload(), cb),
  touch: (t, r) => () => {
    contextOf(t).write((s) => s.touch());
    return r;
  },
  id: (t) => loaded(t, 'id').id,
  cookie: (t) => {
    const { source } = t[kSource];
    return source.cookieInfo(contextOf(t).loaded);
  },
  // Not a thenable: `await req.session` must give the session, not hang.
  then: () => undefined,
  toJSON: (t) => () => loaded(t, 'toJSON').all(),
};

/**
 * Methods of the library's handle: called on `req.session`, they mean the handler got Nest's own
 * `@Session()` (from `@nestjs/common`), which injects `req.session`, instead of the library's.
 */
const HANDLE_METHODS = new Set(['get', 'set', 'has', 'delete', 'increment', 'clear', 'all', 'flash']);

function isMember(key: string): boolean {
  return Object.prototype.hasOwnProperty.call(METHODS, key);
}

const handler: ProxyHandler<Target> = {
  get(target, key, receiver) {
    if (key === kSource) return target[kSource];
    if (typeof key === 'symbol') return undefined;
    if (isMember(key)) return METHODS[key]!(target, receiver);
    const session = contextOf(target).loaded;
    if (HANDLE_METHODS.has(key) && (session === undefined || !session.has(key))) throw new SessionWrongDecoratorError(key);
    if (session === undefined) throw new SessionNotLoadedError(key);
    return session.get(key);
  },
  set(target, key, value) {
    if (typeof key === 'symbol' || isMember(key)) return false;
    // Checked now, so a bad value throws here even when the write waits for the load.
    assertStorable(key, value);
    contextOf(target).write((s) => s.set(key, value));
    return true;
  },
  deleteProperty(target, key) {
    if (typeof key === 'symbol' || isMember(key)) return false;
    contextOf(target).write((s) => s.delete(key));
    return true;
  },
  has(target, key) {
    if (typeof key === 'symbol') return false;
    return isMember(key) || loaded(target, key).has(key);
  },
  ownKeys(target) {
    return Object.keys(loaded(target, 'keys').all());
  },
  getOwnPropertyDescriptor(target, key) {
    if (typeof key === 'symbol' || isMember(key)) return undefined;
    const session = loaded(target, key);
    if (!session.has(key)) return undefined;
    return { value: session.get(key), writable: true, enumerable: true, configurable: true };
  },
};

/** Creates the `req.session` of one request; nothing is loaded until it is used. */
export function createRequestSession(source: RequestSessionSource, req: object, res: object): RequestSession {
  return new Proxy({ [kSource]: { source, req, res } } as Target, handler) as unknown as RequestSession;
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
