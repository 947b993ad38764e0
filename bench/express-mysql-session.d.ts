// express-mysql-session ships no types; what the benchmark uses of it.
declare module 'express-mysql-session' {
  import type session from 'express-session';
  import type { Pool } from 'mysql2/promise';

  interface MysqlSessionStoreOptions {
    createDatabaseTable?: boolean;
    /** Milliseconds between deletions of expired rows. */
    checkExpirationInterval?: number;
    clearExpired?: boolean;
    schema?: { tableName?: string };
  }
  type MysqlSessionStoreClass = new (options: MysqlSessionStoreOptions, connection?: Pool) => session.Store & { onReady(): Promise<void>; close(): Promise<void> };
  export default function expressMysqlSession(s: typeof session): MysqlSessionStoreClass;
}
