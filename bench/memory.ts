/**
 * Memory and scale measurements, each in a fresh process started with --expose-gc:
 *
 *   node --expose-gc bench-dist/bench/memory.js bytes [count]    bytes per stored session
 *   node --expose-gc bench-dist/bench/memory.js million [count]  MemoryStore with 1M sessions: RSS and sweep stalls
 *
 * Prints one JSON line.
 */
import 'reflect-metadata';
import { createHash, randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import session from 'express-session';
import { Redis } from 'ioredis';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { CookieStore, MemoryStore, PostgresStore, RedisStore, type SessionRecord } from 'nestjs-sessionkit';
import { sessionKitModule } from './apps/sessionkit.js';
import { Pool } from 'pg';
import { createClient } from 'redis';
import { DATABASE_URL, PG_SCHEMA, REDIS_PREFIX, REDIS_URL, pgTableOf, typicalSession } from './common.js';

export interface BytesResult {
  /** Sessions created per in-process measurement. */
  count: number;
  /** Sessions created per Redis measurement. */
  redisCount: number;
  /** The session data, as JSON, and its length. */
  sampleJson: string;
  sessionkitMemory: number;
  /** The same sessions without a user (no `authKey` value, so no per-user index entry). */
  sessionkitMemoryNoUser: number;
  expressSessionMemory: number;
  /** `MEMORY USAGE` summed over the store's keys, per session; null when not measured. */
  sessionkitRedis: RedisBytes | null;
  connectRedis: RedisBytes | null;
  /** PostgreSQL bytes per session (absent in results of older runs); null when not measured. */
  sessionkitPostgres?: PgBytes | null;
  /** CookieStore keeps nothing on the server: the bytes of its `Set-Cookie` header for the same session (absent in older results). */
  cookieStoreSetCookie?: number;
  connectPg?: PgBytes | null;
  notes: string[];
}

export interface PgBytes {
  /** Growth of `pg_total_relation_size` (heap, TOAST and every index), per session. */
  totalBytes: number;
  /** Average `pg_column_size` of a whole row (the tuple as stored, without its index entries). */
  rowBytes: number;
}

export interface RedisBytes {
  /** Sum of `MEMORY USAGE key SAMPLES 0` over every key the store wrote, per session. */
  memoryUsage: number;
  /** Keys per session (a store may keep indexes next to the session key). */
  keysPerSession: number;
  /** Part of `memoryUsage` in per-user index keys (`<prefix>user:*`), per session. */
  indexBytes: number;
  /** Growth of `INFO memory` used_memory, per session (includes Redis's own per-key bookkeeping). */
  usedMemoryDelta: number;
}

export interface MillionResult {
  sessions: number;
  expiredShare: number;
  createMs: number;
  rssBeforeMb: number;
  rssWithSessionsMb: number;
  heapWithSessionsMb: number;
  /** JS heap growth per held session with all of them in the store (absent in older results). */
  bytesPerSession?: number;
  sweepMs: number;
  removed: number;
  remaining: number;
  /** Longest gap between two turns of a setImmediate probe while the sweep ran. */
  maxStallMs: number;
  /** Median gap between probe turns (about one sweep slice). */
  medianGapMs: number;
  /** Probe gaps longer than 10 ms. */
  stallsOver10ms: number;
  /** perf_hooks monitorEventLoopDelay (1 ms resolution) over the sweep: max and p99, minus the 1 ms period. */
  eldMaxMs: number;
  eldP99Ms: number;
  rssAfterSweepMb: number;
  heapAfterSweepMb: number;
  /**
   * How long the harness waited after its forced full GCs, before the sweep, for V8's helper
   * threads to go idle (absent in older results).
   */
  settleMs?: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function collect(): Promise<void> {
  if (gc === undefined) throw new Error('Run with node --expose-gc');
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(10);
  }
}

/**
 * Waits until the process uses (almost) no CPU while its main thread sleeps, i.e. until V8's
 * helper threads have finished the concurrent sweeping that `collect()`'s forced full GCs leave
 * behind (hundreds of milliseconds of work over a 500 MB heap). The process is pinned to one
 * CPU, so measuring right away would charge that leftover harness work, which preempts the main
 * thread, to the code under test. Returns the milliseconds waited (at most 10 s).
 */
async function settle(): Promise<number> {
  const start = performance.now();
  let previous = process.cpuUsage();
  while (performance.now() - start < 10_000) {
    await sleep(200);
    const used = process.cpuUsage(previous);
    previous = process.cpuUsage();
    if ((used.user + used.system) / 1000 < 10) break;
  }
  return performance.now() - start;
}

const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

const salt = randomBytes(16).toString('hex');
let counter = 0;

/** A real-looking nestjs-sessionkit store handle (64 hex characters of sha256). */
function kitHandle(): string {
  return createHash('sha256').update(`${salt}:${counter++}`).digest('hex');
}

/** A real-looking express-session id (uid-safe, 24 bytes). */
function expressSid(): string {
  return randomBytes(24).toString('base64url');
}

function kitRecord(userId: number, now: number): SessionRecord {
  return { data: typicalSession(userId), createdAt: now, touchedAt: now, user: String(userId) };
}

// express-session's Cookie takes its options in the constructor; its type declares none.
const ExpressCookie = session.Cookie as unknown as new (options: { secure: boolean }) => session.Cookie;

function expressSession(userId: number): session.SessionData {
  // What express-session hands its store: the data plus the cookie (serialized by its toJSON).
  return { cookie: new ExpressCookie({ secure: false }), ...typicalSession(userId) } as unknown as session.SessionData;
}

/** Heap bytes per entry: `fill` creates `count` entries and returns what keeps them alive. */
async function heapPerEntry(count: number, fill: () => Promise<unknown>): Promise<number> {
  await collect();
  const before = process.memoryUsage().heapUsed;
  const keep = await fill();
  await collect();
  const after = process.memoryUsage().heapUsed;
  if (keep === undefined) throw new Error('nothing kept');
  return (after - before) / count;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const line = info.split('\n').find((l) => l.startsWith('used_memory:'));
  return Number(line?.split(':')[1] ?? NaN);
}

export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
  const keys = await keysUnder(redis, prefix);
  for (let i = 0; i < keys.length; i += 500) await redis.unlink(...keys.slice(i, i + 500));
  return keys.length;
}

