import { type PostgresStatements, postgresStatements, qualifiedName, statementName } from './postgres.sql.js';
import { randomBytes } from 'node:crypto';
import { FORWARDING_TTL_MS, type SessionPatch, type SessionRecord, type SessionStore, type SessionStoreLease, type SessionStoreLockRequest, type SessionStoreUserEntry } from './session-store.interface.js';
import { LockPoller } from './store-lock.poller.js';
import { SessionError } from '../core/session.errors.js';
import { recordFromJson } from '../core/session-value.js';

/** The result of a query, as `pg` gives it. */
export interface PostgresQueryResult {
  rows: Record<string, unknown>[];
  rowCount: number | null;
}

/**
 * A connection checked out of a {@link PostgresPool}: what the store uses of a `pg` `PoolClient`.
 * The store passes `query` a callback as its last argument, as `pg` takes one (which spares a
 * promise per statement); a connection that ignores it and returns a promise is used through the
 * promise.
 */
export interface PostgresPoolClient {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<PostgresQueryResult>;
  query(text: string): Promise<PostgresQueryResult | PostgresQueryResult[]>;
  /** Returns the connection to the pool; with an error, the pool closes it instead. */
  release(error?: Error | boolean): void;
  once(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * What the store uses of a `pg` `Pool` (`pg` 8): a `new Pool(...)` fits. The store passes
 * `connect` a callback, as `pg` takes one; a pool that ignores it and returns a promise (a wrapper
 * written against this interface) is used through the promise.
 */
export interface PostgresPool {
  connect(): Promise<PostgresPoolClient>;
}

/** Options of {@link PostgresStore}. */
export interface PostgresStoreOptions {
  /**
   * A `pg` `Pool` (`npm install pg`, version 8). It stays yours: the store never ends it. Give it
   * an `error` listener, as `pg` requires (an idle connection that breaks emits `error` on the
   * pool), and consider `statement_timeout` in its config so the server, too, gives up on
   * statements the store has stopped waiting for.
   */
  pool: PostgresPool;
  /**
   * Run the store's statements as named prepared statements, so PostgreSQL parses and plans each
   * once per connection and later requests send only its name and parameters (less CPU in the app
   * and in the database). Turn it off behind a pooler that cannot keep them: PgBouncer in
   * transaction mode before 1.21, or with `max_prepared_statements = 0`.
   * @defaultValue `true`
   */
  preparedStatements?: boolean;
  /**
   * The table sessions are kept in.
   * @defaultValue `'sessions'`
   */
  table?: string;
  /**
   * The schema of the table.
   * @defaultValue none: the connection's `search_path` (usually `public`)
   */
  schema?: string;
  /**
   * Create the schema (when given), the table and its indexes if they are missing, once, before
   * the first operation (`SessionModule` does it at startup, so a failure stops the app). Safe when
   * several instances start at once. Needs the right to create tables; without it, create the
   * table from the DDL in the README and leave this off.
   * @defaultValue `false`
   */
  createTable?: boolean;
  /**
   * The longest (milliseconds) any store operation may take, waiting for a pooled connection
   * included. Past it the operation rejects, so a request that needs the session gets a 503 within
   * this bound while the database is down or stuck, and an operation still waiting for a
   * connection is dropped unsent.
   * @defaultValue `2000`
   */
  statementTimeout?: number;
  /**
   * How often (milliseconds) `SessionModule` deletes expired rows through {@link PostgresStore.cleanup};
   * `0` for never (when something else deletes them). Reads never return an expired session
   * either way.
   * @defaultValue `300_000` (5 minutes)
   */
  cleanupInterval?: number;
  /**
   * How many expired rows one cleanup statement deletes. Cleanup repeats batches until none is
   * left, each a short transaction, so it never holds many row locks for long.
   * @defaultValue `500`
   */
  cleanupBatchSize?: number;
}

function positive(name: string, value: unknown, fallback: number, allowZero = false): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new SessionError(`PostgresStore: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}.`);
  }
  return n;
}

