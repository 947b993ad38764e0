import { randomBytes } from 'node:crypto';
import { type Pool, type PoolOptions, createPool } from 'mysql2/promise';

/** The MySQL or MariaDB the tests share: `MYSQL_URL`, or the local default (root, no password, database `test`). */
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** A pool for tests on `MYSQL_URL`, or on `uri` (a proxy in outage tests). */
export function newMysqlPool(options: PoolOptions = {}): Pool {
  return createPool({ uri: MYSQL_URL, connectionLimit: 10, ...options });
}

/** A table name of its own for one suite: `test_<suite>_<random>`, short enough for its lock table `<table>_locks`. */
export function testTable(suite: string): string {
  return `test_${suite.replace(/\W/g, '_').slice(0, 40)}_${randomBytes(4).toString('hex')}`;
}

/** Drops a suite's tables, and their lock tables. */
export async function dropTables(pool: Pool, ...tables: string[]): Promise<void> {
  for (const table of tables) {
    for (const name of [table, `${table}_locks`]) await pool.query(`DROP TABLE IF EXISTS \`${name.replace(/`/g, '``')}\``);
  }
}

/** Every row of `table`, with `data` as the JSON text the server keeps (the contract kit's dump). */
export async function dumpMysqlTable(pool: Pool, table: string): Promise<unknown[]> {
  const [rows] = await pool.query(`SELECT handle, CAST(data AS CHAR) AS data, created_at, touched_at, expires_at, user_key FROM \`${table}\``);
  return rows as unknown[];
}
