/**
 * The SQL of `MysqlStore`, one statement per store operation (two, in one transaction, for a
 * move), written once for MySQL 8 and MariaDB 10.6+ (no statement that only one of them parses).
 *
 * Times the core gives (`created_at`, `touched_at`) are kept as epoch milliseconds, exactly as
 * given; the expiry is a `DATETIME(3)` in UTC computed and compared with the database's clock
 * (`UTC_TIMESTAMP(3)`), so every instance agrees on it whatever its own clock or the
 * connection's `time_zone` says.
 *
 * Statement timeout, in the server as well as in the client: every statement starts with
 * `/*M! SET STATEMENT max_statement_time=s FOR *\/`, a comment only MariaDB executes (MySQL skips
 * it), and every `SELECT` carries `/*+ MAX_EXECUTION_TIME(ms) *\/`, an optimizer hint only MySQL
 * reads (MariaDB skips it). MySQL has no per-statement limit for writes: they are bounded by
 * `innodb_lock_wait_timeout` on the server and by the store's deadline in the client.
 *
 * The data column is `JSON`: MySQL's binary JSON type, MariaDB's alias for `LONGTEXT` with a
 * `JSON_VALID` check. Both are changed in place by `JSON_REMOVE`/`JSON_SET` with paths built by
 * {@link jsonPath}, and read back as JSON text.
 *
 * A row whose `data` is a JSON object is a session; a row whose `data` is a JSON string is the
 * forwarding record a move leaves under the old handle (the string: the new handle), with no
 * `user_key`. Only `destroy` follows it; every other statement sees sessions only.
 *
 * Session locks (`@SessionLock()`) live in a table of their own, `<table>_locks`: a lock may
 * exist before its session does, and taking one never touches the sessions' rows.
 */

