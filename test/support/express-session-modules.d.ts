// connect-pg-simple and express-mysql-session ship no types: what the tests use of them.
declare module 'connect-pg-simple' {
  import type session from 'express-session';
  import type { Pool } from 'pg';

  interface PgStoreOptions {
    pool: Pool;
    schemaName?: string;
    tableName?: string;
    createTableIfMissing?: boolean;
    pruneSessionInterval?: false | number;
  }
  type PgStoreClass = new (options: PgStoreOptions) => session.Store & { close(): Promise<void> };
  export default function connectPgSimple(s: typeof session): PgStoreClass;
}

declare module 'express-mysql-session' {
  import type session from 'express-session';

  interface MySQLStoreOptions {
    host?: string;
    port?: number;
    user?: string;
    password?: string;
    database?: string;
    createDatabaseTable?: boolean;
    clearExpired?: boolean;
    schema?: { tableName?: string };
  }
  type MySQLStoreClass = new (options: MySQLStoreOptions) => session.Store & { close(): Promise<void>; onReady(): Promise<void> };
  export default function expressMysqlSession(s: typeof session): MySQLStoreClass;
}
