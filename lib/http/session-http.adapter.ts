import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { COMMITTED } from '../core/session.context.js';

/** What the core needs of a request: its headers (Express `Request` and Fastify `FastifyRequest` both qualify). */
export interface SessionHttpRequest {
  headers: IncomingHttpHeaders;
}

/** What the core needs of a response: Express `Response` or Fastify `FastifyReply`. */
export type SessionHttpResponse = object;

/** What the adapter asks of the library when it wires an app (internal). */
export interface SessionHttpHost {
  /** The `req.session` object of a request (framework request and response). */
  requestSession(req: object, res: object): object;
  /** Runs before any middleware of the app, when preload or async context need it. */
  readonly onRequest: ((req: object, res: object, next: () => void) => void) | undefined;
  /** The request's session context, if anything used the session. */
  contextIf(req: object): SessionFlushable | undefined;
  /** The answer that replaces the response of `context` when its session could not be saved. */
  failure(error: unknown, context: SessionFlushable): { status: number; body: object };
  /** Reports an error that can no longer reach the client. */
  logLate(error: unknown): void;
  /** `req.sessionID`: the handle of the request's loaded session. */
  sessionID(req: object): string;
}

/** The session context the adapter saves before the headers leave (internal). */
export interface SessionFlushable {
  readonly response: object;
  readonly request: object;
  /** True once anything asked for the session. */
  readonly started: boolean;
  /**
   * Saves what is left to save (nothing after the interceptor's save failed: its error answers):
   * the shared `COMMITTED` where the save was over before it returned.
   */
  flushLeft(): Promise<void>;
  /** As {@link flushLeft} when nothing is left to save, at once: false when `flushLeft()` must run. */
  settleLeft(): boolean;
}

interface ExpressLikeResponse {
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: string | string[]): unknown;
  headersSent: boolean;
}

interface FastifyLikeReply {
  raw: ServerResponse;
  sent: boolean;
  send(payload: unknown): unknown;
  getHeader(name: string): number | string | string[] | undefined;
  header(name: string, value: string): unknown;
  code(status: number): unknown;
  removeHeader(name: string): unknown;
}

interface FastifyLikeRequest {
  raw: IncomingMessage & { session?: object };
}

type Hook = (req: object, res: object, done: (error?: unknown) => void) => unknown;

/** The parts of Nest's `AbstractHttpAdapter` used here. */
interface NestHttpAdapterLike {
  getType(): string;
  getInstance(): unknown;
  setOnRequestHook?(hook: Hook): void;
  onRequestHook?: Hook;
}

interface ExpressLikeApp {
  request: object;
  response: object;
  use(handler: (req: object, res: object, next: () => void) => void): unknown;
}

interface FastifyLikeInstance {
  decorateRequest(name: string | symbol, value: { getter(this: FastifyLikeRequest): unknown }): unknown;
  hasRequestDecorator(name: string | symbol): boolean;
  addHook(name: 'onSend', hook: (request: FastifyLikeRequest, reply: FastifyLikeReply, payload: unknown, done: (error: unknown, payload?: unknown) => void) => void): unknown;
  addHook(name: 'onRequest', hook: Hook): unknown;
}

/** The library's host of an app's requests, reachable from every request of that app. */
const kHost = Symbol('nestjs-sessionkit.host');

/** Marks a Fastify reply whose session is being saved before its headers leave. */
const kSaving = Symbol('nestjs-sessionkit.saving');

function isFastifyReply(res: object): res is FastifyLikeReply {
  return 'raw' in res && typeof (res as { header?: unknown }).header === 'function';
}

function isStream(payload: unknown): payload is { pipe: unknown; destroy(): void } {
  return payload !== null && typeof payload === 'object' && typeof (payload as { pipe?: unknown }).pipe === 'function';
}

/** Headers that described the body the failure answer replaces. */
const BODY_HEADERS = ['content-length', 'content-type', 'content-encoding', 'content-disposition', 'etag', 'last-modified', 'transfer-encoding'];

/**
 * Headers given to `writeHead()` replace those set before, and so would drop the session's
 * `Set-Cookie`: a `Set-Cookie` among them is added to the one already set instead.
 */
