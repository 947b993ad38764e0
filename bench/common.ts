/**
 * What the benchmark apps, the load generator and the orchestrators (`run.ts`, `instructions.ts`)
 * share: the apps, the scenarios, the session data, the database settings, and how an
 * orchestrator gets a session from an app and stops one.
 */
import type { ChildProcess } from 'node:child_process';

export type AdapterName = 'express' | 'fastify';
export type Library = 'bare' | 'nestjs-sessionkit' | 'express-session' | '@fastify/session';
/** 'cookie': nestjs-sessionkit's CookieStore (the session travels in the cookie, encrypted; no server-side bytes). */
export type StoreKind = 'none' | 'memory' | 'redis' | 'postgres' | 'mysql' | 'cookie';

export interface AppSpec {
  /** The name the launcher takes as argument. */
  name: string;
  adapter: AdapterName;
  library: Library;
  store: StoreKind;
  /**
   * The floor app of its adapter: the smallest Nest app that does a session's work by hand, with
   * no library (bench/apps/minimal.ts: finds and checks the signed cookie, reads and writes one Map
   * entry, signs a new id on a first visit). What any session library in a Nest app costs at least.
   * A floor on Redis or PostgreSQL (`store`) does the same with one round trip per read and per
   * write (bench/apps/minimal-redis.ts, minimal-postgres.ts): the yardstick of that store.
   */
  floor?: boolean;
  /**
   * nestjs-sessionkit on an express-session store through `ExpressSessionStore` (`store` names the
   * server): what an app pays for reaching a community store rather than a native one.
   */
  wraps?: 'connect-redis';
  /**
   * A nestjs-sessionkit option turned on (`globalInterceptor`: turned off), to measure what it
   * costs every request; for the bare app, `noopInterceptor` adds a global interceptor that does
   * nothing, `jsonCopy` makes it the floor's routes keeping each session as JSON (bench/apps/minimal.ts),
   * and `sameWork` the floor's session work done in the library's shape, by hand (a parameter
   * decorator loading a JSON copy, a global interceptor saving it: bench/apps/minimal-same.ts), the
   * yardstick that tells what that shape costs in Nest from what nestjs-sessionkit adds to it
   * (with `store: 'redis'`, the same on Redis in RedisStore's hash layout: bench/apps/minimal-same-redis.ts).
   */
  option?: 'asyncContext' | 'preload' | 'globalInterceptor' | 'noopInterceptor' | 'jsonCopy' | 'sameWork';
  /** Measured only when named in `--apps` (keeps the default run short; `npm run bench:overhead` measures the options in-process). */
  optional?: boolean;
  /** How the app is shown in tables. */
  label: string;
}

/**
 * Every app the harness measures, one line each. Adding one: a line here (its `name` is what
 * `--apps=` takes), plus its store in the store switch of bench/apps/main.ts if the store is new.
 */
