import { randomBytes } from 'node:crypto';
import { SessionError } from '../core/session.errors.js';
import { LOCK_TABLE_SUFFIX, type MysqlStatements, USER_KEY_MAX_LENGTH, jsonPath, mysqlStatements } from './mysql.sql.js';
import {
  FORWARDING_TTL_MS,
  type SessionPatch,
  type SessionRecord,
  type SessionStore,
  type SessionStoreLease,
  type SessionStoreLockRequest,
  type SessionStoreUserEntry,
} from './session-store.interface.js';
import { LockPoller } from './store-lock.poller.js';

/** A query as the store sends it: the SQL and the client-side timeout (milliseconds). */
export interface MysqlQueryOptions {
  /** The statement, with `?` placeholders. */
  sql: string;
  /** Milliseconds after which `mysql2` gives up on the statement (the store then closes the connection). */
  timeout?: number;
}

/** A connection checked out of a {@link MysqlPool}: what the store uses of a `mysql2/promise` `PoolConnection`. */
export interface MysqlPoolConnection {
  /** Resolves `[rows, fields]` for a `SELECT`, `[result header, undefined]` for a write. */
  query(options: MysqlQueryOptions, values?: unknown[]): Promise<[unknown, unknown]>;
  /** Returns the connection to the pool. */
  release(): void;
  /** Closes the connection and removes it from the pool. */
  destroy(): void;
}

/** What the store uses of a `mysql2/promise` `Pool` (`mysql2` 3): a `createPool(...)` from `mysql2/promise` fits. */
export interface MysqlPool {
  /** A connection of the pool, opened if none is idle; the store releases it after one statement (or one transaction). */
  getConnection(): Promise<MysqlPoolConnection>;
}

/** A `mysql2` callback-API `Pool` (from `mysql2`, not `mysql2/promise`): the store uses its `.promise()`. */
export interface MysqlCallbackPool {
  /** The same pool with the promise API. */
  promise(): MysqlPool;
}

/** Options of {@link MysqlStore}. */
export interface MysqlStoreOptions {
  /**
   * A `mysql2` pool (`npm install mysql2`, version 3): `createPool(...)` from `mysql2/promise`, or
   * from `mysql2` (the store uses its `.promise()`). It stays yours: the store never ends it. The
   * table is looked up in the pool's `database` unless {@link MysqlStoreOptions.database} is given.
   */
  pool: MysqlPool | MysqlCallbackPool;
  /**
   * The table sessions are kept in, at most 58 characters: `@SessionLock()` keeps its locks in
   * `<table>_locks`, and MySQL names end at 64.
   * @defaultValue `'sessions'`
   */
  table?: string;
  /**
   * The database (schema) of the table.
   * @defaultValue none: the pool's `database`
   */
  database?: string;
  /**
   * Create the table and its indexes, and the lock table `<table>_locks`, if they are missing,
   * once, before the first operation (`SessionModule` does it at startup, so a failure stops the
   * app). Safe when several instances start at once. Needs the `CREATE` privilege; without it,
   * create the tables from the DDL in the README and leave this off.
   * @defaultValue `false`
   */
  createTable?: boolean;
  /**
   * The longest (milliseconds) any store operation may take, waiting for a pooled connection
   * included. Past it the operation rejects and its connection is closed, so a request that needs
   * the session gets a 503 within this bound while the database is down or stuck. MariaDB also
   * stops the statement itself at this bound (`max_statement_time`), MySQL stops reads
   * (`MAX_EXECUTION_TIME`).
   * @defaultValue `2000`
   */
  statementTimeout?: number;
  /**
   * How often (milliseconds) `SessionModule` deletes expired rows through {@link MysqlStore.cleanup};
   * `0` for never (when something else deletes them). Reads never return an expired session
   * either way.
   * @defaultValue `300_000` (5 minutes)
   */
  cleanupInterval?: number;
  /**
   * How many expired rows one cleanup batch deletes. Cleanup repeats batches until none is left,
   * each a read that locks nothing and a short delete by primary key, so it never holds many row
   * locks, nor any lock on a live session.
   * @defaultValue `500`
   */
  cleanupBatchSize?: number;
}

/** What a write answers (a `mysql2` `ResultSetHeader`). */
interface WriteResult {
  affectedRows?: number;
  info?: string;
}