function keepSetCookie(res: ServerResponse, args: unknown[]): void {
  let headers: Record<string, unknown> | undefined;
  for (let i = 1; i < args.length && headers === undefined; i++) {
    const arg = args[i];
    if (arg !== null && typeof arg === 'object' && !Array.isArray(arg)) headers = arg as Record<string, unknown>;
  }
  // Most calls (Node's own implicit writeHead among them) give no headers: nothing read then.
  if (headers === undefined) return;
  const before = res.getHeader('set-cookie');
  if (before === undefined) return;
  const name = Object.keys(headers).find((key) => key.toLowerCase() === 'set-cookie');
  if (name === undefined) return;
  headers[name] = [...(Array.isArray(before) ? before : [String(before)]), ...(Array.isArray(headers[name]) ? (headers[name] as unknown[]) : [headers[name]])];
}

/**
 * Fastify, a streamed body: saves what changed after the headers left, then ends. A failure now
 * cannot become a 503, so it is logged and the connection is cut: never a silent success.
 */
function saveBeforeEnd(res: ServerResponse, end: ServerResponse['end'], context: SessionFlushable, host: SessionHttpHost): void {
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    const saving = context.flushLeft();
    if (saving === COMMITTED) return (end as (...a: unknown[]) => ServerResponse).apply(res, args);
    saving.then(
      () => void (end as (...a: unknown[]) => ServerResponse).apply(res, args),
      (error: unknown) => {
        host.logLate(error);
        res.destroy();
      },
    );
    return res;
  } as ServerResponse['end'];
}

type NodeWrite = (this: ServerResponse, ...args: unknown[]) => unknown;

/** The three calls through which a Node response's headers and body leave. */
interface NodeWrites {
  writeHead: NodeWrite;
  write: NodeWrite;
  end: NodeWrite;
}

/** Set on an Express app's response prototype once its writes are guarded there. */
const kGuarded = Symbol('nestjs-sessionkit.guarded');

type GuardedResponse = ServerResponse & { [kGuarded]?: true };

/** The session context of a response's request, if its request used the session. */
type ContextOfResponse = (res: ServerResponse) => SessionFlushable | undefined;

/**
 * A response whose first write waits for its session's save: what waits, delivered in order once
 * saved; on a failure, the failure's answer instead (a 503), or a cut connection once the
 * headers left. Exists only while a save holds the response.
 */
class HeldResponse {
  /** A `write` returned false while held: a stream piped into the response waits for `drain`. */
  private blocked = false;
  private readonly held: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    private readonly base: NodeWrites,
    private readonly context: SessionFlushable,
    private readonly host: SessionHttpHost,
    saving: Promise<void>,
  ) {
    holding.set(res, this);
    saving.then(
      () => this.release(),
      (error: unknown) => this.fail(error),
    );
  }

  hold(deliver: () => void, blocks: boolean): void {
    this.held.push(deliver);
    if (blocks) this.blocked = true;
  }

  private release(): void {
    holding.set(this.res, 'released');
    for (const deliver of this.held.splice(0)) deliver();
    // A stream piped into the response paused on our `false`: let it go on.
    if (this.blocked) this.res.emit('drain');
  }

  private fail(error: unknown): void {
    const res = this.res;
    holding.set(res, 'failed');
    this.held.length = 0;
    if (res.headersSent) {
      this.host.logLate(error);
      res.destroy();
      return;
    }
    const { status, body } = this.host.failure(error, this.context);
    for (const name of BODY_HEADERS) res.removeHeader(name);
    const text = JSON.stringify(body);
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(text));
    this.base.end.call(res, text);
  }
}

/**
 * Saves what is left before a response's first write: the {@link HeldResponse} its writes wait
 * in, or none when the save was over before it returned (the response is `released` at once, as
 * a held one is once its save is done).
 */
function holdFor(res: ServerResponse, base: NodeWrites, context: SessionFlushable, host: SessionHttpHost): HeldResponse | undefined {
  const saving = context.flushLeft();
  if (saving !== COMMITTED) return new HeldResponse(res, base, context, host, saving);
  holding.set(res, 'released');
  return undefined;
}

/**
 * Responses whose first write waited for a save: held while it runs, then `released` (their writes
 * go out, Node's own implicit `writeHead` included), or `failed` (the failure's answer went out).
 */
const holding = new WeakMap<ServerResponse, HeldResponse | 'released' | 'failed'>();