export const APPS: readonly AppSpec[] = [
  { name: 'express-bare', adapter: 'express', library: 'bare', store: 'none', label: 'bare (no sessions)' },
  { name: 'express-bare-interceptor', adapter: 'express', library: 'bare', store: 'none', option: 'noopInterceptor', label: 'bare + a no-op global interceptor' },
  { name: 'express-minimal', adapter: 'express', library: 'bare', store: 'none', floor: true, label: 'hand-written session, no library (floor)' },
  { name: 'express-minimal-copy', adapter: 'express', library: 'bare', store: 'none', option: 'jsonCopy', optional: true, label: 'hand-written session kept as JSON: a copy per read and change, no library' },
  { name: 'express-minimal-same', adapter: 'express', library: 'bare', store: 'none', option: 'sameWork', label: 'hand-written session doing the library\'s work (decorator load, JSON copy, interceptor save), no library' },
  { name: 'express-minimal-redis', adapter: 'express', library: 'bare', store: 'redis', floor: true, label: 'hand-written session on Redis, ioredis (Redis floor)' },
  { name: 'express-minimal-same-redis', adapter: 'express', library: 'bare', store: 'redis', option: 'sameWork', optional: true, label: 'hand-written session on Redis doing RedisStore\'s work in the library\'s shape (hash layout, decorator load, interceptor save), no library' },
  { name: 'express-minimal-postgres', adapter: 'express', library: 'bare', store: 'postgres', floor: true, label: 'hand-written session on PostgreSQL, pg (PostgreSQL floor)' },
  { name: 'express-sessionkit-memory', adapter: 'express', library: 'nestjs-sessionkit', store: 'memory', label: 'nestjs-sessionkit MemoryStore' },
  { name: 'express-sessionkit-memory-async', adapter: 'express', library: 'nestjs-sessionkit', store: 'memory', option: 'asyncContext', optional: true, label: 'nestjs-sessionkit MemoryStore, asyncContext: true' },
  { name: 'express-sessionkit-memory-nointerceptor', adapter: 'express', library: 'nestjs-sessionkit', store: 'memory', option: 'globalInterceptor', optional: true, label: 'nestjs-sessionkit MemoryStore, globalInterceptor: false' },
  { name: 'express-sessionkit-memory-preload', adapter: 'express', library: 'nestjs-sessionkit', store: 'memory', option: 'preload', optional: true, label: 'nestjs-sessionkit MemoryStore, preload: true' },
  { name: 'express-sessionkit-redis', adapter: 'express', library: 'nestjs-sessionkit', store: 'redis', label: 'nestjs-sessionkit RedisStore' },
  { name: 'express-sessionkit-express-redis', adapter: 'express', library: 'nestjs-sessionkit', store: 'redis', wraps: 'connect-redis', label: 'nestjs-sessionkit ExpressSessionStore over connect-redis' },
  { name: 'express-session-memory', adapter: 'express', library: 'express-session', store: 'memory', label: 'express-session MemoryStore' },
  { name: 'express-session-redis', adapter: 'express', library: 'express-session', store: 'redis', label: 'express-session + connect-redis' },
  { name: 'express-sessionkit-postgres', adapter: 'express', library: 'nestjs-sessionkit', store: 'postgres', label: 'nestjs-sessionkit PostgresStore' },
  { name: 'express-sessionkit-cookie', adapter: 'express', library: 'nestjs-sessionkit', store: 'cookie', label: 'nestjs-sessionkit CookieStore' },
  { name: 'express-session-postgres', adapter: 'express', library: 'express-session', store: 'postgres', label: 'express-session + connect-pg-simple' },
  { name: 'express-sessionkit-mysql', adapter: 'express', library: 'nestjs-sessionkit', store: 'mysql', label: 'nestjs-sessionkit MysqlStore' },
  { name: 'express-session-mysql', adapter: 'express', library: 'express-session', store: 'mysql', label: 'express-session + express-mysql-session' },
  { name: 'fastify-bare', adapter: 'fastify', library: 'bare', store: 'none', label: 'bare (no sessions)' },
  { name: 'fastify-bare-interceptor', adapter: 'fastify', library: 'bare', store: 'none', option: 'noopInterceptor', label: 'bare + a no-op global interceptor' },
  { name: 'fastify-minimal', adapter: 'fastify', library: 'bare', store: 'none', floor: true, label: 'hand-written session, no library (floor)' },
  { name: 'fastify-minimal-copy', adapter: 'fastify', library: 'bare', store: 'none', option: 'jsonCopy', optional: true, label: 'hand-written session kept as JSON: a copy per read and change, no library' },
  { name: 'fastify-minimal-same', adapter: 'fastify', library: 'bare', store: 'none', option: 'sameWork', label: 'hand-written session doing the library\'s work (decorator load, JSON copy, interceptor save), no library' },
  { name: 'fastify-minimal-redis', adapter: 'fastify', library: 'bare', store: 'redis', floor: true, label: 'hand-written session on Redis, ioredis (Redis floor)' },
  { name: 'fastify-minimal-same-redis', adapter: 'fastify', library: 'bare', store: 'redis', option: 'sameWork', optional: true, label: 'hand-written session on Redis doing RedisStore\'s work in the library\'s shape (hash layout, decorator load, interceptor save), no library' },
  { name: 'fastify-minimal-postgres', adapter: 'fastify', library: 'bare', store: 'postgres', floor: true, label: 'hand-written session on PostgreSQL, pg (PostgreSQL floor)' },
  { name: 'fastify-sessionkit-memory', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'memory', label: 'nestjs-sessionkit MemoryStore' },
  { name: 'fastify-sessionkit-memory-async', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'memory', option: 'asyncContext', optional: true, label: 'nestjs-sessionkit MemoryStore, asyncContext: true' },
  { name: 'fastify-sessionkit-memory-nointerceptor', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'memory', option: 'globalInterceptor', optional: true, label: 'nestjs-sessionkit MemoryStore, globalInterceptor: false' },
  { name: 'fastify-sessionkit-memory-preload', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'memory', option: 'preload', optional: true, label: 'nestjs-sessionkit MemoryStore, preload: true' },
  { name: 'fastify-sessionkit-redis', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'redis', label: 'nestjs-sessionkit RedisStore' },
  { name: 'fastify-sessionkit-express-redis', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'redis', wraps: 'connect-redis', label: 'nestjs-sessionkit ExpressSessionStore over connect-redis' },
  { name: 'fastify-sessionkit-postgres', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'postgres', label: 'nestjs-sessionkit PostgresStore' },
  { name: 'fastify-sessionkit-mysql', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'mysql', label: 'nestjs-sessionkit MysqlStore' },
  { name: 'fastify-sessionkit-cookie', adapter: 'fastify', library: 'nestjs-sessionkit', store: 'cookie', label: 'nestjs-sessionkit CookieStore' },
  { name: 'fastify-session-memory', adapter: 'fastify', library: '@fastify/session', store: 'memory', label: '@fastify/session memory store' },
];

