// connect-pg-simple ships no types; what the benchmark uses of it.
declare module 'connect-pg-simple' {
  import type session from 'express-session';
  import type { Pool } from 'pg';

  interface PgStoreOptions {
    pool: Pool;
    schemaName?: string;
    tableName?: string;
    createTableIfMissing?: boolean;
    /** Seconds between prunes of expired rows, or false for none. */
    pruneSessionInterval?: false | number;
  }
  type PgStoreClass = new (options: PgStoreOptions) => session.Store & { close(): Promise<void> };
  export default function connectPgSimple(s: typeof session): PgStoreClass;
}
