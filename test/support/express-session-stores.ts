import { randomBytes } from 'node:crypto';
import session from 'express-session';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import connectPgSimple from 'connect-pg-simple';
import expressMysqlSession from 'express-mysql-session';
import createMemoryStore from 'memorystore';
import { createClient } from 'redis';
import type { ExpressSessionStoreCallback, ExpressSessionStoreLike } from 'nestjs-sessionkit';
import { REDIS_URL, testPrefix } from './redis.js';
import { dropSchema, newPool, testSchema } from './postgres.js';

/** The MariaDB (or MySQL) the tests share: `MYSQL_URL`'s parts, or root without password on 127.0.0.1:3306, database `test`. */
export const MYSQL = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test' };

/** The express-session stores the adapter is tested with, each on a real server. */
export const expressStoreKinds = ['connect-redis', 'connect-pg-simple', 'express-mysql-session', 'memorystore'] as const;
export type ExpressStoreKind = (typeof expressStoreKinds)[number];

/** An express-session store of its own (key prefix, schema or table) for one suite, and how to remove it. */
export interface TestExpressStore {
  kind: ExpressStoreKind;
  store: ExpressSessionStoreLike;
  /** Everything the store holds for this suite, as the server keeps it. */
  dump(): Promise<unknown>;
  close(): Promise<void>;
}

export async function testExpressStore(kind: ExpressStoreKind, suite: string): Promise<TestExpressStore> {
  switch (kind) {
    case 'connect-redis': {
      const client = createClient({ url: REDIS_URL });
      client.on('error', () => undefined);
      await client.connect();
      const prefix = testPrefix(suite);
      const keys = async (): Promise<string[]> => {
        const found: string[] = [];
        for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) found.push(...batch);
        return found;
      };
      return {
        kind,
        store: new ConnectRedisStore({ client, prefix }),
        async dump() {
          const all = await keys();
          if (all.length === 0) return {};
          const values = await client.mGet(all);
          return Object.fromEntries(all.map((key, i) => [key, values[i]]));
        },
        async close() {
          const all = await keys();
          if (all.length > 0) await client.del(all);
          client.destroy();
        },
      };
    }
    case 'connect-pg-simple': {
      const pool = newPool();
      const schema = testSchema(suite);
      await pool.query(`CREATE SCHEMA "${schema}"`);
      const PgStore = connectPgSimple(session);
      const store = new PgStore({ pool, schemaName: schema, tableName: 'session', createTableIfMissing: true, pruneSessionInterval: false });
      return {
        kind,
        store,
        dump: async () => (await pool.query(`SELECT * FROM "${schema}"."session"`)).rows,
        async close() {
          await store.close();
          await dropSchema(pool, schema);
          await pool.end();
        },
      };
    }
    case 'express-mysql-session': {
      const MySQLStore = expressMysqlSession(session);
      const table = `sessions_${suite.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`;
      const store = new MySQLStore({ ...MYSQL, createDatabaseTable: true, clearExpired: false, schema: { tableName: table } });
      await store.onReady();
      const query = async (sql: string): Promise<unknown> => new Promise((resolve, reject) => (store as unknown as { query(s: string, p: unknown[]): Promise<[unknown]> }).query(sql, []).then(([rows]) => resolve(rows), reject));
      return {
        kind,
        store,
        dump: () => query(`SELECT * FROM \`${table}\``),
        async close() {
          await query(`DROP TABLE IF EXISTS \`${table}\``);
          await store.close();
        },
      };
    }
    case 'memorystore': {
      const MemoryStore = createMemoryStore(session);
      const store = new MemoryStore({ checkPeriod: 60_000 });
      return {
        kind,
        store,
        dump: () => new Promise((resolve, reject) => store.all((error, all) => (error ? reject(error as Error) : resolve(all)))),
        async close() {
          store.stopInterval();
        },
      };
    }
  }
}

/** `store` as an app sees it, recording the session ids it reads (to show which requests read the store at all). */
export function counting(store: ExpressSessionStoreLike): { store: ExpressSessionStoreLike; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    store: {
      get: (sid: string, cb: ExpressSessionStoreCallback) => {
        reads.push(sid);
        return store.get(sid, cb);
      },
      set: (sid, sess, cb) => store.set(sid, sess, cb),
      destroy: (sid, cb) => store.destroy(sid, cb),
    },
  };
}
