import { CookieStore, MysqlStore, PostgresStore, RedisStore, type SessionStore } from 'nestjs-sessionkit';
import { CountingStore } from './stores.js';
import { deleteKeys, newRedis, testPrefix } from './redis.js';
import { dropSchema, newPool, testSchema } from './postgres.js';
import { dropTables, newMysqlPool, testTable } from './mysql.js';

/** The stores the request-level guarantees are checked on. */
export const storeKinds = ['memory', 'redis'] as const;
/** Every store that keeps sessions on the server. */
export const serverStoreKinds = ['memory', 'redis', 'postgres', 'mysql'] as const;
/** Every built-in store, `CookieStore` included. */
export const allStoreKinds = ['memory', 'redis', 'postgres', 'mysql', 'cookie'] as const;
export type StoreKind = (typeof allStoreKinds)[number];

/** A store for one suite, and how to remove what it left behind. */
export interface TestStore {
  store: SessionStore;
  close(): Promise<void>;
}

/**
 * A CountingStore (memory), a RedisStore on the shared Redis under a key prefix of `suite`'s own,
 * a PostgresStore in a schema of its own, a MysqlStore in a table of its own, or a CookieStore.
 */
export function testStore(kind: StoreKind, suite: string): TestStore {
  if (kind === 'memory') return { store: new CountingStore(), close: async () => undefined };
  if (kind === 'cookie') return { store: new CookieStore(), close: async () => undefined };
  if (kind === 'postgres') {
    const pool = newPool();
    const schema = testSchema(suite);
    return {
      store: new PostgresStore({ pool, schema, createTable: true }),
      async close() {
        await dropSchema(pool, schema);
        await pool.end();
      },
    };
  }
  if (kind === 'mysql') {
    const pool = newMysqlPool();
    const table = testTable(suite);
    return {
      store: new MysqlStore({ pool, table, createTable: true }),
      async close() {
        try {
          await dropTables(pool, table);
        } finally {
          await pool.end();
        }
      },
    };
  }
  const redis = newRedis();
  const prefix = testPrefix(suite);
  return {
    store: new RedisStore({ client: redis, prefix }),
    async close() {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    },
  };
}
