import type { Type } from '@nestjs/common';
import type { SessionModuleOptions } from './session-module-options.interface.js';
import type { SessionStore } from './stores/session-store.interface.js';
import { isReservedKey } from './core/session-value.js';
import { type ResolvedLegacyOptions, resolveLegacyOptions } from './core/legacy-session.js';
import { type ResolvedSessionLockOptions, SESSION_LOCK_DEFAULTS, resolveLockOptions } from './core/session-lock.js';
import { SessionError } from './core/session.errors.js';

/** Options with every default filled in and every value checked (internal). */
export interface ResolvedSessionOptions {
  secrets: string[];
  store: SessionStore | Type<SessionStore> | undefined;
  cookie: {
    name: string;
    path: string;
    domain: string | undefined;
    secure: boolean;
    httpOnly: boolean;
    sameSite: 'lax' | 'strict' | 'none';
    partitioned: boolean;
    persistent: boolean;
  };
  idleTimeout: number;
  absoluteTimeout: number;
  touchInterval: number;
  authKey: string;
  /** `authKey` split at its dots: the keys from the session's data down to the user id. */
  authPath: readonly string[];
  preload: boolean;
  asyncContext: boolean;
  maxSessionBytes: number;
  csrf: { headerName: string; fieldName: string };
  maxSessionsPerUser: number | undefined;
  legacy: ResolvedLegacyOptions | undefined;
  telemetry: { enabled: boolean; includeHandle: boolean; countSessions: boolean };
  globalInterceptor: boolean;
  /** Defaults of `@SessionLock()`. */
  lock: ResolvedSessionLockOptions;
}

const MIN_SECRET_BYTES = 32;
// A secret of few distinct characters ('x'.repeat(32), 'abababab...') is long but guessable.
const MIN_SECRET_DISTINCT = 8;
const MAKE_SECRET = 'Generate one with `openssl rand -base64 48` and keep it out of source control.';
const DAY = 86_400_000;
const SAME_SITE = ['lax', 'strict', 'none'] as const;
// RFC 6265 cookie-name token: no separators, controls or spaces.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function fail(problem: string, fix: string): never {
  throw new SessionError(`SessionModule: ${problem}. ${fix}`);
}

function checkSecrets(secret: unknown): string[] {
  const secrets: unknown[] = Array.isArray(secret) ? secret : [secret];
  const missing = (s: unknown): boolean => s === undefined || s === null || s === '';
  if (secrets.length === 0 || secrets.every(missing)) {
    const got = Array.isArray(secret) && secrets.length === 0 ? 'an empty list' : secret === '' ? 'an empty string' : String(secret);
    fail(
      `secret is missing (got ${got}); an unset SESSION_SECRET environment variable is the usual cause`,
      `Set SESSION_SECRET (or whatever you pass as \`secret\`) to a random string of at least ${MIN_SECRET_BYTES} bytes. ${MAKE_SECRET}`,
    );
  }
  secrets.forEach((s, i) => {
    const which = secrets.length > 1 ? `secret[${i}]` : 'secret';
    if (missing(s)) fail(`${which} is missing (got ${s === '' ? 'an empty string' : String(s)})`, `Remove it from the list or set it. ${MAKE_SECRET}`);
    if (typeof s !== 'string') fail(`${which} must be a string, got ${typeof s}`, MAKE_SECRET);
    const bytes = Buffer.byteLength(s, 'utf8');
    if (bytes < MIN_SECRET_BYTES) fail(`${which} is too short: ${bytes} byte${bytes === 1 ? '' : 's'}, at least ${MIN_SECRET_BYTES} are needed`, MAKE_SECRET);
    const distinct = new Set(s).size;
    if (distinct < MIN_SECRET_DISTINCT) {
      fail(`${which} is too easy to guess: it has only ${distinct} distinct character${distinct === 1 ? '' : 's'}, at least ${MIN_SECRET_DISTINCT} are needed`, `Use a random secret. ${MAKE_SECRET}`);
    }
  });
  return secrets as string[];
}

function positive(name: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    fail(`${name} must be a positive number of milliseconds, got ${String(value)}`, `Set ${name} to e.g. ${fallback}.`);
  }
  return Math.floor(value);
}

function flag(name: string, value: unknown, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(`${name} must be true or false, got ${String(value)}`, `Set ${name}: ${String(!fallback)} or leave it out.`);
  return value;
}

/**
 * Merges defaults into the user's options and checks them, for `forRoot` and `forRootAsync`
 * alike, so a bad configuration stops the app at startup with a message saying how to fix it.
 */