/** MySQL's and MariaDB's "table doesn't exist". */
const ER_NO_SUCH_TABLE = 1146;
/** InnoDB rolled the statement back to break a deadlock. */
const ER_LOCK_DEADLOCK = 1213;

/** The first element of what `mysql2` resolves: the rows, or the result header. */
function first([result]: [unknown, unknown]): unknown {
  return result;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || (error as { code?: string }).code || error.name : String(error);
}

function positive(name: string, value: unknown, fallback: number, allowZero = false): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new SessionError(`MysqlStore: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}.`);
  }
  return n;
}

function identifier(name: string, value: unknown, fallback: string | undefined, max = 64, why = ''): string | undefined {
  if (value === undefined) return fallback;
  // MySQL and MariaDB refuse longer names, and names ending in a space.
  if (typeof value !== 'string' || value === '' || value.length > max || value.includes('\0') || value.endsWith(' ')) {
    throw new SessionError(`MysqlStore: ${name} must be a name of 1 to ${max} characters, not ending in a space${why}, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Whether a store operation failed because InnoDB rolled its statement back to break a deadlock. */
function deadlocked(error: unknown): boolean {
  return (error as { cause?: { errno?: unknown } }).cause?.errno === ER_LOCK_DEADLOCK;
}

/** Rows an `INSERT` wrote (its count does not depend on CLIENT_FOUND_ROWS, unlike an update's). */
function affectedRows(result: unknown): number {
  return (result as WriteResult).affectedRows ?? 0;
}

/** Rows a write matched (not only changed: a touch within the same millisecond changes nothing but still found the session). */
function matchedRows(result: unknown): number {
  const header = result as WriteResult;
  const matched = /Rows matched:\s*(\d+)/.exec(header.info ?? '');
  return matched !== null ? Number(matched[1]) : (header.affectedRows ?? 0);
}

function parseData(value: unknown): Record<string, unknown> {
  // MariaDB's JSON is text; mysql2 parses MySQL's JSON type itself (unless `jsonStrings` is on).
  if (typeof value === 'string') return JSON.parse(value) as Record<string, unknown>;
  if (value instanceof Uint8Array) return JSON.parse(Buffer.from(value).toString('utf8')) as Record<string, unknown>;
  return value as Record<string, unknown>;
}

/**
 * Sessions in MySQL 8 or MariaDB 10.6+ through `mysql2` (version 3, an optional peer
 * dependency): one row per session, shared by every instance of the app.
 *
 * ```ts
 * import { createPool } from 'mysql2/promise';
 *
 * const pool = createPool({ uri: process.env.MYSQL_URL });
 * SessionModule.forRoot({ secret, store: new MysqlStore({ pool, createTable: true }) });
 * ```
 *
 * **Ownership.** The pool belongs to the caller: `close()` does not end it. End it after the app
 * has closed.
 *
 * **Table.** `handle VARCHAR(128) PRIMARY KEY, data JSON, created_at BIGINT, touched_at BIGINT,
 * expires_at DATETIME(3), user_key VARCHAR(512)`, indexed on `expires_at` and on `user_key`. No
 * session id is stored: `handle` is the one-way hash the core hands the store. `@SessionLock()`
 * uses a second table, `<table>_locks` (`handle VARCHAR(128) PRIMARY KEY, token VARCHAR(64),
 * expires_at DATETIME(3)`).
 *
 * **Round trips and atomicity.** Every operation but `move`, cleanup and a try for a lock someone
 * holds is one statement on one pooled connection: a load is one `SELECT`; a change is one `UPDATE` that applies only what the
 * request changed (keys removed with `JSON_REMOVE`, keys set with `JSON_SET`, increments added
 * inside the database) under the row's lock, so parallel requests keep each other's changes;
 * `patch`, `touch` and `move` change only a live row, so a destroyed or expired session never
 * comes back. Expiry is checked in SQL on every statement by the database clock, so an expired
 * row is never read, whether or not cleanup has deleted it yet.
 *
 * **Moves.** `move` (a `regenerate()`) is one transaction of two statements: an `UPDATE` that
 * turns the live row under the old handle into a forwarding record naming the new one, for
 * {@link MysqlStore.forwardingTtl}, then the session written under the new handle. `destroy`
 * through the old handle (a logout sent with the pre-login cookie) removes the moved session too,
 * in its one `DELETE`. The store has no `destroyByUser`: `SessionService.destroyByUser` lists the
 * user's sessions and destroys each, which a login in flight cannot escape, because its move
 * either committed before the list or leaves a forwarding record the destroy follows.
 *
 * **Cleanup.** {@link MysqlStore.cleanup} deletes expired rows in batches of `cleanupBatchSize`,
 * oldest expiry first: a read that locks nothing, then a delete by primary key. `SessionModule`
 * runs it every `cleanupInterval` on a timer that does not keep the process alive and stops on
 * shutdown.
 *
 * **Failures.** Every failure is a rejection with a {@link SessionError} (the core answers 503),
 * within `statementTimeout`.
 */
export class MysqlStore implements SessionStore {
  /** How long (milliseconds) a `move` leaves a forwarding record under the old handle. */
  readonly forwardingTtl = FORWARDING_TTL_MS;
  /** How often `SessionModule` calls {@link MysqlStore.cleanup} (milliseconds); `0` for never. */
  readonly cleanupInterval: number;
  private readonly pool: MysqlPool;
  private readonly sql: MysqlStatements;
  private readonly table: string;
  private readonly lockTable: string;
  private readonly createTable: boolean;
  private readonly statementTimeout: number;
  private readonly cleanupBatchSize: number;
  private created: Promise<void> | undefined;
  /** Set once `init()` has created the tables: operations no longer wait for them. */
  private tablesReady = false;
  private closed = false;
  private readonly lockWaits = new LockPoller();

  constructor(options: MysqlStoreOptions) {
    const given = options?.pool as Partial<MysqlPool & MysqlCallbackPool> | undefined | null;
    // The callback API's pool has promise(); mysql2/promise's pool has not.
    const pool = typeof given?.promise === 'function' ? given.promise() : given;
    if (pool === undefined || pool === null || typeof pool.getConnection !== 'function') {
      throw new SessionError(
        "MysqlStore: `pool` must be a mysql2 pool, e.g. new MysqlStore({ pool: createPool({ uri: process.env.MYSQL_URL }) }) with createPool from 'mysql2/promise'.",
      );
    }
    this.pool = pool as MysqlPool;
    const table = identifier('table', options.table, 'sessions', 64 - LOCK_TABLE_SUFFIX.length, ` (the lock table is named \`<table>${LOCK_TABLE_SUFFIX}\`)`)!;
    const database = identifier('database', options.database, undefined);
    this.table = database === undefined ? table : `${database}.${table}`;
    this.lockTable = `${this.table}${LOCK_TABLE_SUFFIX}`;
    this.createTable = options.createTable ?? false;
    if (typeof this.createTable !== 'boolean') throw new SessionError(`MysqlStore: createTable must be true or false, got ${String(options.createTable)}.`);
    this.statementTimeout = positive('statementTimeout', options.statementTimeout, 2_000);
    this.cleanupInterval = positive('cleanupInterval', options.cleanupInterval, 300_000, true);
    this.cleanupBatchSize = positive('cleanupBatchSize', options.cleanupBatchSize, 500);
    if (!Number.isInteger(this.cleanupBatchSize)) throw new SessionError(`MysqlStore: cleanupBatchSize must be a whole number, got ${this.cleanupBatchSize}.`);
    this.sql = mysqlStatements(table, database, this.statementTimeout);
  }

  /**
   * Creates the table and the lock table if `createTable` is on (once; `SessionModule` calls this
   * at startup). Other operations wait for it, so a store used outside Nest needs no call.
   */
  init(): Promise<void> {
    if (!this.createTable) return Promise.resolve();
    const create = async (connection: MysqlPoolConnection, remaining: () => number): Promise<void> => {
      // Two statements: mysql2 sends one per query unless the pool allows several.
      await connection.query({ sql: this.sql.createTable, timeout: remaining() });
      await connection.query({ sql: this.sql.createLockTable, timeout: remaining() });
    };
    this.created ??= this.run('createTable', create, 10 * this.statementTimeout).then(
      () => {
        this.tablesReady = true;
      },
      (error: unknown) => {
        // Try again on the next operation: the database may be back by then.
        this.created = undefined;
        throw new SessionError(`MysqlStore: could not create the table ${this.table}: ${messageOf(error)}`, { cause: error });
      },
    );
    return this.created;
  }

  async get(handle: string): Promise<SessionRecord | undefined> {
    const rows = (await this.query('get', this.sql.get, [handle])) as Record<string, unknown>[];
    const row = rows[0];
    if (row === undefined) return undefined;
    const record: SessionRecord = { data: parseData(row.data), createdAt: Number(row.created_at), touchedAt: Number(row.touched_at) };
    if (row.user_key !== null && row.user_key !== undefined) record.user = String(row.user_key);
    return record;
  }

  async set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    await this.query('set', this.sql.set, [handle, JSON.stringify(record.data), record.createdAt, record.touchedAt, micros(ttlMs), userKey(record.user)]);
  }

  /**
   * Turns the live row under `from` into a forwarding record naming `to` and writes the session
   * under `to`, in one transaction: the first statement locks the old row, so a logout that lands
   * meanwhile either came first (nothing moves) or waits, then follows the forwarding record.
   */
  async move(from: string, to: string, record: SessionRecord, ttlMs: number): Promise<boolean> {
    // Checked before the transaction: a user key the column refuses sends nothing.
    const row = [to, JSON.stringify(record.data), record.createdAt, record.touchedAt, micros(ttlMs), userKey(record.user)];
    return this.transaction('move', async (statement) => {
      if (matchedRows(await statement(this.sql.forward, [to, micros(this.forwardingTtl), from])) !== 1) return false;
      await statement(this.sql.set, row);
      return true;
    });
  }

  async touch(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    await this.query('touch', this.sql.touch, [record.touchedAt, micros(ttlMs), handle]);
  }

  async patch(handle: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    const unset = patch.clear ? [] : patch.unset;
    const removed = new Set(unset);
    // Written values; increments of keys this patch clears, removes or writes are added here, in
    // JavaScript, so the database adds only to numbers it holds (see patchStatement).
    const written = new Map<string, unknown>(Object.entries(patch.set));
    const stored: [string, number][] = [];
    for (const [key, by] of Object.entries(patch.incr)) {
      if (written.has(key)) {
        const current = written.get(key);
        written.set(key, (typeof current === 'number' ? current : 0) + by);
      } else if (patch.clear || removed.has(key)) {
        written.set(key, 0 + by);
      } else {
        stored.push([key, by]);
      }
    }
    const values: unknown[] = unset.map(jsonPath);
    for (const [key, value] of written) values.push(jsonPath(key), JSON.stringify(value));
    for (const [key, by] of stored) {
      const path = jsonPath(key);
      values.push(path, path, path, by);
    }
    const userChanges = patch.user !== undefined;
    values.push(patch.touchedAt, micros(ttlMs), userChanges, userChanges ? userKey(patch.user ?? undefined) : null, handle);
    const sql = this.sql.patch({ clear: patch.clear, unset: unset.length, set: written.size, incr: stored.length });
    return matchedRows(await this.query('patch', sql, values)) === 1;
  }

  /**
   * Deletes the row in one statement; when it is a forwarding record, the session it leads to as
   * well, following further moves (at most 8).
   */
  async destroy(handle: string): Promise<void> {
    await this.query('destroy', this.sql.destroy, [handle]);
  }

  async listByUser(user: string): Promise<SessionStoreUserEntry[]> {
    const rows = (await this.query('listByUser', this.sql.listByUser, [user])) as Record<string, unknown>[];
    return rows.map((row) => ({ handle: String(row.handle), createdAt: Number(row.created_at), touchedAt: Number(row.touched_at) }));
  }

  /**
   * How many live sessions the table holds: a `COUNT(*)` over it (forwarding records left by moves
   * not counted), so the `session.live` gauge reads it only when `telemetry.countSessions` asks.
   */
  async countSessions(): Promise<number> {
    const rows = (await this.query('countSessions', this.sql.countSessions, [])) as Record<string, unknown>[];
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * The session's lock for `@SessionLock()`: a row of `<table>_locks` with a random token and an
   * expiry. A try is an `INSERT IGNORE` (one round trip) that takes a lock nobody holds, and when
   * a row is there an `UPDATE` that takes it over only if it expired (its holder died); tries
   * repeat until `waitMs`. Renewal and release are one statement each. Every statement is short
   * and autocommitted: no pooled connection is held while the request runs.
   */
  async lock(handle: string, request: SessionStoreLockRequest): Promise<SessionStoreLease | undefined> {
    const token = randomBytes(16).toString('base64url');
    const ttl = micros(request.ttlMs);
    return this.lockWaits.lock(handle, request, {
      take: async () => {
        try {
          return (
            affectedRows(await this.query('lock', this.sql.lock, [handle, token, ttl], this.lockTable)) === 1 ||
            matchedRows(await this.query('lock', this.sql.takeOverLock, [token, ttl, handle], this.lockTable)) === 1
          );
        } catch (error) {
          // Inserts of one handle on several instances that all waited for a release can deadlock
          // on InnoDB's duplicate-key checks; the one rolled back took nothing: a busy try.
          if (deadlocked(error)) return false;
          throw error;
        }
      },
      renew: async (ttlMs) =>
        matchedRows(await this.retryDeadlock(() => this.query('renewLock', this.sql.renewLock, [micros(ttlMs), handle, token], this.lockTable))) === 1,
      release: async () => {
        await this.retryDeadlock(() => this.query('releaseLock', this.sql.releaseLock, [handle, token], this.lockTable));
      },
    });
  }

  /** Runs one autocommitted statement again (three tries in all) when InnoDB rolled it back to break a deadlock. */
  private async retryDeadlock<T>(statement: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await statement();
      } catch (error) {
        if (tries >= 3 || !deadlocked(error)) throw error;
      }
    }
  }

  /**
   * Deletes expired rows in batches of `cleanupBatchSize` until none is left (or the store is
   * closed), and resolves how many it deleted. Each batch reads the handles of expired rows
   * without locking, then deletes those still expired by primary key, so several instances may
   * clean at once and requests on live sessions never wait for it. Then it deletes the expired
   * locks of holders that died the same way (they are not counted).
   */
  async cleanup(): Promise<number> {
    let total = 0;
    while (!this.closed) {
      let found: number;
      try {
        const rows = (await this.query('cleanup', this.sql.expired, [this.cleanupBatchSize])) as { handle: string }[];
        found = rows.length;
        // Another instance may have deleted some of them meanwhile: only what this one deleted counts.
        if (found > 0) total += matchedRows(await this.query('cleanup', this.sql.cleanup(found), rows.map((row) => row.handle)));
      } catch (error) {
        // Closed while waiting for the table: nothing more is deleted.
        if (this.closed) break;
        throw error;
      }
      if (found < this.cleanupBatchSize) break;
      // Let requests run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await this.cleanupLocks();
    return total;
  }

  /** Deletes expired locks in batches; few, since every request frees its own. */
  private async cleanupLocks(): Promise<void> {
    while (!this.closed) {
      let found: number;
      try {
        const rows = (await this.query('cleanup', this.sql.expiredLocks, [this.cleanupBatchSize], this.lockTable)) as { handle: string }[];
        found = rows.length;
        if (found > 0) await this.query('cleanup', this.sql.cleanupLocks(found), rows.map((row) => row.handle), this.lockTable);
      } catch (error) {
        if (this.closed) break;
        // No lock table (made before locks existed, and never used with @SessionLock()): no locks to clean.
        if ((error as { cause?: { errno?: unknown } }).cause?.errno === ER_NO_SUCH_TABLE) break;
        throw error;
      }
      if (found < this.cleanupBatchSize) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Later operations reject, and a running cleanup stops after its batch. Does not end the pool, which is the caller's. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private query(name: string, sql: string, values: unknown[], table = this.table): Promise<unknown> {
    const operation = (connection: MysqlPoolConnection, remaining: () => number): Promise<unknown> => connection.query({ sql, timeout: remaining() }, values).then(first);
    const fail = (error: unknown): SessionError => this.failure(name, error, table);
    // Once the tables exist, skip the wait for them: one promise less on every operation.
    if (this.createTable && !this.tablesReady) return this.init().then(() => this.run(name, operation, this.statementTimeout, fail), (error: unknown) => Promise.reject(fail(error)));
    return this.run(name, operation, this.statementTimeout, fail);
  }

  /**
   * Runs `steps` in one transaction on one pooled connection, within `statementTimeout` in all,
   * and commits. On a failure it rolls back before the connection goes back to the pool (and
   * closes the connection if even that fails), so no half-done transaction is ever reused.
   */
  private async transaction<T>(name: string, steps: (statement: (sql: string, values: unknown[]) => Promise<unknown>) => Promise<T>): Promise<T> {
    try {
      if (this.createTable && !this.tablesReady) await this.init();
      return await this.run(
        name,
        async (connection, remaining) => {
          const statement = async (sql: string, values: unknown[] = []): Promise<unknown> => (await connection.query({ sql, timeout: remaining() }, values))[0];
          await statement('START TRANSACTION');
          let result: T;
          try {
            result = await steps(statement);
          } catch (error) {
            try {
              await statement('ROLLBACK');
            } catch (rollback) {
              // Not a server error, so run() closes the connection: the server rolls back with it.
              throw new SessionError(`MysqlStore: ${name} failed (${messageOf(error)}) and could not be rolled back: ${messageOf(rollback)}`, { cause: error });
            }
            throw error;
          }
          await statement('COMMIT');
          return result;
        },
        this.statementTimeout,
      );
    } catch (error) {
      throw this.failure(name, error);
    }
  }

  /** The {@link SessionError} to reject with for `error`, from a statement on `table`. */
  private failure(name: string, error: unknown, table = this.table): SessionError {
    if (error instanceof SessionError) return error;
    if ((error as { errno?: unknown }).errno === ER_NO_SUCH_TABLE) {
      return new SessionError(`MysqlStore: the table ${table} does not exist. Create it with the DDL in the README, or pass createTable: true.`, { cause: error });
    }
    return new SessionError(`MysqlStore: ${name} failed: ${messageOf(error)}`, { cause: error });
  }

  /**
   * Runs `operation` on a pooled connection within `timeoutMs`, waiting for the connection
   * included (`remaining()` says how many milliseconds are left). A connection that arrives after
   * the deadline goes straight back unused; one whose statement failed or timed out is closed
   * rather than reused mid-statement. Failures reject through `mapError` when given. One promise
   * and one timer of its own per operation: this runs on every request.
   */
  private run<T>(
    name: string,
    operation: (connection: MysqlPoolConnection, remaining: () => number) => Promise<T>,
    timeoutMs: number,
    mapError: (error: unknown) => unknown = (error) => error,
  ): Promise<T> {
    if (this.closed) return Promise.reject(mapError(new SessionError(`MysqlStore: ${name} called after close().`)));
    const started = Date.now();
    const remaining = (): number => Math.max(1, timeoutMs - (Date.now() - started));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(mapError(new SessionError(`MysqlStore: ${name} got no answer from the database within ${timeoutMs} ms.`)));
      }, timeoutMs);
      timer.unref();
      const fail = (error: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(mapError(error));
      };
      this.pool.getConnection().then((connection) => {
        if (settled) {
          // Timed out while waiting for the connection: dropped unsent.
          connection.release();
          return;
        }
        const done = (result: T): void => {
          connection.release();
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(result);
        };
        const failed = (error: unknown): void => {
          // Server errors (a missing table, a deadlock) leave the connection usable; anything else may not.
          if (typeof (error as { errno?: unknown } | null)?.errno === 'number' && (error as { fatal?: unknown }).fatal !== true) connection.release();
          else connection.destroy();
          fail(error);
        };
        try {
          operation(connection, remaining).then(done, failed);
        } catch (error) {
          failed(error);
        }
      }, fail);
    });
  }
}

/** A ttl in whole microseconds, as `INTERVAL ? MICROSECOND` takes it. */
function micros(ttlMs: number): number {
  return Math.max(0, Math.round(ttlMs * 1_000));
}

/** The `user_key` to store: `null` for none; refused when longer than the indexed column. */
function userKey(user: string | undefined): string | null {
  if (user === undefined) return null;
  if (user.length > USER_KEY_MAX_LENGTH && Array.from(user).length > USER_KEY_MAX_LENGTH) {
    throw new SessionError(`MysqlStore: the user key is ${Array.from(user).length} characters long; the user_key column holds at most ${USER_KEY_MAX_LENGTH}. Use a shorter authKey value (an id rather than a profile).`);
  }
  return user;
}