/**
 * Express: the first `writeHead`, `write` or `end` of a response whose request used the session
 * waits until the session is saved, so the cookie goes out with the headers and a store failure
 * can still become a 503. When nothing is left to save (the interceptor saved it, or nothing
 * changed), the write goes at once and nothing is allocated. After the headers left (a streamed
 * body), the end waits for what changed since; a failure then cannot become a 503, so it is
 * logged and the connection cut: never a silent success. Installed once on an Express app's
 * response prototype, or on one response that does not inherit from such a prototype.
 */
function guardedWrites(base: NodeWrites, contextOf: ContextOfResponse, host: SessionHttpHost): NodeWrites {
  /** The save the response's first write must wait for: the one in progress, or a new one; none when it may go. */
  const saveFirst = (res: ServerResponse, context: SessionFlushable): HeldResponse | undefined => {
    const state = holding.get(res);
    if (state !== undefined) return typeof state === 'object' ? state : undefined;
    // settleLeft() first: it reads nothing of the response, and most responses are settled.
    if (context.settleLeft() || res.headersSent) return undefined;
    return holdFor(res, base, context, host);
  };
  return {
    writeHead(this: ServerResponse, ...args: unknown[]) {
      const context = contextOf(this);
      if (context === undefined) return base.writeHead.apply(this, args);
      const waiting = saveFirst(this, context);
      if (waiting === undefined) {
        keepSetCookie(this, args);
        return base.writeHead.apply(this, args);
      }
      waiting.hold(() => {
        keepSetCookie(this, args);
        base.writeHead.apply(this, args);
      }, false);
      return this;
    },
    write(this: ServerResponse, ...args: unknown[]) {
      const context = contextOf(this);
      const waiting = context === undefined ? undefined : saveFirst(this, context);
      if (waiting === undefined) return base.write.apply(this, args);
      waiting.hold(() => base.write.apply(this, args), true);
      return false;
    },
    end(this: ServerResponse, ...args: unknown[]) {
      const context = contextOf(this);
      if (context === undefined) return base.end.apply(this, args);
      const state = holding.get(this);
      if (typeof state === 'object') {
        state.hold(() => base.end.apply(this, args), false);
        return this;
      }
      if (state === 'failed' || context.settleLeft()) return base.end.apply(this, args);
      if (state === undefined && !this.headersSent) {
        const waiting = holdFor(this, base, context, host);
        if (waiting === undefined) return base.end.apply(this, args);
        waiting.hold(() => base.end.apply(this, args), false);
        return this;
      }
      // Headers sent before the body ended: save what changed since, then end (now, if saved at once).
      const saving = context.flushLeft();
      if (saving === COMMITTED) return base.end.apply(this, args);
      saving.then(
        () => base.end.apply(this, args),
        (error: unknown) => {
          host.logLate(error);
          this.destroy();
        },
      );
      return this;
    },
  };
}

const WRITES = ['writeHead', 'write', 'end'] as const;

/** The writes `target` has now (its own or inherited), to call under the guarded ones. */
function writesOf(target: object): NodeWrites {
  const { writeHead, write, end } = target as NodeWrites;
  return { writeHead, write, end };
}

/** Puts `writes` on `target` (an app's response prototype, or one response). */
function installWrites(target: object, writes: NodeWrites): void {
  for (const name of WRITES) {
    Object.defineProperty(target, name, { configurable: true, writable: true, value: writes[name] });
  }
}

/**
 * The one place that knows how Express and Fastify differ: everything else in the library
 * reads and writes requests and responses through these functions.
 */
