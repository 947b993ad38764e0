/**
 * The run's own namespaces in the databases (see `BENCH_RUN` in common.ts): a Redis key prefix, a
 * PostgreSQL schema and MySQL/MariaDB tables named after the run, made before its apps start and
 * removed after, with those of runs that died before their cleanup.
 */
import { Redis } from 'ioredis';
import { type Pool as MysqlPool, createPool as createMysqlPool } from 'mysql2/promise';
import { Pool } from 'pg';
import { DATABASE_URL, MYSQL_TABLE_PREFIX, MYSQL_URL, PG_SCHEMA, REDIS_PREFIX, REDIS_URL, type StoreKind, deadRunOf, mysqlTableOf, pgTableOf } from './common.js';
import { deleteKeysUnder, keysUnder } from './memory.js';

export async function connectRedis(): Promise<{ redis: Redis; version: string } | { error: string }> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    const info = await redis.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    // What runs that died before their cleanup left behind.
    const dead = new Set<string>();
    for (const key of await keysUnder(redis, 'bench:')) {
      const run = deadRunOf(key);
      if (run !== undefined) dead.add(run);
    }
    for (const run of dead) await deleteKeysUnder(redis, `bench:${run}:`);
    return { redis, version };
  } catch (error) {
    redis.disconnect();
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** A pool for the harness, with the benchmark's schema created afresh; or why PostgreSQL cannot be used. */
export async function connectPostgres(): Promise<{ pool: Pool; version: string } | { error: string }> {
  const pool = new Pool({ connectionString: DATABASE_URL, max: 2, connectionTimeoutMillis: 2000 });
  pool.on('error', () => undefined);
  try {
    const version = String((await pool.query('SHOW server_version')).rows[0].server_version);
    const { rows } = await pool.query<{ name: string }>("SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'bench\\_%'");
    for (const { name } of rows) if (deadRunOf(name) !== undefined) await pool.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    await pool.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE; CREATE SCHEMA ${PG_SCHEMA}`);
    return { pool, version };
  } catch (error) {
    await pool.end().catch(() => undefined);
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** Drops one app's table, so that each run starts empty. */
export async function dropTable(pool: Pool | undefined, appName: string): Promise<void> {
  await pool?.query(`DROP TABLE IF EXISTS ${PG_SCHEMA}."${pgTableOf(appName)}"`);
}

/** A pool for the harness, with the benchmark's tables of an earlier run dropped; or why MySQL/MariaDB cannot be used. */
export async function connectMysql(): Promise<{ pool: MysqlPool; version: string } | { error: string }> {
  const pool = createMysqlPool({ uri: MYSQL_URL, connectionLimit: 2, connectTimeout: 2000 });
  try {
    const [[row]] = (await pool.query('SELECT VERSION() AS version')) as unknown as [[{ version: string }]];
    await dropMysqlTables(pool);
    return { pool, version: row.version };
  } catch (error) {
    await pool.end().catch(() => undefined);
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

/** Drops every table of this run (`bench_<run>_...` in the database of MYSQL_URL), and those of runs that died. */
export async function dropMysqlTables(pool: MysqlPool | undefined): Promise<void> {
  if (pool === undefined) return;
  const [rows] = await pool.query("SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'bench\\_%'");
  for (const { name } of rows as { name: string }[]) {
    if (name.startsWith(MYSQL_TABLE_PREFIX) || deadRunOf(name) !== undefined) await pool.query(`DROP TABLE IF EXISTS \`${name}\``);
  }
}

/** Drops one app's MySQL/MariaDB table (and MysqlStore's lock table), so that each run starts empty. */
export async function dropMysqlTable(pool: MysqlPool | undefined, appName: string): Promise<void> {
  await pool?.query(`DROP TABLE IF EXISTS \`${mysqlTableOf(appName)}\`, \`${mysqlTableOf(appName)}_locks\``);
}

/**
 * Runs `body` with the run's namespaces made for apps on `stores` (the apps on PostgreSQL expect
 * their schema), and removes them after, whatever happens.
 */
export async function withRunNamespaces<T>(stores: Iterable<StoreKind>, body: () => Promise<T>): Promise<T> {
  const kinds = new Set(stores);
  const pg = kinds.has('postgres') ? await connectPostgres() : undefined;
  const mysql = kinds.has('mysql') ? await connectMysql() : undefined;
  const redis = kinds.has('redis') ? await connectRedis() : undefined;
  try {
    return await body();
  } finally {
    if (redis !== undefined && 'redis' in redis) {
      await deleteKeysUnder(redis.redis, REDIS_PREFIX);
      redis.redis.disconnect();
    }
    if (pg !== undefined && 'pool' in pg) {
      await pg.pool.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
      await pg.pool.end();
    }
    if (mysql !== undefined && 'pool' in mysql) {
      await dropMysqlTables(mysql.pool);
      await mysql.pool.end();
    }
  }
}
