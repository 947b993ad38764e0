import type { CanActivate, ExecutionContext, OnApplicationBootstrap } from '@nestjs/common';
import { ModulesContainer, Reflector } from '@nestjs/core';
import { type ResolvedSessionLockOptions, type SessionLockOptions, lockContext, resolveLockOptions } from './core/session-lock.js';
import { SessionError, SessionGoneError, SessionStatelessError } from './core/session.errors.js';
import { SessionRuntime } from './core/session.runtime.js';
import type { SessionContext } from './core/session.context.js';
import { sessionHttp } from './http/session-http.adapter.js';
import { refusal, sessionSource } from './integrations/session-transport.js';
import { SESSION_LOCK_METADATA } from './session.constants.js';

type Handler = (...args: never[]) => unknown;

/** A handler's `@SessionLock()` options as looked up for the class it was looked up for. */
interface CachedLock {
  owner: object;
  /** The decorator's options, or `null` without `@SessionLock()`. */
  options: SessionLockOptions | null;
  /** The module defaults `lock` was resolved with: each app (runtime) has its own. */
  defaults: ResolvedSessionLockOptions | undefined;
  lock: ResolvedSessionLockOptions | null;
}

const reflector = new Reflector();
const cache = new WeakMap<Handler, CachedLock>();

/**
 * The lock options of the handler `context` runs, or `null` without `@SessionLock()` (internal):
 * the decorator's options cached per handler, filled in with `runtime`'s defaults, and resolved
 * again only when a handler runs in an app with other defaults than last time.
 */
export function sessionLockOf(context: ExecutionContext, runtime: SessionRuntime): ResolvedSessionLockOptions | null {
  const handler = context.getHandler() as Handler;
  const owner = context.getClass();
  let cached = cache.get(handler);
  if (cached === undefined || cached.owner !== owner) {
    const options = reflector.getAllAndOverride<SessionLockOptions | undefined>(SESSION_LOCK_METADATA, [handler, owner]) ?? null;
    cached = { owner, options, defaults: undefined, lock: null };
    cache.set(handler, cached);
  }
  if (cached.options === null) return null;
  const defaults = runtime.options.lock;
  if (cached.defaults !== defaults) {
    cached.lock = resolveLockOptions(cached.options, defaults, '@SessionLock()');
    cached.defaults = defaults;
  }
  return cached.lock;
}

/**
 * The class name of the store the app configured, for messages: `runtime.store` may be
 * OpenTelemetry's wrapper, a plain object. A plain object store is "the configured store".
 */