/** The bare app of an adapter (the ceiling ratios are relative to): no sessions, no floor, no option. */
export function isBare(app: AppSpec): boolean {
  return app.library === 'bare' && !app.floor && app.option === undefined;
}

/** The in-memory same-work app (bench/apps/minimal-same.ts): the yardstick of the MemoryStore apps' notes. */
export function isMemorySameWork(app: AppSpec): boolean {
  return app.option === 'sameWork' && app.store === 'none';
}

/**
 * Whether an app keeps no sessions: the bare app, with or without a no-op global interceptor. These
 * get a dummy cookie; every other app (the floors and hand-written variants too) a real one from its /setup.
 */
export function keepsNoSessions(app: AppSpec): boolean {
  return app.library === 'bare' && !app.floor && (app.option === undefined || app.option === 'noopInterceptor');
}

/**
 * The store of the floor an app is compared with: the Redis floor for an app on Redis, the
 * PostgreSQL floor for one on PostgreSQL, the in-memory floor (`none`) for every other.
 */
export function floorStoreOf(app: AppSpec): StoreKind {
  return app.store === 'redis' || app.store === 'postgres' ? app.store : 'none';
}

/** The fixed request rates of the CPU runs (req/s over all connections). */
export interface FixedRates {
  /** Per adapter, for every app but those on a SQL database. */
  rate: Record<AdapterName, number>;
  /**
   * For the apps on PostgreSQL or MySQL, which cannot sustain the adapter's rate (one session row
   * changed by every connection at once); the bare app and the in-memory floor are measured at it too.
   */
  sqlRate: number;
}

/** Whether an app keeps its sessions in a SQL database (and so runs at the SQL rate). */
export function onSql(app: AppSpec): boolean {
  return app.store === 'postgres' || app.store === 'mysql';
}

/** The fixed rate an app's CPU per request is measured and judged at. */
export function rateOf(app: AppSpec, rates: FixedRates): number {
  return onSql(app) ? rates.sqlRate : rates.rate[app.adapter];
}

export function appSpec(name: string): AppSpec {
  const spec = APPS.find((a) => a.name === name);
  if (spec === undefined) throw new Error(`Unknown bench app "${name}". Known: ${APPS.map((a) => a.name).join(', ')}`);
  return spec;
}

export type ScenarioName = 'read' | 'change' | 'change-lock' | 'first' | 'none' | 'read-100k' | 'change-100k';

