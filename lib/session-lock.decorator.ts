import { SetMetadata } from '@nestjs/common';
import { SESSION_LOCK_DEFAULTS, type SessionLockOptions, resolveLockOptions } from './core/session-lock.js';
import { SESSION_LOCK_METADATA } from './session.constants.js';
import { socketSessions } from './integrations/socket-session.js';
import { SessionInterceptor } from './session.interceptor.js';

/**
 * Runs the requests of one session that reach this handler (or any handler of this controller,
 * resolver or gateway) one at a time: each takes its session's lock before the session is loaded
 * and frees it after its changes are saved, so read-modify-write code (`set('cart', [...cart,
 * item])`) loses nothing to a parallel request of the same session. A request that waited
 * `waitMs` answers `409 Conflict` (`SessionBusyException`) and changes nothing. Options left out
 * come from `SessionModule.forRoot({ lock })`.
 *
 * A request without a valid session cookie takes no lock: its session is new, and no other
 * request can know it yet. Routes without the decorator take no lock and pay nothing for it.
 * Needs a store with `lock` (MemoryStore, RedisStore, PostgresStore, MysqlStore); with
 * CookieStore, or a store without it, the app refuses to start.
 */
export function SessionLock(options?: SessionLockOptions): ClassDecorator & MethodDecorator {
  // Checked now, so a bad value points at the decorator; the module's defaults fill the rest later.
  resolveLockOptions(options, SESSION_LOCK_DEFAULTS, '@SessionLock()');
  const mark = SetMetadata(SESSION_LOCK_METADATA, { ...options });
  const decorate = (target: object, key?: string | symbol, descriptor?: PropertyDescriptor): void => {
    if (key !== undefined && descriptor !== undefined) {
      mark(target, key, descriptor);
      // A socket message has no response to end: the interceptor that saves it also frees the lock
      // (bound here too for apps with `globalInterceptor: false`).
      socketSessions.bindSaving(target, key, SessionInterceptor);
      return;
    }
    mark(target as never);
    const proto = (target as { prototype: object }).prototype;
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== 'constructor' && typeof Object.getOwnPropertyDescriptor(proto, name)?.value === 'function') socketSessions.bindSaving(proto, name, SessionInterceptor);
    }
  };
  return decorate as ClassDecorator & MethodDecorator;
}
