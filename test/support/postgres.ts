import { randomBytes } from 'node:crypto';
import { Pool, type PoolConfig } from 'pg';

/** The PostgreSQL the tests share: `DATABASE_URL`, or the local default (database `test`, trust auth). */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A pool for tests. Idle-connection errors are expected in outage tests, so they are swallowed
 * here (an app should log them; without a listener `pg` would crash the process).
 */
export function newPool(config: PoolConfig = {}): Pool {
  const pool = new Pool({ connectionString: DATABASE_URL, max: 10, ...config });
  pool.on('error', () => {});
  return pool;
}

/** A schema name of its own for one suite: `test_<suite>_<random>`. */
export function testSchema(suite: string): string {
  return `test_${suite.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`;
}

/** Drops a suite's schema and everything in it. */
export async function dropSchema(pool: Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** Every row of `schema.table`, as text (the contract kit's dump). */
export async function dumpTable(pool: Pool, schema: string, table = 'sessions'): Promise<unknown[]> {
  return (await pool.query(`SELECT * FROM "${schema}"."${table}"`)).rows;
}