function identifier(name: string, value: unknown, fallback: string | undefined): string | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '' || value.includes('\0')) {
    throw new SessionError(`PostgresStore: ${name} must be a non-empty name, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/**
 * Sessions in PostgreSQL through `pg` (version 8, an optional peer dependency): one row per
 * session, shared by every instance of the app.
 *
 * ```ts
 * import { Pool } from 'pg';
 *
 * const pool = new Pool({ connectionString: process.env.DATABASE_URL });
 * pool.on('error', (error) => logger.error(error));
 * SessionModule.forRoot({ secret, store: new PostgresStore({ pool, createTable: true }) });
 * ```
 *
 * **Ownership.** The pool belongs to the caller: `close()` does not end it. End it after the app
 * has closed.
 *
 * **Table.** `handle text PRIMARY KEY, data jsonb, created_at bigint, touched_at bigint,
 * expires_at timestamptz, user_key text`, indexed on `expires_at` and on `user_key`. No session
 * id is stored: `handle` is the one-way hash the core hands the store. `@SessionLock()` uses a
 * second table, `<table>_locks` (`handle text PRIMARY KEY, token text, expires_at timestamptz`).
 *
 * **Round trips and atomicity.** Every operation is one statement on one pooled connection:
 * a load is one `SELECT`; a change is one `UPDATE` that applies only what the request changed
 * (keys unset, keys set, increments added inside the database) under the row's lock, so parallel
 * requests keep each other's changes; `patch` and `touch` change only a live row, so a destroyed
 * or expired session never comes back. Expiry is checked in SQL on every statement (`expires_at >
 * now()`), so an expired row is never read, whether or not cleanup has deleted it yet.
 *
 * **Cleanup.** {@link PostgresStore.cleanup} deletes expired rows in batches of
 * `cleanupBatchSize`, skipping rows locked by others (`FOR UPDATE SKIP LOCKED`), so instances
 * cleaning at the same time never wait for each other. `SessionModule` runs it every
 * `cleanupInterval` on a timer that does not keep the process alive and stops on shutdown.
 *
 * **Failures.** Every failure is a rejection (the core answers 503), within `statementTimeout`.
 */
export class PostgresStore implements SessionStore {
  /** How long (milliseconds) a `move` leaves a forwarding row under the old handle. */
  readonly forwardingTtl = FORWARDING_TTL_MS;
  /** How often `SessionModule` calls {@link PostgresStore.cleanup} (milliseconds); `0` for never. */
  readonly cleanupInterval: number;
  private readonly pool: PostgresPool;
  private readonly sql: PostgresStatements;
  /**
   * Per statement (by its text): the fixed part of its query config, its text and (with prepared
   * statements) its name. pg copies every query's config property by property; with these as its
   * prototype only `values` is left to copy.
   */
  private readonly statements = new Map<string, { readonly text: string; readonly name?: string }>();
  private readonly table: string;
  private readonly lockTable: string;
  private readonly createTable: boolean;
  private readonly statementTimeout: number;
  private readonly cleanupBatchSize: number;
  private created: Promise<void> | undefined;
  /** Set once `init()` has created the table: operations no longer wait for it. */
  private tableReady = false;
  private closed = false;
  private readonly lockWaits = new LockPoller();

  constructor(options: PostgresStoreOptions) {
    const pool = options?.pool as PostgresPool | undefined;
    if (pool === undefined || pool === null || typeof pool.connect !== 'function') {
      throw new SessionError("PostgresStore: `pool` must be a pg Pool, e.g. new PostgresStore({ pool: new Pool({ connectionString: process.env.DATABASE_URL }) }) with Pool from 'pg'.");
    }
    this.pool = pool;
    const table = identifier('table', options.table, 'sessions')!;
    const schema = identifier('schema', options.schema, undefined);
    this.table = qualifiedName(table, schema);
    this.lockTable = qualifiedName(`${table}_locks`, schema);
    this.sql = postgresStatements(table, schema);
    const prepared = options.preparedStatements ?? true;
    if (typeof prepared !== 'boolean') throw new SessionError(`PostgresStore: preparedStatements must be true or false, got ${String(options.preparedStatements)}.`);
    for (const [key, text] of Object.entries(this.sql)) {
      if (key !== 'createTable') this.statements.set(text, prepared ? { text, name: statementName(text) } : { text });
    }
    this.createTable = options.createTable ?? false;
    if (typeof this.createTable !== 'boolean') throw new SessionError(`PostgresStore: createTable must be true or false, got ${String(options.createTable)}.`);
    this.statementTimeout = positive('statementTimeout', options.statementTimeout, 2_000);
    this.cleanupInterval = positive('cleanupInterval', options.cleanupInterval, 300_000, true);
    this.cleanupBatchSize = positive('cleanupBatchSize', options.cleanupBatchSize, 500);
    if (!Number.isInteger(this.cleanupBatchSize)) throw new SessionError(`PostgresStore: cleanupBatchSize must be a whole number, got ${this.cleanupBatchSize}.`);
  }

  /**
   * Creates the table if `createTable` is on (once; `SessionModule` calls this at startup). Other
   * operations wait for it, so a store used outside Nest needs no call.
   */
  init(): Promise<void> {
    if (!this.createTable) return Promise.resolve();
    this.created ??= this.run('createTable', this.sql.createTable, 10 * this.statementTimeout).then(
      () => {
        this.tableReady = true;
      },
      (error: unknown) => {
        // Try again on the next operation: the database may be back by then.
        this.created = undefined;
        throw new SessionError(`PostgresStore: could not create the table ${this.table}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      },
    );
    return this.created;
  }

  async get(handle: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.query('get', this.sql.get, [handle]);
    const row = rows[0];
    if (row === undefined) return undefined;
    // The data as text, parsed here: PostgreSQL writes jsonb out without escapes a reserved key
    // could hide behind, so a session without one needs no second walk and copy in the runtime.
    const user = row.user_key === null || row.user_key === undefined ? undefined : String(row.user_key);
    return recordFromJson(String(row.data), Number(row.created_at), Number(row.touched_at), user);
  }

  async set(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    await this.query('set', this.sql.set, [handle, JSON.stringify(record.data), record.createdAt, record.touchedAt, ttlMs, record.user ?? null]);
  }

  async move(from: string, to: string, record: SessionRecord, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.query('move', this.sql.move, [
      from,
      to,
      JSON.stringify(record.data),
      record.createdAt,
      record.touchedAt,
      ttlMs,
      record.user ?? null,
      this.forwardingTtl,
    ]);
    return rowCount === 1;
  }

  async touch(handle: string, record: SessionRecord, ttlMs: number): Promise<void> {
    await this.query('touch', this.sql.touch, [handle, record.touchedAt, ttlMs]);
  }

  async patch(handle: string, patch: SessionPatch, ttlMs: number): Promise<boolean> {
    const userChanges = patch.user !== undefined;
    const { rowCount } = await this.query('patch', this.sql.patch, [
      handle,
      patch.clear,
      patch.unset,
      JSON.stringify(patch.set),
      JSON.stringify(patch.incr),
      patch.touchedAt,
      ttlMs,
      userChanges,
      userChanges ? patch.user : null,
    ]);
    return rowCount === 1;
  }

  /**
   * Deletes the row; when it is a forwarding row, the session it leads to as well (following
   * further moves). When nothing was found it looks once more: a move that held the row's lock
   * while the first statement waited has committed by then, and left its forwarding row.
   */
  async destroy(handle: string): Promise<void> {
    let current = handle;
    let retried = false;
    for (let hop = 0; hop < 8; hop++) {
      const { rows } = await this.query('destroy', this.sql.destroy, [current]);
      const row = rows[0];
      if (row === undefined) {
        if (retried || hop > 0) return;
        retried = true;
        continue;
      }
      if (row.forward !== true) return;
      current = String(row.moved_to);
    }
  }

  /** One `DELETE`, which also catches a session moved (by a `regenerate()`) while it ran. */
  async destroyByUser(user: string, except?: string): Promise<string[]> {
    const { rows } = await this.query('destroyByUser', this.sql.destroyByUser, [user, except ?? null]);
    return rows.filter((row) => row.live === true).map((row) => String(row.handle));
  }

  async listByUser(user: string): Promise<SessionStoreUserEntry[]> {
    const { rows } = await this.query('listByUser', this.sql.listByUser, [user]);
    return rows.map((row) => ({ handle: String(row.handle), createdAt: Number(row.created_at), touchedAt: Number(row.touched_at) }));
  }

  /** How many unexpired sessions the table holds (a `count(*)` over the `expires_at` index), for the `session.live` gauge. */
  async countSessions(): Promise<number> {
    const { rows } = await this.query('countSessions', this.sql.countSessions, []);
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * The session's lock for `@SessionLock()`: a row of `<table>_locks` with a random token and an
   * expiry, taken by one `INSERT ... ON CONFLICT DO UPDATE` that succeeds only when the lock is
   * free or expired, and retried until `waitMs`. Every try, renewal and release is one short
   * statement: no pooled connection is held while the request runs.
   */
  async lock(handle: string, request: SessionStoreLockRequest): Promise<SessionStoreLease | undefined> {
    const token = randomBytes(16).toString('base64url');
    return this.lockWaits.lock(handle, request, {
      take: async () => (await this.query('lock', this.sql.lock, [handle, token, request.ttlMs], this.lockTable)).rowCount === 1,
      renew: async (ttlMs) => (await this.query('renewLock', this.sql.renewLock, [handle, token, ttlMs], this.lockTable)).rowCount === 1,
      release: async () => {
        await this.query('releaseLock', this.sql.releaseLock, [handle, token], this.lockTable);
      },
    });
  }

  /**
   * Deletes expired rows in batches of `cleanupBatchSize` until none is left (or the store is
   * closed), and resolves how many it deleted. Each batch is one short statement that skips rows
   * other transactions hold, so several instances may clean at once.
   */
  async cleanup(): Promise<number> {
    let total = 0;
    while (!this.closed) {
      const { rowCount } = await this.query('cleanup', this.sql.cleanup, [this.cleanupBatchSize]).catch((error: unknown) => {
        // Closed while waiting for the table: nothing was deleted in this round.
        if (this.closed) return { rowCount: 0 };
        throw error;
      });
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < this.cleanupBatchSize) break;
      // Let requests run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Locks of holders that died; few, since every request frees its own.
    if (!this.closed) {
      await this.query('cleanupLocks', this.sql.cleanupLocks, [], this.lockTable).catch((error: unknown) => {
        // No lock table (made before locks existed, and never used with @SessionLock()): no locks to clean.
        if ((error as { cause?: { code?: unknown } }).cause?.code !== '42P01') throw error;
      });
    }
    return total;
  }

  /** Later operations reject, and a running cleanup stops after its batch. Does not end the pool, which is the caller's. */
  async close(): Promise<void> {
    this.closed = true;
  }

  private query(name: string, text: string, values: unknown[], table = this.table): Promise<PostgresQueryResult> {
    const config = Object.create(this.statements.get(text)!) as StatementConfig;
    config.values = values;
    // Once the table exists, skip the wait for it: one promise less on every operation.
    if (this.createTable && !this.tableReady) return this.init().then(() => this.run(name, config, this.statementTimeout, table));
    return this.run(name, config, this.statementTimeout, table);
  }

  /**
   * Runs `statement` on a pooled connection within `timeoutMs`, waiting for the connection
   * included. A connection that arrives after the deadline goes straight back unused; one whose
   * statement is still running at the deadline is closed, which frees its place in the pool
   * whether or not the server ever answers. One promise and one timer per operation: this runs
   * on every request, so the pool and the connection are called with callbacks where they take
   * them, as pg's do (see {@link PostgresPool}).
   */
  private run(name: string, statement: StatementConfig | string, timeoutMs: number, table = this.table): Promise<PostgresQueryResult> {
    if (this.closed) return Promise.reject(new SessionError(`PostgresStore: ${name} called after close().`));
    return new Promise<PostgresQueryResult>((resolve, reject) => {
      let settled = false;
      let client: PostgresPoolClient | undefined;
      // The connection this operation got: a pool that also returned it through a promise delivers it twice.
      let delivered: PostgresPoolClient | undefined;
      // A connection that breaks while checked out emits `error`; without a listener that would crash the process.
      let broken: Error | undefined;
      const onError = (error: Error): void => {
        broken = error;
      };
      const giveBack = (error?: Error | boolean): void => {
        const checkedOut = client!;
        client = undefined;
        checkedOut.removeListener('error', onError);
        // With an error the pool closes the connection rather than reuse one that may be mid-query or broken.
        checkedOut.release(error ?? broken);
      };
      const timer = setTimeout(() => {
        settled = true;
        reject(new SessionError(`PostgresStore: ${name} got no answer from PostgreSQL within ${timeoutMs} ms.`));
        if (client !== undefined) giveBack(new SessionError(`PostgresStore: ${name} timed out.`));
      }, timeoutMs);
      timer.unref();
      const answered = (error: unknown, result?: PostgresQueryResult): void => {
        const failed = error !== undefined && error !== null;
        if (client !== undefined) giveBack(failed ? (error instanceof Error ? error : true) : undefined);
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (failed) reject(failure(error, table));
        else resolve(result!);
      };
      const connected = (error: unknown, connection?: PostgresPoolClient): void => {
        if (error !== undefined && error !== null) return answered(error);
        if (connection === delivered) return;
        delivered = connection;
        if (settled) {
          // Timed out while waiting for the connection: dropped unsent.
          connection!.release();
          return;
        }
        client = connection!;
        client.once('error', onError);
        try {
          settleBy((client as unknown as CallbackClient).query(statement, answered), answered);
        } catch (error) {
          answered(error);
        }
      };
      settleBy((this.pool as unknown as CallbackPool).connect(connected), connected);
    });
  }
}