export function resolveSessionOptions(options: SessionModuleOptions | undefined): ResolvedSessionOptions {
  if (!options || typeof options !== 'object') {
    fail('no options were given', "Pass at least { secret: process.env.SESSION_SECRET } to SessionModule.forRoot().");
  }
  const secrets = checkSecrets(options.secret);

  const c = options.cookie ?? {};
  const name = c.name ?? 'sid';
  if (!COOKIE_NAME.test(name)) {
    fail(`cookie.name "${name}" is not a valid cookie name`, 'Use letters, digits and !#$%&\'*+-.^_`|~ only.');
  }
  const sameSite = c.sameSite ?? 'lax';
  if (!(SAME_SITE as readonly string[]).includes(sameSite)) {
    fail(`cookie.sameSite "${String(sameSite)}" is not supported`, "Use 'lax', 'strict' or 'none'.");
  }
  const cookie: ResolvedSessionOptions['cookie'] = {
    name,
    path: c.path ?? '/',
    domain: c.domain,
    secure: c.secure ?? true,
    httpOnly: c.httpOnly ?? true,
    sameSite,
    partitioned: c.partitioned ?? false,
    persistent: c.persistent ?? false,
  };
  // Browsers apply the prefix rules whatever the case of the prefix (`__host-sid` too).
  const lowerName = name.toLowerCase();
  if (lowerName.startsWith('__host-')) {
    if (!cookie.secure || cookie.path !== '/' || cookie.domain !== undefined) {
      fail(
        `a cookie named "${name}" must be Secure, with Path=/ and no Domain (browsers drop it otherwise)`,
        'Remove cookie.secure: false, cookie.path and cookie.domain, or choose a name without the __Host- prefix.',
      );
    }
  } else if (lowerName.startsWith('__secure-') && !cookie.secure) {
    fail(`a cookie named "${name}" must be Secure`, 'Remove cookie.secure: false or rename the cookie.');
  }
  if ((cookie.sameSite === 'none' || cookie.partitioned) && !cookie.secure) {
    fail('cookie.sameSite "none" and cookie.partitioned need cookie.secure', 'Keep cookie.secure: true (the default).');
  }

  const idleTimeout = positive('idleTimeout', options.idleTimeout, DAY);
  const absoluteTimeout = positive('absoluteTimeout', options.absoluteTimeout, 7 * DAY, true);
  const touchInterval = positive('touchInterval', options.touchInterval, Math.min(60_000, Math.floor(idleTimeout / 10)), true);
  if (touchInterval >= idleTimeout) {
    fail(`touchInterval (${touchInterval}) must be less than idleTimeout (${idleTimeout})`, 'Lower touchInterval or raise idleTimeout.');
  }
  const authKey = options.authKey ?? 'userId';
  if (typeof authKey !== 'string' || authKey.length === 0) {
    fail('authKey must be a non-empty string', "Use the session key that holds the logged-in user's id, e.g. 'userId'.");
  }
  const authPath = authKey.split('.');
  if (authPath.includes('')) {
    fail(`authKey "${authKey}" has an empty key in it`, "Separate the keys of a path with single dots, e.g. 'userId' or 'passport.user'.");
  }
  const reserved = authPath.find(isReservedKey);
  if (reserved !== undefined) {
    const which = authPath.length > 1 ? `: "${reserved}" is not allowed as a session key` : ' is not allowed as a session key';
    fail(`authKey "${authKey}"${which}`, "Use the session key that holds the logged-in user's id, e.g. 'userId' (or 'passport.user' with Passport).");
  }
  const maxSessionsPerUser = options.maxSessionsPerUser;
  if (maxSessionsPerUser !== undefined && (!Number.isInteger(maxSessionsPerUser) || maxSessionsPerUser < 1)) {
    fail(`maxSessionsPerUser must be a positive whole number, got ${String(maxSessionsPerUser)}`, 'Set it to e.g. 20, or leave it out for no limit.');
  }
  const store = options.store;
  if (store !== undefined && typeof store !== 'function' && (typeof store !== 'object' || store === null || typeof store.get !== 'function' || typeof store.set !== 'function' || typeof store.destroy !== 'function')) {
    fail('store must be a SessionStore instance or class', 'Give an object with get, set and destroy methods, or a class implementing SessionStore.');
  }

  const preload = flag('preload', options.preload);
  const asyncContext = flag('asyncContext', options.asyncContext);
  const globalInterceptor = flag('globalInterceptor', options.globalInterceptor, true);

  const maxSessionBytes = options.maxSessionBytes ?? 65_536;
  if (typeof maxSessionBytes !== 'number' || !Number.isInteger(maxSessionBytes) || maxSessionBytes < 0) {
    fail(`maxSessionBytes must be a whole number of bytes, got ${String(options.maxSessionBytes)}`, 'Set it to e.g. 65536, or 0 for no limit.');
  }
  const csrf = { headerName: options.csrf?.headerName ?? 'x-csrf-token', fieldName: options.csrf?.fieldName ?? '_csrf' };
  if (typeof csrf.headerName !== 'string' || !COOKIE_NAME.test(csrf.headerName) || typeof csrf.fieldName !== 'string' || csrf.fieldName.length === 0) {
    fail('csrf.headerName must be a valid header name and csrf.fieldName a non-empty string', "Use e.g. { headerName: 'x-csrf-token', fieldName: '_csrf' }.");
  }
  csrf.headerName = csrf.headerName.toLowerCase();
  const t = options.telemetry ?? {};
  if (typeof t !== 'object' || t === null) fail(`telemetry must be an object, got ${String(t)}`, 'Use e.g. telemetry: { includeHandle: true }, or leave it out.');
  const telemetry = { enabled: t.enabled ?? true, includeHandle: flag('telemetry.includeHandle', t.includeHandle), countSessions: flag('telemetry.countSessions', t.countSessions) };
  if (typeof telemetry.enabled !== 'boolean') fail(`telemetry.enabled must be true or false, got ${String(t.enabled)}`, 'Set telemetry.enabled: false or leave it out.');

  const lock = resolveLockOptions(options.lock, SESSION_LOCK_DEFAULTS, 'SessionModule: lock');
  const legacy = resolveLegacyOptions(options.legacy, cookie.name);

  return { secrets: [...secrets], store, cookie, idleTimeout, absoluteTimeout, touchInterval, authKey, authPath, preload, asyncContext, maxSessionBytes, csrf, maxSessionsPerUser, legacy, telemetry, globalInterceptor, lock };
}
