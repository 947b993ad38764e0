// First, so a second copy of the package (the other module format) is reported before anything else runs.
import './core/dual-package.check.js';

export { CookieStore, type CookieStoreOptions } from './stores/cookie.store.js';
export {
  ExpressSessionStore,
  type ExpressSessionRecord,
  type ExpressSessionStoreCallback,
  type ExpressSessionStoreLike,
  type ExpressSessionStoreOptions,
} from './stores/express-session.store.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.store.js';
export { MysqlStore, type MysqlCallbackPool, type MysqlPool, type MysqlPoolConnection, type MysqlQueryOptions, type MysqlStoreOptions } from './stores/mysql.store.js';
export { PostgresStore, type PostgresPool, type PostgresPoolClient, type PostgresQueryResult, type PostgresStoreOptions } from './stores/postgres.store.js';
export { RedisStore, type RedisStoreOptions } from './stores/redis.store.js';
export { SESSION_STORE } from './session.constants.js';
export { Session, UseSession } from './session.decorator.js';
export {
  SessionBusyException,
  SessionContextError,
  SessionCookieOptionError,
  SessionCookieTooLargeError,
  SessionError,
  SessionGoneError,
  SessionLockLostException,
  SessionNotLoadedError,
  SessionResponseSentError,
  SessionStatelessError,
  SessionStoreCapabilityError,
  SessionStoreUnavailableException,
  SessionTooLargeError,
  SessionWrongDecoratorError,
} from './core/session.errors.js';
export { CsrfGuard, InvalidCsrfTokenException } from './csrf/csrf.guard.js';
export { SkipCsrf } from './csrf/skip-csrf.decorator.js';
export type {
  SessionCreatedEvent,
  SessionDestroyedEvent,
  SessionEvent,
  SessionEventType,
  SessionExpiredEvent,
  SessionRegeneratedEvent,
  SessionRevokedEvent,
  SessionStoreErrorEvent,
} from './core/session.events.js';
export type { RequestSession, RequestSessionCookie } from './integrations/request-session.facade.js';
export { SessionGuard } from './session.guard.js';
export { SessionLock } from './session-lock.decorator.js';
export type { SessionLockOptions } from './core/session-lock.js';
export type { SessionData, SessionHandleApi, SessionKey, SessionNumberKey, SessionValue } from './core/session.interface.js';
export { SessionInterceptor } from './session.interceptor.js';
export type { SessionCookieOptions, SessionCsrfOptions, SessionLegacyOptions, SessionModuleOptions, SessionTelemetryOptions } from './session-module-options.interface.js';
export { SessionModule, type SessionModuleAsyncOptions, type SessionOptionsFactory } from './session.module.js';
export { SessionService, type UserSession } from './session.service.js';
export type { SessionPatch, SessionRecord, SessionStore, SessionStoreLease, SessionStoreLockRequest, SessionStoreUserEntry } from './stores/session-store.interface.js';
export { SessionValueError } from './core/session-value.js';