function configuredStoreName(runtime: SessionRuntime): string {
  const configured = runtime.options.store ?? runtime.store;
  const name = typeof configured === 'function' ? configured.name : (configured as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'the configured store';
}

/** Throws when the module's store cannot lock, saying why, for `@SessionLock()` on `where`. */
function assertCanLock(runtime: SessionRuntime, where: string): void {
  if (runtime.stateless) {
    throw new SessionStatelessError(
      `@SessionLock() on ${where} needs sessions kept on the server, and CookieStore keeps each session in its browser's cookie: two requests each bring their own copy, so there is nothing to lock between them. Remove @SessionLock(), or use RedisStore, PostgresStore, MysqlStore or MemoryStore.`,
    );
  }
  if (typeof runtime.store.lock !== 'function') {
    throw new SessionError(
      `@SessionLock() on ${where} needs a store with a lock() method, and ${configuredStoreName(runtime)} has none. Implement lock() (see SessionStore.lock; describeSessionStoreContract tests it), use RedisStore, PostgresStore, MysqlStore or MemoryStore, or remove @SessionLock().`,
    );
  }
}

/**
 * Takes the lock of the session `session`'s cookie names (internal), freed when `res` closes (HTTP)
 * or when the caller ends the context (a socket message). Rejects with 409 or 503 when it cannot.
 * A session loaded before (preload, middleware, or a guard of the app's that ran first; a load
 * still running is waited for) is read again under the lock, unless it was changed already
 * (those changes are kept); gone by then, it becomes a new, empty one.
 */
export async function takeSessionLock(runtime: SessionRuntime, session: SessionContext, lock: ResolvedSessionLockOptions, res?: object): Promise<void> {
  // Another resolver of the same GraphQL operation took it already.
  if (session.locked) return;
  // Checked at startup for the app's handlers; this catches those of lazily loaded modules.
  if (runtime.stateless || typeof runtime.store.lock !== 'function') assertCanLock(runtime, 'this handler');
  // No valid session cookie: the session will be new, and no other request can know it yet.
  const cookie = runtime.cookie.read(sessionHttp.cookieHeader(session.request));
  if (cookie === undefined) return;
  const taken = lockContext(session, runtime, cookie.handle, lock);
  if (res !== undefined) sessionHttp.whenClosed(res, (answered) => session.end(answered));
  await taken;
  // A load that began before the lock (preload, middleware) and still runs read what was there
  // before: wait for it, then read again. Its failure is left to whoever needs the session.
  if (session.started) await session.load().catch(() => undefined);
  const loaded = session.loaded;
  if (loaded === undefined || !loaded.inStore || runtime.hasChanges(loaded) || loaded.touchRequested) return;
  try {
    await loaded.reload();
  } catch (error) {
    // Destroyed (a logout) or moved (a login) by the holder before: the request goes on as one
    // that read no session under its cookie.
    if (!(error instanceof SessionGoneError)) throw error;
    loaded.startAfresh();
  }
}

/**
 * The first `Class.method` (or `Class`) marked with `@SessionLock()` among the app's controllers
 * and providers (resolvers, gateways), or `undefined` when none is. Read from the classes, so it
 * can run while the app's instances are being made.
 */
export function lockedHandlerIn(modules: ModulesContainer): string | undefined {
  for (const module of modules.values()) {
    for (const wrapper of [...module.controllers.values(), ...module.providers.values()]) {
      const type = wrapper.metatype as unknown;
      if (typeof type !== 'function' || type.prototype === undefined) continue;
      if (reflector.get(SESSION_LOCK_METADATA, type as Handler) !== undefined) return type.name;
      for (let proto = type.prototype as object | null; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
        for (const name of Object.getOwnPropertyNames(proto)) {
          const method = Object.getOwnPropertyDescriptor(proto, name)?.value as unknown;
          if (typeof method === 'function' && name !== 'constructor' && reflector.get(SESSION_LOCK_METADATA, method as Handler) !== undefined) {
            return `${type.name}.${name}`;
          }
        }
      }
    }
  }
  return undefined;
}

/**
 * Takes the session lock of `@SessionLock()` handlers (internal). `SessionModule` registers it as
 * a global guard, so it runs before the guards of controllers and handlers (which may load the
 * session), but only in an app with a `@SessionLock()` handler: Nest runs every global guard on
 * every route, and an app without one pays nothing. On any other handler it only looks up the
 * handler's metadata, cached per handler. Socket messages take theirs in `SessionInterceptor`,
 * after every guard: a guard that refuses a message then leaves nothing to free. At startup it
 * refuses `@SessionLock()` with a store that cannot lock.
 */
export class SessionLockGuard implements CanActivate, OnApplicationBootstrap {
  constructor(
    private readonly runtime: SessionRuntime,
    /** The first handler with `@SessionLock()`, named in the startup error. */
    private readonly where: string,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const lock = sessionLockOf(context, this.runtime);
    return lock === null ? true : this.take(context, lock);
  }

  private async take(context: ExecutionContext, lock: ResolvedSessionLockOptions): Promise<boolean> {
    const source = sessionSource(context);
    if (source.transport === 'ws') return true;
    try {
      await takeSessionLock(this.runtime, this.runtime.contextOf(source.req, source.res), lock, source.res);
    } catch (error) {
      throw await refusal(source, error);
    }
    return true;
  }

  /** Refuses `@SessionLock()` when the store cannot lock: a clear error at startup, not a failure per request. */
  onApplicationBootstrap(): void {
    assertCanLock(this.runtime, this.where);
  }
}