/** A statement as the store hands it to pg: its text and name from a prototype, its values its own (see `statements`). */
type StatementConfig = { text: string; name?: string; values: unknown[] };

/** A Node-style callback, as pg calls its own. */
type Callback<T> = (error: unknown, value?: T) => void;

/** A {@link PostgresPool} called as pg's pool can be, with a callback. */
interface CallbackPool {
  connect(callback: Callback<PostgresPoolClient>): unknown;
}

/** A {@link PostgresPoolClient} called as pg's connections can be, with a callback. */
interface CallbackClient {
  query(statement: StatementConfig | string, callback: Callback<PostgresQueryResult>): unknown;
}

/** Where a call that was given `callback` returned a promise instead (it ignores callbacks), settles `callback` through it. */
function settleBy<T>(returned: unknown, callback: Callback<T>): void {
  if (returned !== null && typeof returned === 'object' && typeof (returned as PromiseLike<T>).then === 'function') {
    (returned as PromiseLike<T>).then((value) => callback(undefined, value), callback);
  }
}

/** The error to reject with for `error`, from a statement on `table`. */
function failure(error: unknown, table: string): unknown {
  // undefined_table: say how to get one.
  if ((error as { code?: unknown } | null)?.code === '42P01') {
    return new SessionError(`PostgresStore: the table ${table} does not exist. Create it with the DDL in the README, or pass createTable: true.`, { cause: error });
  }
  return error;
}