async function redisBytes(redis: Redis, prefix: string, count: number, fill: () => Promise<void>): Promise<RedisBytes> {
  await deleteKeysUnder(redis, prefix);
  const before = await usedMemory(redis);
  await fill();
  const after = await usedMemory(redis);
  const keys = await keysUnder(redis, prefix);
  let total = 0;
  let index = 0;
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const pipeline = redis.pipeline();
    for (const key of batch) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const replies = (await pipeline.exec()) ?? [];
    replies.forEach(([error, value], j) => {
      if (error) throw error;
      total += Number(value);
      if (batch[j]!.startsWith(`${prefix}user:`)) index += Number(value);
    });
  }
  await deleteKeysUnder(redis, prefix);
  return { memoryUsage: total / count, keysPerSession: keys.length / count, indexBytes: index / count, usedMemoryDelta: (after - before) / count };
}

/** Bytes per session in a fresh table `table` of the benchmark schema that `fill` fills with `count` sessions. */
async function pgBytes(pool: Pool, table: string, count: number, fill: () => Promise<void>): Promise<PgBytes> {
  const qualified = `${PG_SCHEMA}."${table}"`;
  // The store creates its table on first use: one session first, the baseline after it.
  await fill();
  const size = async (): Promise<number> => Number((await pool.query(`SELECT pg_total_relation_size('${qualified}') AS n`)).rows[0].n);
  await pool.query(`TRUNCATE ${qualified}`);
  const before = await size();
  await fill();
  const totalBytes = ((await size()) - before) / count;
  const rowBytes = Number((await pool.query(`SELECT avg(pg_column_size(t.*)) AS n FROM ${qualified} AS t`)).rows[0].n);
  await pool.query(`DROP TABLE ${qualified}`);
  return { totalBytes, rowBytes };
}

