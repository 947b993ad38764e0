/**
 * The SQL of `PostgresStore`, one statement per store operation, for the table `table` (already
 * quoted and schema-qualified by {@link qualifiedName}).
 *
 * Times the core gives (`created_at`, `touched_at`) are kept as epoch milliseconds, exactly as
 * given; the expiry is computed and compared with the database's clock (`now()`), so every
 * instance of the app agrees on it whatever its own clock says.
 */

import { createHash } from 'node:crypto';

/** Quotes one SQL identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."table"`, or `"table"` to follow the connection's `search_path`. */
export function qualifiedName(table: string, schema: string | undefined): string {
  return schema === undefined ? quoteIdentifier(table) : `${quoteIdentifier(schema)}.${quoteIdentifier(table)}`;
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** A `ttlMs` parameter turned into the expiry timestamp. */
const expiry = (param: string): string => `now() + ${param}::float8 * interval '1 millisecond'`;

/**
 * Rows whose `data` is a JSON object are sessions; a row whose `data` is a JSON string is the
 * forwarding record a move leaves under the old handle (the string: the new handle), with no
 * `user_key`. Only `destroy` follows it.
 */
const isSession = `jsonb_typeof(data) = 'object'`;

/** The statements of one table. */
export interface PostgresStatements {
  /** The table and its indexes, created if missing. Run with the simple protocol (no parameters): one implicit transaction. */
  createTable: string;
  /** $1 handle → data (as text), created_at, touched_at, user_key of a live session. */
  get: string;
  /** $1 handle, $2 data (JSON), $3 created_at, $4 touched_at, $5 ttl (ms), $6 user_key: insert or replace. */
  set: string;
  /**
   * $1 from, $2 to, $3 data (JSON), $4 created_at, $5 touched_at, $6 ttl (ms), $7 user_key, $8
   * forwarding ttl (ms): only if `from` is live; the row count says whether it moved.
   */
  move: string;
  /** $1 handle, $2 touched_at, $3 ttl (ms): a live session only. */
  touch: string;
  /**
   * $1 handle, $2 clear, $3 keys to unset, $4 values to set (JSON object), $5 increments (JSON
   * object), $6 touched_at, $7 ttl (ms), $8 whether the user changes, $9 the new user_key: a live
   * session only; the row count says whether it was applied.
   */
  patch: string;
  /** $1 handle → whether it was a forwarding record, and the handle it led to. */
  destroy: string;
  /** $1 user_key → handle, created_at, touched_at of the user's live sessions. */
  listByUser: string;
  /** $1 user_key, $2 handle to keep (or null) → the handles of the user's sessions deleted, and whether each was live. */
  destroyByUser: string;
  /** → n, the number of live sessions. */
  countSessions: string;
  /** $1 batch size: deletes up to that many expired rows, skipping rows other transactions hold. */
  cleanup: string;
  /** $1 handle, $2 token, $3 ttl (ms): takes the session's lock if it is free or expired; the row count says whether it did. */
  lock: string;
  /** $1 handle, $2 token, $3 ttl (ms): extends the lock only while `token` holds it; the row count says whether it did. */
  renewLock: string;
  /** $1 handle, $2 token: frees the lock only while `token` holds it. */
  releaseLock: string;
  /** Deletes expired locks (of holders that died), in the cleanup. */
  cleanupLocks: string;
}

/** The statements for `table` in `schema` (or the `search_path` when `schema` is undefined). */
export function postgresStatements(table: string, schema: string | undefined): PostgresStatements {
  const t = qualifiedName(table, schema);
  // Index names are relative to the table's schema.
  const expiresIndex = quoteIdentifier(`${table}_expires_at_idx`);
  const userIndex = quoteIdentifier(`${table}_user_key_idx`);
  // Session locks (@SessionLock()) live in a table of their own: a lock may exist before its
  // session does, and taking one never touches the sessions' rows.
  const locks = qualifiedName(`${table}_locks`, schema);
  return {
    // CREATE ... IF NOT EXISTS alone can still fail when two instances run it at the same moment
    // (a unique violation in the catalog), so they take turns on an advisory lock named after the table.
    createTable: [
      `SELECT pg_advisory_xact_lock(hashtext(${literal(`nestjs-sessionkit:${t}`)}))`,
      ...(schema === undefined ? [] : [`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`]),
      `CREATE TABLE IF NOT EXISTS ${t} (
  handle     text        PRIMARY KEY,
  data       jsonb       NOT NULL,
  created_at bigint      NOT NULL,
  touched_at bigint      NOT NULL,
  expires_at timestamptz NOT NULL,
  user_key   text
)`,
      `CREATE INDEX IF NOT EXISTS ${expiresIndex} ON ${t} (expires_at)`,
      `CREATE INDEX IF NOT EXISTS ${userIndex} ON ${t} (user_key) WHERE user_key IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS ${locks} (
  handle     text        PRIMARY KEY,
  token      text        NOT NULL,
  expires_at timestamptz NOT NULL
)`,
    ].join(';\n'),
    get: `SELECT data::text AS data, created_at, touched_at, user_key FROM ${t} WHERE handle = $1 AND expires_at > now() AND ${isSession}`,
    set: `INSERT INTO ${t} (handle, data, created_at, touched_at, expires_at, user_key)
VALUES ($1, $2::jsonb, $3, $4, ${expiry('$5')}, $6)
ON CONFLICT (handle) DO UPDATE SET data = EXCLUDED.data, created_at = EXCLUDED.created_at,
  touched_at = EXCLUDED.touched_at, expires_at = EXCLUDED.expires_at, user_key = EXCLUDED.user_key`,
    // Only if the old row is still a live session: the row itself takes the new handle (an
    // UPDATE, so a DELETE by user_key that waited for its lock follows it to the new version and
    // deletes it there), and a forwarding row takes the old handle: one statement, so a logout or
    // destroyByUser that lands meanwhile is never undone by a regenerate().
    move: `WITH moved AS (
  UPDATE ${t} SET handle = $2, data = $3::jsonb, created_at = $4, touched_at = $5, expires_at = ${expiry('$6')}, user_key = $7
  WHERE handle = $1 AND expires_at > now() AND ${isSession}
  RETURNING 1
)
INSERT INTO ${t} (handle, data, created_at, touched_at, expires_at, user_key)
SELECT $1, to_jsonb($2::text), $4, $5, ${expiry('$8')}, NULL FROM moved`,
    touch: `UPDATE ${t} SET touched_at = $2, expires_at = ${expiry('$3')} WHERE handle = $1 AND expires_at > now() AND ${isSession}`,
    // One UPDATE: the row lock serializes parallel patches, and each reads the data the previous
    // one left. Increments add as float8, which is IEEE 754 double addition like JavaScript's,
    // and to_jsonb prints the sum with the shortest exact digits (PostgreSQL 12+ with the default
    // extra_float_digits), so the stored number is the one JavaScript would have computed.
    patch: `UPDATE ${t} SET
  data = (
    SELECT b.v || COALESCE((
      SELECT jsonb_object_agg(i.key, to_jsonb(
        CASE WHEN jsonb_typeof(b.v -> i.key) = 'number' THEN (b.v ->> i.key)::float8 ELSE 0 END + i.value::float8))
      FROM jsonb_each_text($5::jsonb) AS i
    ), '{}'::jsonb)
    FROM (SELECT (CASE WHEN $2::boolean THEN '{}'::jsonb ELSE data END - $3::text[]) || $4::jsonb AS v) AS b
  ),
  touched_at = $6,
  expires_at = ${expiry('$7')},
  user_key = CASE WHEN $8::boolean THEN $9::text ELSE user_key END
WHERE handle = $1 AND expires_at > now() AND ${isSession}`,
    destroy: `DELETE FROM ${t} WHERE handle = $1 RETURNING jsonb_typeof(data) = 'string' AS forward, data #>> '{}' AS moved_to`,
    listByUser: `SELECT handle, created_at, touched_at FROM ${t} WHERE user_key = $1 AND expires_at > now()`,
    // One statement: a move committed meanwhile is followed to the row's new handle (see move).
    destroyByUser: `DELETE FROM ${t} WHERE user_key = $1 AND handle IS DISTINCT FROM $2 AND ${isSession}
RETURNING handle, expires_at > now() AS live`,
    countSessions: `SELECT count(*) AS n FROM ${t} WHERE expires_at > now() AND ${isSession}`,
    cleanup: `DELETE FROM ${t} WHERE handle IN (
  SELECT handle FROM ${t} WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED
)`,
    // A live lock blocks the insert; an expired one (its holder died) is taken over in the same statement.
    lock: `INSERT INTO ${locks} AS l (handle, token, expires_at) VALUES ($1, $2, ${expiry('$3')})
ON CONFLICT (handle) DO UPDATE SET token = EXCLUDED.token, expires_at = EXCLUDED.expires_at
WHERE l.expires_at <= now()`,
    renewLock: `UPDATE ${locks} SET expires_at = ${expiry('$3')} WHERE handle = $1 AND token = $2 AND expires_at > now()`,
    releaseLock: `DELETE FROM ${locks} WHERE handle = $1 AND token = $2`,
    cleanupLocks: `DELETE FROM ${locks} WHERE expires_at <= now()`,
  };
}

/**
 * The name `statement` is prepared under on each connection: derived from its text, so stores on
 * different tables sharing a pool never clash, and within PostgreSQL's 63-byte limit.
 */
export function statementName(statement: string): string {
  return `sessionkit_${createHash('sha1').update(statement).digest('hex').slice(0, 24)}`;
}