export interface Scenario {
  name: ScenarioName;
  method: 'GET' | 'POST';
  path: string;
  /** Whether the client sends the cookie of a session made beforehand by GET /setup. */
  withCookie: boolean;
  /**
   * Distinct sessions the requests rotate through (made beforehand by as many GET /setup?user=<i>
   * requests; the bare apps get as many distinct dummy cookies). Absent: all connections share one session.
   */
  sessions?: number;
  /** The apps the scenario runs on (absent: all). */
  appliesTo?: (app: AppSpec) => boolean;
  label: string;
}

/** Sessions of the many-sessions scenarios. */
export const MANY_SESSIONS = 100_000;

/**
 * `maxSessions` of the benchmark's MemoryStores (the default is 100,000): room for the
 * many-sessions cases plus the first-visit sessions made before them, so none is evicted.
 */
export const BENCH_MAX_SESSIONS = 2 * MANY_SESSIONS;

/** The many-sessions scenarios run on the bare apps (ratio base) and the nestjs-sessionkit memory and Redis apps with defaults. */
const manySessionApps = (app: AppSpec): boolean =>
  isBare(app) || (app.library === 'nestjs-sessionkit' && app.option === undefined && app.wraps === undefined && (app.store === 'memory' || app.store === 'redis'));

/** "change with lock" runs on the bare apps (ratio base) and the nestjs-sessionkit apps whose store can lock (not CookieStore), with defaults. */
const lockingApps = (app: AppSpec): boolean =>
  keepsNoSessions(app) || (app.library === 'nestjs-sessionkit' && app.option === undefined && app.store !== 'cookie');

/**
 * In the order they run against each app: first visit after the one-session cases (it fills the
 * store), then the many-sessions cases, which seed their own sessions.
 */
export const SCENARIOS: readonly Scenario[] = [
  { name: 'none', method: 'GET', path: '/none', withCookie: true, label: 'route without session' },
  { name: 'read', method: 'GET', path: '/read', withCookie: true, label: 'read existing session' },
  { name: 'change', method: 'POST', path: '/change', withCookie: true, label: 'change one value' },
  { name: 'change-lock', method: 'POST', path: '/change-lock', withCookie: true, appliesTo: lockingApps, label: 'change with lock (@SessionLock())' },
  { name: 'first', method: 'GET', path: '/first', withCookie: false, label: 'first visit (new session)' },
  { name: 'read-100k', method: 'GET', path: '/read', withCookie: true, sessions: MANY_SESSIONS, appliesTo: manySessionApps, label: 'read (100k sessions)' },
  { name: 'change-100k', method: 'POST', path: '/change', withCookie: true, sessions: MANY_SESSIONS, appliesTo: manySessionApps, label: 'change (100k sessions)' },
];

/** Whether `scenario` runs on `app`. */
export function scenarioApplies(scenario: Scenario, app: AppSpec): boolean {
  return scenario.appliesTo === undefined || scenario.appliesTo(app);
}

/** 32+ characters, as every library here asks. A fixed secret is fine for a benchmark only. */
export const BENCH_SECRET = 'bench-secret-that-is-long-enough-0123456789abcdef';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * The run's own name, in every Redis prefix, PostgreSQL schema and MySQL table it uses: two runs at
 * once (from two checkouts) then never write or drop each other's data. The orchestrator's pid,
 * handed to the app processes it starts through the environment.
 */
export const BENCH_RUN = (process.env.BENCH_RUN ??= String(process.pid));

/** Every Redis key the benchmark writes starts with `bench:<run>:`; the harness removes them afterwards. */
export const REDIS_PREFIX = `bench:${BENCH_RUN}:`;

export function redisPrefixOf(appName: string): string {
  return `${REDIS_PREFIX}${appName}:`;
}

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The schema every PostgreSQL table of a run lives in; the harness drops it afterwards. */
export const PG_SCHEMA = `bench_${BENCH_RUN}`;

/** The table of one app (or memory measurement) in {@link PG_SCHEMA}. */
export function pgTableOf(name: string): string {
  return name.replace(/\W/g, '_');
}