export const sessionHttp = {
  cookieHeader(req: SessionHttpRequest | object): string | undefined {
    return (req as SessionHttpRequest).headers.cookie;
  },

  /** The Node request under a framework request (both frameworks keep one per request). */
  nodeRequest(req: object): object {
    const raw = (req as { raw?: unknown }).raw;
    return raw !== null && typeof raw === 'object' && 'headers' in raw ? raw : req;
  },

  /** The library's host of the app a request belongs to, if the app imported SessionModule. */
  hostOf<T>(req: object): T | undefined {
    return (req as { [kHost]?: T })[kHost];
  },

  headersSent(res: SessionHttpResponse): boolean {
    // An Express response is Node's, whose own flag one lookup finds (Express gives its responses
    // a new shape on every request, so each lookup there misses V8's caches and costs thousands of
    // instructions: the fewer, the better); a Fastify reply has none, its Node response has.
    const sent = (res as Partial<ExpressLikeResponse>).headersSent;
    if (typeof sent === 'boolean') return sent;
    return isFastifyReply(res) && res.raw.headersSent;
  },

  getHeader(res: SessionHttpResponse, name: string): string | undefined {
    const value = (res as ExpressLikeResponse | FastifyLikeReply).getHeader(name);
    return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
  },

  setHeader(res: SessionHttpResponse, name: string, value: string): void {
    if (isFastifyReply(res)) res.header(name, value);
    else (res as ExpressLikeResponse).setHeader(name, value);
  },

  /**
   * Sets what `req.session` is for the rest of the request (on the Node request both frameworks
   * share; Fastify's `request.session` reads it from there): a new object after
   * `req.session.regenerate()`, `undefined` after `req.session.destroy()`.
   */
  setRequestSession(req: object, value: object | undefined): void {
    (sessionHttp.nodeRequest(req) as { session?: object }).session = value;
  },

  /**
   * Hands an error raised outside the route's own flow (a callback given to a `req.session`
   * method) to the framework's error handling, where Nest's exception filters answer it: Express's
   * `next(error)`, Fastify's `reply.send(error)`. False when the response was sent already.
   */
  failRequest(req: object, res: object, error: unknown): boolean {
    if (isFastifyReply(res)) {
      if (res.sent) return false;
      res.send(error);
      return true;
    }
    if ((res as ExpressLikeResponse).headersSent) return false;
    const next = (req as { next?: (error: unknown) => void }).next;
    if (typeof next === 'function') {
      next(error);
      return true;
    }
    const raw = res as ServerResponse;
    raw.statusCode = 500;
    raw.end();
    return true;
  },

  /**
   * Calls `listener` once the response is over: sent whole, or its connection closed early.
   * `answered` tells whether its headers had gone out by then.
   */
  whenClosed(res: SessionHttpResponse, listener: (answered: boolean) => void): void {
    const raw = isFastifyReply(res) ? res.raw : (res as ServerResponse);
    if (raw.closed) return listener(raw.headersSent);
    raw.once('close', () => listener(raw.headersSent));
  },

  /** Adds a `Set-Cookie` header, keeping any the application set itself. */
  appendSetCookie(res: SessionHttpResponse, value: string): void {
    if (isFastifyReply(res)) {
      // Fastify collects repeated set-cookie headers into a list by itself.
      res.header('set-cookie', value);
      return;
    }
    const r = res as ExpressLikeResponse;
    const prev = r.getHeader('set-cookie');
    r.setHeader('set-cookie', prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value]);
  },

  /**
   * Makes sure a request's session is saved before its response headers leave. Fastify: the
   * app-wide `onSend` hook (installed once) does it. Express: this response's first write is
   * held until the save is done.
   */
  commitBeforeHeaders(context: SessionFlushable, host: SessionHttpHost): void {
    const res = context.response as GuardedResponse;
    // An app's response (checked first, in one lookup: on Express, where each lookup misses V8's
    // caches, see `headersSent`): its prototype's writes find the context through the request.
    if (res[kGuarded] === true) return;
    if (isFastifyReply(res)) return;
    // Any other response: its own writes are wrapped.
    installWrites(
      res,
      guardedWrites(writesOf(res), () => context, host),
    );
  },

  /**
   * Wires an app once, when Nest knows its HTTP adapter: `req.session` on every request, the
   * save before the headers leave, and the per-request hook (only when preload or async context
   * need one). The hook goes through Nest's own `setOnRequestHook`, which runs before every
   * middleware the app registers.
   */
  install(adapter: NestHttpAdapterLike, host: SessionHttpHost): void {
    const fastify = adapter.getType() === 'fastify';
    if (fastify) {
      const instance = adapter.getInstance() as FastifyLikeInstance;
      if (!instance.hasRequestDecorator('session')) {
        instance.decorateRequest('session', {
          getter(this: FastifyLikeRequest) {
            return this.raw.session;
          },
        });
      }
      instance.decorateRequest(kHost, { getter: () => host });
      if (!instance.hasRequestDecorator('sessionID')) {
        instance.decorateRequest('sessionID', {
          getter(this: FastifyLikeRequest) {
            return host.sessionID(this);
          },
        });
      }
      instance.addHook('onSend', (request, reply, payload, done) => {
        const context = host.contextIf(request);
        if (context === undefined || !context.started) return done(null, payload);
        // Nothing left to save: no wait. A stream still needs the save before its end, below.
        if (!isStream(payload) && context.settleLeft()) return done(null, payload);
        const r = reply as FastifyLikeReply & { [kSaving]?: true };
        // A second send while the first waits for the save: an async route handler that resolved
        // `undefined` after sending (Fastify then sends again, as NestJS 11 redirects make it do).
        // The first send answers; this one is dropped.
        if (r[kSaving]) return;
        r[kSaving] = true;
        const saving = context.flushLeft();
        if (saving === COMMITTED) {
          // Saved before it returned: the payload goes on now, not a tick later.
          if (isStream(payload)) saveBeforeEnd(reply.raw, reply.raw.end, context, host);
          return done(null, payload);
        }
        saving.then(
          () => {
            // A streamed body is written after this hook: changes made meanwhile are saved before it ends.
            if (isStream(payload)) saveBeforeEnd(reply.raw, reply.raw.end, context, host);
            done(null, payload);
          },
          (error: unknown) => {
            const { status, body } = host.failure(error, context);
            if (isStream(payload)) payload.destroy();
            reply.code(status);
            for (const name of BODY_HEADERS) reply.removeHeader(name);
            reply.header('content-type', 'application/json; charset=utf-8');
            done(null, JSON.stringify(body));
          },
        );
      });
    } else {
      const app = adapter.getInstance() as ExpressLikeApp;
      Object.defineProperty(app.request, kHost, { configurable: true, value: host });
      // Express gives each response the app's prototype: guarding the writes there once costs a
      // response nothing until its request uses the session.
      if (!Object.hasOwn(app.response, kGuarded)) {
        const base = writesOf(app.response);
        const contextOf = (res: ServerResponse): SessionFlushable | undefined => {
          const req = (res as ServerResponse & { req?: object }).req;
          return req === undefined ? undefined : host.contextIf(req);
        };
        installWrites(app.response, guardedWrites(base, contextOf, host));
        Object.defineProperty(app.response, kGuarded, { configurable: true, value: true });
      }
      Object.defineProperty(app.request, 'session', {
        configurable: true,
        get(this: { res: object }) {
          const session = host.requestSession(this, this.res);
          Object.defineProperty(this, 'session', { configurable: true, enumerable: true, writable: true, value: session });
          return session;
        },
        // Another session middleware assigning req.session gets its own property, as before.
        set(this: object, value: unknown) {
          Object.defineProperty(this, 'session', { configurable: true, enumerable: true, writable: true, value });
        },
      });
      Object.defineProperty(app.request, 'sessionID', {
        configurable: true,
        get(this: object) {
          return host.sessionID(this);
        },
        set(this: object, value: unknown) {
          Object.defineProperty(this, 'sessionID', { configurable: true, enumerable: true, writable: true, value });
        },
      });
    }

    const onRequest = host.onRequest;
    // Fastify's middleware (and so Nest middleware on Fastify) see the Node request: it needs
    // its own `session`. Express requests find theirs on the app's request prototype.
    const hook: Hook | undefined = fastify
      ? (request, reply, done) => {
          const raw = (request as FastifyLikeRequest).raw;
          raw.session = host.requestSession(request, reply);
          if (onRequest === undefined) return done();
          onRequest(request, reply, done);
        }
      : onRequest === undefined
        ? undefined
        : (req, res, done) => onRequest(req, res, done);
    if (hook === undefined) return;
    if (typeof adapter.setOnRequestHook === 'function') {
      // Keep a hook the app set before us.
      const previous = adapter.onRequestHook;
      adapter.setOnRequestHook(
        previous === undefined
          ? hook
          : (req, res, done) =>
              hook(req, res, (error?: unknown) => (error === undefined ? previous.call(adapter, req, res, done) : done(error))),
      );
    } else if (fastify) {
      (adapter.getInstance() as FastifyLikeInstance).addHook('onRequest', hook);
    } else {
      (adapter.getInstance() as ExpressLikeApp).use(hook);
    }
  },
};