async function measureBytes(count: number, redisCount: number): Promise<BytesResult> {
  const notes: string[] = [];
  const now = Date.now();
  const ttl = 3_600_000;

  // Keys are made inside each measurement: the store keeps them, so they are part of its cost.
  const sessionkitMemory = await heapPerEntry(count, async () => {
    const store = new MemoryStore({ maxSessions: count + 1 });
    for (let i = 0; i < count; i++) await store.set(kitHandle(), kitRecord(100_000 + i, now), ttl);
    return store;
  });

  const sessionkitMemoryNoUser = await heapPerEntry(count, async () => {
    const store = new MemoryStore({ maxSessions: count + 1 });
    for (let i = 0; i < count; i++) {
      const { user: _user, ...record } = kitRecord(100_000 + i, now);
      await store.set(kitHandle(), record, ttl);
    }
    return store;
  });

  const expressSessionMemory = await heapPerEntry(count, async () => {
    const store = new session.MemoryStore();
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve, reject) => store.set(expressSid(), expressSession(100_000 + i), (e) => (e ? reject(e) : resolve())));
    }
    return store;
  });

  let sessionkitRedis: RedisBytes | null = null;
  let connectRedis: RedisBytes | null = null;
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    {
      const prefix = `${REDIS_PREFIX}mem-sessionkit:`;
      const client = new Redis(REDIS_URL);
      const store = new RedisStore({ client, prefix });
      sessionkitRedis = await redisBytes(redis, prefix, redisCount, async () => {
        for (let i = 0; i < redisCount; i++) await store.set(kitHandle(), kitRecord(100_000 + i, now), ttl);
      });
      await store.close();
      await client.quit();
    }

    const prefix = `${REDIS_PREFIX}mem-connect-redis:`;
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    const store = new ConnectRedisStore({ client, prefix });
    connectRedis = await redisBytes(redis, prefix, redisCount, async () => {
      for (let i = 0; i < redisCount; i++) await store.set(expressSid(), expressSession(100_000 + i));
    });
    await client.quit();
  } catch (error) {
    notes.push(`Redis: not measured (${error instanceof Error ? error.message : String(error)}).`);
  } finally {
    redis.disconnect();
  }

  let sessionkitPostgres: PgBytes | null = null;
  let connectPg: PgBytes | null = null;
  const pool = new Pool({ connectionString: DATABASE_URL, max: 4 });
  pool.on('error', () => undefined);
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${PG_SCHEMA}`);
    {
      const table = pgTableOf('mem-sessionkit');
      const store = new PostgresStore({ pool, schema: PG_SCHEMA, table, createTable: true });
      sessionkitPostgres = await pgBytes(pool, table, redisCount, async () => {
        for (let i = 0; i < redisCount; i++) await store.set(kitHandle(), kitRecord(100_000 + i, now), ttl);
      });
    }
    const table = pgTableOf('mem-connect-pg');
    const PgStore = connectPgSimple(session);
    const store = new PgStore({ pool, schemaName: PG_SCHEMA, tableName: table, createTableIfMissing: true, pruneSessionInterval: false });
    connectPg = await pgBytes(pool, table, redisCount, async () => {
      for (let i = 0; i < redisCount; i++) {
        await new Promise<void>((resolve, reject) => store.set(expressSid(), expressSession(100_000 + i), (e) => (e ? reject(e) : resolve())));
      }
    });
    await store.close();
  } catch (error) {
    notes.push(`PostgreSQL: not measured (${error instanceof Error ? error.message : String(error)}).`);
  } finally {
    await pool.end();
  }

  return {
    count,
    redisCount,
    sampleJson: JSON.stringify(typicalSession()),
    cookieStoreSetCookie: await cookieStoreBytes(),
    sessionkitMemory,
    sessionkitMemoryNoUser,
    expressSessionMemory,
    sessionkitRedis,
    connectRedis,
    sessionkitPostgres,
    connectPg,
    notes,
  };
}

/** The `Set-Cookie` header CookieStore sends for the typical session, from the bench app itself run in-process. */
async function cookieStoreBytes(): Promise<number> {
  const app = await NestFactory.create<NestFastifyApplication>(sessionKitModule(new CookieStore()), new FastifyAdapter(), { logger: false });
  try {
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    const res = await app.inject({ method: 'GET', url: '/setup' });
    const header = res.headers['set-cookie'];
    const value = Array.isArray(header) ? header[0] : header;
    if (value === undefined) throw new Error('GET /setup set no cookie');
    return Buffer.byteLength(value);
  } finally {
    await app.close();
  }
}

async function measureMillion(total: number): Promise<MillionResult> {
  const expiredShare = 0.9;
  await collect();
  const before = process.memoryUsage();
  const rssBefore = before.rss;
  const store = new MemoryStore({ maxSessions: 2_000_000 });
  const start = performance.now();
  const now = Date.now();
  for (let i = 0; i < total; i++) {
    // Every tenth session stays live for an hour; the others expire within a millisecond.
    const ttl = i % 10 === 0 ? 3_600_000 : 1;
    await store.set(kitHandle(), kitRecord(100_000 + i, now), ttl);
  }
  const createMs = performance.now() - start;
  await collect();
  const withSessions = process.memoryUsage();
  const held = store.size;
  const settleMs = await settle();

  const eld = monitorEventLoopDelay({ resolution: 1 });
  const gaps: number[] = [];
  let last = performance.now();
  let probing = true;
  const probe = (): void => {
    // A probe still queued when the sweep ends must not record: its gap would include the forced GCs that follow.
    if (!probing) return;
    const t = performance.now();
    gaps.push(t - last);
    last = t;
    setImmediate(probe);
  };
  eld.enable();
  setImmediate(probe);
  last = performance.now();
  const sweepStart = performance.now();
  await store.sweep();
  const sweepMs = performance.now() - sweepStart;
  probing = false;
  eld.disable();
  gaps.push(performance.now() - last);
  gaps.sort((a, b) => a - b);
  const remaining = store.size;

  await collect();
  const after = process.memoryUsage();
  await store.close();
  return {
    sessions: held,
    expiredShare,
    createMs,
    rssBeforeMb: mb(rssBefore),
    rssWithSessionsMb: mb(withSessions.rss),
    heapWithSessionsMb: mb(withSessions.heapUsed),
    bytesPerSession: (withSessions.heapUsed - before.heapUsed) / held,
    sweepMs,
    removed: held - remaining,
    remaining,
    maxStallMs: gaps[gaps.length - 1] ?? 0,
    medianGapMs: gaps[Math.floor(gaps.length / 2)] ?? 0,
    stallsOver10ms: gaps.filter((g) => g > 10).length,
    eldMaxMs: Math.max(0, eld.max / 1e6 - 1),
    eldP99Ms: Math.max(0, eld.percentile(99) / 1e6 - 1),
    rssAfterSweepMb: mb(after.rss),
    heapAfterSweepMb: mb(after.heapUsed),
    settleMs,
  };
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const count = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  let result: unknown;
  if (mode === 'bytes') result = await measureBytes(count ?? 100_000, Math.min(count ?? 10_000, 10_000));
  else if (mode === 'million') result = await measureMillion(count ?? 1_000_000);
  else throw new Error('usage: node --expose-gc bench-dist/bench/memory.js bytes|million [count]');
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// Only when run as a script (run.ts imports the types and deleteKeysUnder).
if (process.argv[1]?.endsWith('memory.js')) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