export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** Every MySQL/MariaDB table of a run (in `MYSQL_URL`'s database) starts with this; the harness drops them afterwards. */
export const MYSQL_TABLE_PREFIX = `bench_${BENCH_RUN}_`;

/**
 * The run a Redis prefix, schema or table name belongs to (see {@link BENCH_RUN}), if it is one of
 * the benchmark's, and whether that run's process is gone: the harness clears what runs that died
 * before their cleanup left behind, and leaves a run still going alone.
 */
export function deadRunOf(name: string): string | undefined {
  const run = /^bench[_:](\d+)(?:[_:.]|$)/.exec(name)?.[1];
  if (run === undefined || run === BENCH_RUN) return undefined;
  try {
    process.kill(Number(run), 0);
    return undefined;
  } catch (error) {
    // EPERM: a live process of another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH' ? run : undefined;
  }
}

/** The MySQL/MariaDB table of one app. */
export function mysqlTableOf(name: string): string {
  return `${MYSQL_TABLE_PREFIX}${name.replace(/\W/g, '_')}`;
}

export interface CartItem {
  sku: string;
  qty: number;
  price: number;
}

/** The typical small session: a user id, a role and a cart of three items. */
export function typicalSession(userId = 4242): { userId: number; role: string; cart: CartItem[] } {
  return {
    userId,
    role: 'customer',
    cart: [
      { sku: 'SKU-10001', qty: 1, price: 1999 },
      { sku: 'SKU-10002', qty: 2, price: 499 },
      { sku: 'SKU-10003', qty: 1, price: 12900 },
    ],
  };
}

/** The line an app prints on stdout once it listens. */
export interface ReadyMessage {
  ready: true;
  app: string;
  port: number;
  pid: number;
}

/** A job for the load generator process. */
export interface LoadJob {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  connections: number;
  /** Seconds; or give `amount`. */
  duration?: number;
  /** Total requests; autocannon waits for every response. */
  amount?: number;
  /**
   * Seconds of warm-up before the measured run, in the same process: the loader prints `warm`
   * and waits for a line on its standard input before it measures.
   */
  warmup?: number;
  /**
   * Requests per second over all connections (autocannon's `overallRate`); absent: as fast as the
   * app answers (saturation).
   */
  rate?: number;
  /**
   * Measured runs after the warm-up, in the same process; absent: one run of `duration` (or
   * `amount`) at `rate`. Before each the loader prints `start <i>` and after it `done <i> <LoadResult
   * JSON>`, each time waiting for a line on its standard input, so the harness can read the app's
   * CPU time right at the edges of each run.
   */
  runs?: Array<{ duration: number; rate?: number }>;
  /**
   * A file of cookies (`name=value`, one a line): each request carries the next one, sent by the
   * minimal client of bench/client.ts instead of autocannon (`headers` is then ignored; needs `duration`).
   */
  cookiesFile?: string;
}

/** What the load generator prints (one JSON line). */
export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  status2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** CPU time the load generator used over the run, as a share of one CPU (near 1: it may have been the limit). */
  loaderCpuShare: number;
  /** The fixed request rate asked of autocannon (`overallRate`), if any. */
  rate?: number;
}

/**
 * Set to `1` in an app's environment when the run measures "change with lock": only then does a
 * nestjs-sessionkit app register its `@SessionLock()` route, whose global guard runs on every route.
 */
export const LOCKED_ROUTE_ENV = 'BENCH_LOCKED_ROUTE';

/** What the bare apps get in place of a session cookie: the same header size as a real one. */
export const BARE_COOKIE = `sid=${'x'.repeat(87)}`;

/** A new session of the app listening on `port` (named `appName` in errors), made by its GET /setup: the `name=value` of its cookie. */
export async function createSession(port: number, appName: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/setup`);
  await res.arrayBuffer();
  const cookie = res.headers.getSetCookie()[0];
  if (!res.ok || cookie === undefined) throw new Error(`${appName}: GET /setup gave ${res.status} without a session cookie`);
  return cookie.split(';')[0]!;
}

/** Stops an app's process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null) return resolvePromise();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    child.kill('SIGTERM');
  });
}