/** Quotes one identifier with backticks. */
export function quoteIdentifier(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/**
 * The JSON path of one top-level key: `$."key"`, the key written as a JSON string. Both servers
 * accept any key this way (empty, with dots, quotes, `$`, `*`). MySQL unescapes the quoted name as
 * JSON; MariaDB matches it as written against the document's text, which the store always writes
 * with `JSON.stringify` too, so both escape alike.
 */
export function jsonPath(key: string): string {
  return `$.${JSON.stringify(key)}`;
}

/** The JSON types a value counts as a number for an increment (MySQL's names; MariaDB uses the first and third). */
const NUMBER_TYPES = `('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')`;

/** How many moves `destroy` follows from a forwarding record (the session store contract's bound). */
export const FORWARDING_HOPS = 8;

/** The longest `user_key` the index column takes (characters). */
export const USER_KEY_MAX_LENGTH = 512;

/** What the name of the lock table adds to the sessions table's name. */
export const LOCK_TABLE_SUFFIX = '_locks';

/** The shape of one patch: which parts it has, so the statement text depends on counts only, never on keys or values. */
export interface MysqlPatchShape {
  /** Start from an empty object instead of the stored data. */
  clear: boolean;
  /** How many keys are removed. */
  unset: number;
  /** How many keys are written (values the client computed, increments of written keys included). */
  set: number;
  /** How many stored numbers get an increment added inside the database. */
  incr: number;
}

/** The statements of one table. Parameters are `?`, in the order each comment gives. */
export interface MysqlStatements {
  /** The table and its indexes, created if missing: one statement. */
  createTable: string;
  /** The lock table (`<table>_locks`, for `@SessionLock()`), created if missing: one statement. */
  createLockTable: string;
  /** handle → data, created_at, touched_at, user_key of a live session. */
  get: string;
  /** handle, data (JSON), created_at, touched_at, ttl (µs), user_key: insert or replace. */
  set: string;
  /**
   * The first statement of a move, in a transaction with {@link MysqlStatements.set} for the new
   * handle: to, forwarding ttl (µs), from. Turns the live session under `from` into a forwarding
   * record naming `to`, under the row's lock; the matched row count says whether it was live.
   */
  forward: string;
  /** touched_at, ttl (µs), handle: a live session only. */
  touch: string;
  /** handle: deletes the row, and when it is a live forwarding record the sessions it leads to (up to {@link FORWARDING_HOPS} moves). */
  destroy: string;
  /** user_key → handle, created_at, touched_at of the user's live sessions. */
  listByUser: string;
  /** → n, the number of live sessions (forwarding records not counted); a plain read, it locks nothing. */
  countSessions: string;
  /** batch size → the handles of up to that many expired rows, oldest expiry first (a plain read: it locks nothing). */
  expired: string;
  /** The cleanup of `count` handles found by {@link MysqlStatements.expired}: the handles, each deleted only if still expired. */
  cleanup(count: number): string;
  /**
   * The patch statement of one shape. Parameters: the unset paths; then path, value (JSON) per
   * written key; then the path three times and the increment per stored number; then touched_at,
   * ttl (µs), whether the user changes, the new user_key, handle.
   */
  patch(shape: MysqlPatchShape): string;
  /**
   * handle, token, ttl (µs): takes a lock nobody holds (no row); 1 affected row when it did, 0
   * when a row is there, live or expired (see {@link MysqlStatements.takeOverLock}).
   */
  lock: string;
  /** token, ttl (µs), handle: takes over a lock whose holder let it expire; the matched row count says whether it did. */
  takeOverLock: string;
  /** ttl (µs), handle, token: extends the lock only while `token` holds it; the matched row count says whether it did. */
  renewLock: string;
  /** handle, token: frees the lock only while `token` holds it. */
  releaseLock: string;
  /** batch size → the handles of up to that many expired locks (of holders that died; a plain read: it locks nothing). */
  expiredLocks: string;
  /** The cleanup of `count` handles found by {@link MysqlStatements.expiredLocks}, each deleted only if still expired. */
  cleanupLocks(count: number): string;
}

/**
 * The statements for `table`, bounding each statement to `timeoutMs` in the server. The table is
 * in the connection's database (the pool's `database`), or `db.table` when `database` is given.
 */
export function mysqlStatements(table: string, database: string | undefined, timeoutMs: number): MysqlStatements {
  const qualified = (name: string): string => (database === undefined ? quoteIdentifier(name) : `${quoteIdentifier(database)}.${quoteIdentifier(name)}`);
  const t = qualified(table);
  const locks = qualified(`${table}${LOCK_TABLE_SUFFIX}`);
  // MariaDB takes seconds, MySQL milliseconds; both as whole enough numbers.
  const limit = `/*M! SET STATEMENT max_statement_time=${(Math.ceil(timeoutMs) / 1000).toFixed(3)} FOR */ `;
  const select = `${limit}SELECT /*+ MAX_EXECUTION_TIME(${Math.ceil(timeoutMs)}) */`;
  const now = 'UTC_TIMESTAMP(3)';
  const expiry = `${now} + INTERVAL ? MICROSECOND`;
  const live = `expires_at > ${now}`;
  const session = `JSON_TYPE(data) = 'OBJECT'`;
  const patches = new Map<string, string>();

  return {
    // One DDL statement: the server's metadata lock makes concurrent ones wait, then find the
    // table there. Index names are per table in MySQL and MariaDB, so they need no prefix.
    createTable: `CREATE TABLE IF NOT EXISTS ${t} (
  handle     VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  data       JSON NOT NULL,
  created_at BIGINT NOT NULL,
  touched_at BIGINT NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  user_key   VARCHAR(${USER_KEY_MAX_LENGTH}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  PRIMARY KEY (handle),
  KEY expires_at_idx (expires_at),
  KEY user_key_idx (user_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    // One row per lock held; few rows, and none for long, so no index but the key.
    createLockTable: `CREATE TABLE IF NOT EXISTS ${locks} (
  handle     VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  token      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  expires_at DATETIME(3) NOT NULL,
  PRIMARY KEY (handle)
) ENGINE=InnoDB`,
    get: `${select} data, created_at, touched_at, user_key FROM ${t} WHERE handle = ? AND ${live} AND ${session}`,
    // VALUES(col) is the spelling both servers accept (MySQL 8.0.20+ warns that it is deprecated
    // in favour of a row alias MariaDB does not parse).
    set: `${limit}INSERT INTO ${t} (handle, data, created_at, touched_at, expires_at, user_key)
VALUES (?, ?, ?, ?, ${expiry}, ?)
ON DUPLICATE KEY UPDATE data = VALUES(data), created_at = VALUES(created_at), touched_at = VALUES(touched_at),
  expires_at = VALUES(expires_at), user_key = VALUES(user_key)`,
    // The old row stays where it is (no change of primary key, which InnoDB does as a delete and
    // an insert) and becomes the forwarding record; the store then writes the session under its
    // new handle with `set`, in the same transaction. The row lock taken here makes a logout
    // that lands meanwhile either come first (nothing matches: no move) or wait and find the
    // forwarding record, which it follows.
    forward: `${limit}UPDATE ${t} SET data = JSON_QUOTE(?), user_key = NULL, expires_at = ${expiry}
WHERE handle = ? AND ${live} AND ${session}`,
    touch: `${limit}UPDATE ${t} SET touched_at = ?, expires_at = ${expiry} WHERE handle = ? AND ${live} AND ${session}`,
    destroy: destroyStatement(t, limit, now),
    listByUser: `${select} handle, created_at, touched_at FROM ${t} WHERE user_key = ? AND ${live} AND ${session}`,
    countSessions: `${select} COUNT(*) AS n FROM ${t} WHERE ${live} AND ${session}`,
    // Cleanup reads a batch without locking, then deletes it by primary key: a DELETE that scanned
    // the expires_at index itself would lock the range up to the first live row (InnoDB's next-key
    // locks), and so stall, or deadlock with, a request saving that session. By key it locks only
    // the expired rows it deletes; a row extended meanwhile is no longer expired and stays.
    expired: `${select} handle FROM ${t} WHERE expires_at <= ${now} ORDER BY expires_at LIMIT ?`,
    // FORCE INDEX keeps the delete on the primary key (the optimizer may prefer the expires_at
    // range otherwise); both servers take index hints in the multiple-table form only.
    cleanup: (count) => `${limit}DELETE s FROM ${t} AS s FORCE INDEX (PRIMARY) WHERE s.handle IN (${Array(count).fill('?').join(', ')}) AND s.expires_at <= ${now}`,
    patch(shape) {
      const key = `${Number(shape.clear)}:${shape.unset}:${shape.set}:${shape.incr}`;
      let text = patches.get(key);
      if (text === undefined) {
        text = patchStatement(t, limit, expiry, `${live} AND ${session}`, shape);
        // A few shapes cover nearly all traffic; the cache only saves rebuilding their text.
        if (patches.size < 1_000) patches.set(key, text);
      }
      return text;
    },
    // Taking a lock is two statements at most, each of whose outcome reads the same whatever the
    // connection's flags: an INSERT ... ON DUPLICATE KEY UPDATE that took over only an expired
    // lock would report 1 affected row both for a new lock and for a live one it left alone under
    // CLIENT_FOUND_ROWS (mysql2's default), so the free case is an INSERT IGNORE (1 row or 0,
    // flags or not; the handle and token are short ASCII, so the only error it can ignore is the
    // duplicate key) and the take-over an UPDATE whose matched rows the store reads from `info`.
    lock: `${limit}INSERT IGNORE INTO ${locks} (handle, token, expires_at) VALUES (?, ?, ${expiry})`,
    takeOverLock: `${limit}UPDATE ${locks} SET token = ?, expires_at = ${expiry} WHERE handle = ? AND expires_at <= ${now}`,
    renewLock: `${limit}UPDATE ${locks} SET expires_at = ${expiry} WHERE handle = ? AND token = ? AND ${live}`,
    releaseLock: `${limit}DELETE FROM ${locks} WHERE handle = ? AND token = ?`,
    // As for sessions: read without locking, then delete by key only what is still expired, so a
    // lock taken over meanwhile stays, and no gap lock blocks a request taking a new one.
    expiredLocks: `${select} handle FROM ${locks} WHERE expires_at <= ${now} LIMIT ?`,
    cleanupLocks: (count) => `${limit}DELETE FROM ${locks} WHERE handle IN (${Array(count).fill('?').join(', ')}) AND expires_at <= ${now}`,
  };
}

/**
 * One multiple-table DELETE: the row under the handle, and, while each row is a live forwarding
 * record, the row it names, for up to {@link FORWARDING_HOPS} moves. Each row is read with its
 * lock (the rows a DELETE removes are read as they are now, not from a snapshot), so a move
 * still committing is waited for and then followed to the new handle. The handle a forwarding
 * record names is converted to the key's character set and collation, so each step is a lookup
 * by primary key.
 */
function destroyStatement(t: string, limit: string, now: string): string {
  const next = (row: string): string =>
    `IF(JSON_TYPE(${row}.data) = 'STRING' AND ${row}.expires_at > ${now}, CONVERT(JSON_UNQUOTE(${row}.data) USING ascii) COLLATE ascii_bin, NULL)`;
  const rows = Array.from({ length: FORWARDING_HOPS + 1 }, (_, i) => `h${i}`);
  const joins = rows.slice(1).map((row, i) => `LEFT JOIN ${t} AS ${row} ON ${row}.handle = ${next(rows[i]!)}`);
  return `${limit}DELETE ${rows.join(', ')} FROM ${t} AS h0
${joins.join('\n')}
WHERE h0.handle = ?`;
}

/**
 * One UPDATE: the row lock serializes parallel patches, and each reads the data the previous one
 * left. Increments of stored numbers add as DOUBLE (`0e0 + value + by`), which is IEEE 754 double
 * addition like JavaScript's; both servers print the sum with the shortest exact digits. Only
 * keys the patch neither clears, unsets nor writes are incremented in SQL (the client folds the
 * others into the written values), so every increment reads the stored `data` column, never an
 * intermediate document. MySQL evaluates SET assignments left to right, so `data` goes first.
 */
function patchStatement(t: string, limit: string, expiry: string, live: string, shape: MysqlPatchShape): string {
  let doc = shape.clear ? 'JSON_OBJECT()' : 'data';
  if (shape.unset > 0) doc = `JSON_REMOVE(${doc}, ${Array(shape.unset).fill('?').join(', ')})`;
  // JSON_EXTRACT(?, '$') turns the JSON text into a JSON value on both servers (MariaDB has no CAST AS JSON).
  if (shape.set > 0) doc = `JSON_SET(${doc}, ${Array(shape.set).fill(`?, JSON_EXTRACT(?, '$')`).join(', ')})`;
  if (shape.incr > 0) {
    const add = `?, 0e0 + IF(JSON_TYPE(JSON_EXTRACT(data, ?)) IN ${NUMBER_TYPES}, JSON_EXTRACT(data, ?), 0) + ?`;
    doc = `JSON_SET(${doc}, ${Array(shape.incr).fill(add).join(', ')})`;
  }
  return `${limit}UPDATE ${t} SET
  data = ${doc},
  touched_at = ?,
  expires_at = ${expiry},
  user_key = IF(?, ?, user_key)
WHERE handle = ? AND ${live}`;
}
