import { readFileSync, readdirSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { createPool as createCallbackPool } from 'mysql2';
import type { Pool } from 'mysql2/promise';
import { MysqlStore, type MysqlPool, type MysqlPoolConnection } from './mysql.store.js';
import { SessionError } from '../core/session.errors.js';
import { describeSessionStoreContract } from '../testing/index.js';
import { newHandle, patchOf, recordOf } from '../testing/session-store.contract.js';
import { newSessionId, sessionHandle } from '../http/session-cookie.js';
import { MYSQL_URL, dropTables, dumpMysqlTable, newMysqlPool, testTable } from '../../test/support/mysql.js';
import { freePort, sleep } from '../../test/support/redis.js';
import { expectInstancesTakeTurns } from '../../test/support/lock-instances.js';

// Runs against a real MariaDB or MySQL (MYSQL_URL, default the local database `test`), each suite with tables of its own.
const HOUR = 3_600_000;
const contractTable = testTable('contract');
const tables = [contractTable];
/** A table of this file's own, dropped after it. */
const ownTable = (suite: string): string => {
  const table = testTable(suite);
  tables.push(table);
  return table;
};
let pool: Pool;

beforeAll(() => {
  pool = newMysqlPool();
});
afterAll(async () => {
  try {
    await dropTables(pool, ...tables);
  } finally {
    await pool.end();
  }
});

describeSessionStoreContract(`MysqlStore (${MYSQL_URL})`, () => new MysqlStore({ pool, table: contractTable, createTable: true }), {
  dump: () => dumpMysqlTable(pool, contractTable),
});

/** The rows of a lock table: handle, token, and milliseconds left. */
async function lockRows(table: string): Promise<{ handle: string; token: string; left_ms: number }[]> {
  const [rows] = await pool.query(`SELECT handle, token, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), expires_at) / 1000 AS left_ms FROM \`${table}_locks\` ORDER BY handle`);
  return (rows as { handle: string; token: string; left_ms: unknown }[]).map((row) => ({ ...row, left_ms: Number(row.left_ms) }));
}

describe('MysqlStore session locks', () => {
  it('has lock(), so the contract kit above checks it (its lock tests pass trivially for stores without one)', () => {
    expect(typeof new MysqlStore({ pool, table: contractTable }).lock).toBe('function');
  });

  it('lets holders on three instances (three pools) in one at a time', async () => {
    const table = ownTable('lock_turns');
    const others = [newMysqlPool({ connectionLimit: 3 }), newMysqlPool({ connectionLimit: 3 })];
    try {
      await expectInstancesTakeTurns([pool, ...others].map((p) => new MysqlStore({ pool: p, table, createTable: true })));
    } finally {
      for (const other of others) await other.end();
    }
  });

  it('two instances taking a lock freed under them: the InnoDB deadlock of their inserts is a busy try, not a failure', async () => {
    const table = ownTable('lock_deadlock');
    const [a, b, c] = Array.from({ length: 3 }, () => new MysqlStore({ pool, table, createTable: true }));
    const handle = newHandle();
    const first = await a!.lock(handle, { ttlMs: HOUR, waitMs: 0 });
    // A release in flight: the row is deleted, its transaction not yet committed.
    const releasing = await pool.getConnection();
    try {
      await releasing.query('START TRANSACTION');
      await releasing.query(`DELETE FROM \`${table}_locks\` WHERE handle = ?`, [handle]);
      const tries = [b!, c!].map((store) => store.lock(handle, { ttlMs: HOUR, waitMs: 0 }));
      // Both inserts wait for the row's lock; once it is gone, each needs what the other holds.
      await sleep(300);
      await releasing.query('COMMIT');
      const leases = await Promise.all(tries);
      expect(leases.filter((lease) => lease !== undefined)).toHaveLength(1);
    } finally {
      releasing.release();
    }
    expect(await lockRows(table)).toHaveLength(1);
    await first!.release();
    expect(await lockRows(table)).toHaveLength(1);
  });

  it('keeps one row per held lock, with a random token and an expiry by the database clock; renew and release check the token', async () => {
    const table = ownTable('lock_rows');
    const store = new MysqlStore({ pool, table, createTable: true });
    const handle = newHandle();
    const lease = (await store.lock(handle, { ttlMs: 60_000, waitMs: 0 }))!;
    const [row] = await lockRows(table);
    expect(row).toEqual({ handle, token: expect.stringMatching(/^[\w-]{22}$/), left_ms: expect.any(Number) });
    expect(row!.left_ms).toBeGreaterThan(55_000);
    expect(row!.left_ms).toBeLessThanOrEqual(60_000);
    expect(await lease.renew(120_000)).toBe(true);
    // Renewed within the same millisecond: the row is unchanged, and still found.
    expect(await lease.renew(120_000)).toBe(true);
    expect((await lockRows(table))[0]!.left_ms).toBeGreaterThan(115_000);
    // Another token (a holder whose lock was taken over) changes nothing.
    await pool.query(`UPDATE \`${table}_locks\` SET token = 'someone-else' WHERE handle = ?`, [handle]);
    expect(await lease.renew(HOUR)).toBe(false);
    await lease.release();
    expect((await lockRows(table)).map((r) => [r.handle, r.token])).toEqual([[handle, 'someone-else']]);
  });

  it('takes over the lock of a holder that died, and cleanup deletes dead locks only', async () => {
    const table = ownTable('lock_dead');
    const store = new MysqlStore({ pool, table, createTable: true });
    expect(await store.lock(newHandle(), { ttlMs: 50, waitMs: 0 })).toBeDefined();
    const handle = newHandle();
    await store.lock(handle, { ttlMs: 50, waitMs: 0 });
    // Another instance (its own local queue) sees the row, then takes it over once expired.
    const other = new MysqlStore({ pool, table });
    const next = await other.lock(handle, { ttlMs: 60_000, waitMs: 2_000 });
    expect(next).toBeDefined();
    await sleep(60);
    await store.cleanup();
    expect((await lockRows(table)).map((r) => r.handle)).toEqual([handle]);
    await next!.release();
    expect(await lockRows(table)).toEqual([]);
  });

  it.each([
    ['with CLIENT_FOUND_ROWS (mysql2’s default)', []],
    ['without CLIENT_FOUND_ROWS', ['-FOUND_ROWS']],
  ])('reads the same outcome of every statement %s', async (_, flags) => {
    const table = ownTable('lock_flags');
    const flagged = newMysqlPool({ connectionLimit: 2, flags });
    try {
      const recorder = recording(flagged);
      const store = new MysqlStore({ pool: recorder.pool, table, createTable: true });
      await store.init();
      const sent = async <T>(operation: () => Promise<T>): Promise<[T, string[]]> => {
        recorder.statements.length = 0;
        const result = await operation();
        return [result, recorder.statements.map(verb)];
      };
      const handle = newHandle();
      // Free: one INSERT.
      const [first, taking] = await sent(() => store.lock(handle, { ttlMs: 300, waitMs: 0 }));
      expect(first).toBeDefined();
      expect(taking).toEqual(['INSERT']);
      // Held (a live row): the INSERT writes nothing, the take-over matches nothing.
      const [busy, tried] = await sent(() => new MysqlStore({ pool: recorder.pool, table }).lock(handle, { ttlMs: HOUR, waitMs: 0 }));
      expect(busy).toBeUndefined();
      expect(tried).toEqual(['INSERT', 'UPDATE']);
      const [renewed, renewing] = await sent(() => first!.renew(300));
      expect(renewed).toBe(true);
      expect(renewing).toEqual(['UPDATE']);
      // Expired: taken over by the UPDATE, and the old holder has nothing left.
      await sleep(350);
      const [next, takingOver] = await sent(() => new MysqlStore({ pool: recorder.pool, table }).lock(handle, { ttlMs: HOUR, waitMs: 0 }));
      expect(next).toBeDefined();
      expect(takingOver).toEqual(['INSERT', 'UPDATE']);
      expect(await first!.renew(HOUR)).toBe(false);
      await first!.release();
      expect(await lockRows(table)).toHaveLength(1);
      const [, releasing] = await sent(() => next!.release());
      expect(releasing).toEqual(['DELETE']);
      expect(await lockRows(table)).toEqual([]);
      // Every statement is bounded in the server.
      for (const sql of recorder.statements) expect(sql).toMatch(/^\/\*M! SET STATEMENT max_statement_time=2\.000 FOR \*\//);
    } finally {
      await flagged.end();
    }
  });

  it('without createTable and without the lock table, says which table is missing; cleanup does without it', async () => {
    const table = ownTable('lock_missing');
    await new MysqlStore({ pool, table, createTable: true }).init();
    await pool.query(`DROP TABLE \`${table}_locks\``);
    const store = new MysqlStore({ pool, table });
    const failure = store.lock(newHandle(), { ttlMs: HOUR, waitMs: 0 });
    await expect(failure).rejects.toThrow(new RegExp(`table ${table}_locks does not exist.*createTable: true`));
    await expect(failure).rejects.toBeInstanceOf(SessionError);
    await store.set(newHandle(), recordOf({ a: 1 }), 1);
    await sleep(20);
    expect(await store.cleanup()).toBe(1);
  });
});

/** The pool, with every statement the store sends recorded. */
function recording(target: Pool): { pool: MysqlPool; statements: string[] } {
  const statements: string[] = [];
  const wrapped: MysqlPool = {
    async getConnection() {
      const connection = await target.getConnection();
      return {
        query: (options: { sql: string; timeout?: number }, values?: unknown[]) => {
          statements.push(options.sql);
          return connection.query(options, values) as Promise<[unknown, unknown]>;
        },
        release: () => connection.release(),
        destroy: () => connection.destroy(),
      } satisfies MysqlPoolConnection;
    },
  };
  return { pool: wrapped, statements };
}

/** The verb of a statement, past the MariaDB-only `SET STATEMENT ... FOR` comment. */
const verb = (sql: string): string => sql.replace(/^\/\*M!.*?\*\/\s*/s, '').split(/\s+/)[0]!.toUpperCase();
/** Statements that start or end a transaction, which need no time limit. */
const control = (sql: string): boolean => ['START', 'COMMIT', 'ROLLBACK'].includes(verb(sql));

describe('MysqlStore: statements and table', () => {
  const table = ownTable('rt');
  let store: MysqlStore;
  let statements: string[];

  beforeAll(async () => {
    const recorder = recording(pool);
    statements = recorder.statements;
    store = new MysqlStore({ pool: recorder.pool, table, createTable: true });
    await store.init();
  });

  async function sent(operation: () => Promise<unknown>): Promise<string[]> {
    statements.length = 0;
    await operation();
    return statements.map(verb);
  }

  const rowOf = async (handle: string): Promise<Record<string, unknown> | undefined> => {
    const [rows] = await pool.query(
      `SELECT handle, CAST(data AS CHAR) AS data, created_at, touched_at, user_key, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3), expires_at) / 1000 AS left_ms FROM \`${table}\` WHERE handle = ?`,
      [handle],
    );
    const row = (rows as Record<string, unknown>[])[0];
    return row === undefined ? undefined : { ...row, data: JSON.parse(String(row.data)) };
  };

  it('sends one statement per get, set, patch, touch, destroy and listByUser; a move is one transaction of two', async () => {
    const handle = newHandle();
    const record = recordOf({ userId: 'rt', n: 1 }, 'rt');
    expect(await sent(() => store.set(handle, record, HOUR))).toEqual(['INSERT']);
    expect(await sent(() => store.get(handle))).toEqual(['SELECT']);
    expect(await sent(() => store.patch(handle, patchOf({ set: { a: 1 }, unset: ['n'], incr: { c: 1, a: 2 }, user: 'rt2' }), HOUR))).toEqual(['UPDATE']);
    expect(await sent(() => store.patch(handle, patchOf({ clear: true }), HOUR))).toEqual(['UPDATE']);
    expect(await sent(() => store.touch(handle, record, HOUR))).toEqual(['UPDATE']);
    expect(await sent(() => store.patch(newHandle(), patchOf({ set: { a: 1 } }), HOUR))).toEqual(['UPDATE']);
    expect(await sent(() => store.listByUser('rt2'))).toEqual(['SELECT']);
    const moved = newHandle();
    const all: string[] = [];
    const moveSent = await sent(() => store.move(handle, moved, record, HOUR));
    all.push(...statements);
    expect(moveSent).toEqual(['START', 'UPDATE', 'INSERT', 'COMMIT']);
    // A move of a session that is gone stops after its first statement.
    expect(await sent(() => store.move(handle, newHandle(), record, HOUR))).toEqual(['START', 'UPDATE', 'COMMIT']);
    expect(await sent(() => store.destroy(handle))).toEqual(['DELETE']);
    all.push(...statements);
    expect(await rowOf(moved)).toBeUndefined();
    // Every statement is bounded in the server: MariaDB's SET STATEMENT, and MySQL's hint on reads.
    for (const sql of all.filter((s) => !control(s))) expect(sql).toMatch(/^\/\*M! SET STATEMENT max_statement_time=2\.000 FOR \*\//);
    statements.length = 0;
    await store.get(handle);
    expect(statements[0]).toContain('/*+ MAX_EXECUTION_TIME(2000) */');
  });

  it('keeps one row per session: the handle, never the id; times as given; expiry by the database clock', async () => {
    const id = newSessionId();
    const handle = sessionHandle(id);
    const record = recordOf({ userId: 'rowan', cart: ['x'] }, 'rowan');
    await store.set(handle, record, 60_000);
    await store.patch(handle, patchOf({ set: { step: 2 }, incr: { views: 1 }, touchedAt: record.touchedAt + 1 }), 120_000);
    const row = (await rowOf(handle))!;
    expect(row.handle).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(id);
    expect(row.data).toEqual({ userId: 'rowan', cart: ['x'], step: 2, views: 1 });
    expect(Number(row.created_at)).toBe(record.createdAt);
    expect(Number(row.touched_at)).toBe(record.touchedAt + 1);
    expect(row.user_key).toBe('rowan');
    expect(Number(row.left_ms)).toBeGreaterThan(115_000);
    expect(Number(row.left_ms)).toBeLessThanOrEqual(120_000);
  });

  it('patches keys of every shape in place: empty, dotted, quoted, with backslashes, non-ASCII, __proto__', async () => {
    const handle = newHandle();
    const odd = ['', '.dot', 'a"b', 'back\\slash', "it's", 'user:1', '$.x', '[0]', 'Zoë 🍪', 'line\nbreak', '__proto__', '*'];
    const start = JSON.parse(JSON.stringify(Object.fromEntries(odd.map((k, i) => [k, i])))) as Record<string, unknown>;
    await store.set(handle, recordOf(start), HOUR);
    const set = JSON.parse(JSON.stringify(Object.fromEntries(odd.map((k) => [k, { k }])))) as Record<string, unknown>;
    expect(await store.patch(handle, patchOf({ set }), HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual(set);
    expect(await store.patch(handle, patchOf({ unset: odd.slice(0, 6) }), HOUR)).toBe(true);
    const left = { ...set };
    for (const key of odd.slice(0, 6)) delete left[key];
    expect(Object.keys((await store.get(handle))!.data).sort()).toEqual(Object.keys(left).sort());
    expect(await store.patch(handle, patchOf({ incr: Object.fromEntries(odd.map((k) => [k, 2])) }), HOUR)).toBe(true);
    const data = (await store.get(handle))!.data;
    expect(Object.keys(data).sort()).toEqual([...odd].sort());
    for (const key of odd) expect(data[key]).toBe(2);
    expect((await rowOf(handle))!.data).toEqual(data);
  });

  it('adds increments to stored numbers in SQL, and to keys the same patch writes, clears or removes in the client, as JavaScript would', async () => {
    const handle = newHandle();
    await store.set(handle, recordOf({ kept: 0.1, written: 'x', removed: 5, nested: { n: 1 } }), HOUR);
    expect(await store.patch(handle, patchOf({ unset: ['removed'], set: { written: 0.2 }, incr: { kept: 0.2, written: 0.1, removed: 1.5, fresh: -2, nested: 1 } }), HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual({ kept: 0.1 + 0.2, written: 0.2 + 0.1, removed: 1.5, fresh: -2, nested: 1 });
    expect(await store.patch(handle, patchOf({ clear: true, incr: { kept: 3 } }), HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual({ kept: 3 });
  });

  it('enforces expiry in SQL: an expired row still in the table is never read, changed, moved or listed', async () => {
    const handle = newHandle();
    await store.set(handle, recordOf({ a: 1 }, 'stale'), HOUR);
    await pool.query(`UPDATE \`${table}\` SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE handle = ?`, [handle]);
    expect(await store.get(handle)).toBeUndefined();
    expect(await store.patch(handle, patchOf({ set: { b: 2 } }), HOUR)).toBe(false);
    await store.touch(handle, recordOf({}, 'stale'), HOUR);
    expect(await store.move(handle, newHandle(), recordOf({ a: 1 }, 'stale'), HOUR)).toBe(false);
    expect(await store.listByUser('stale')).toEqual([]);
    const [rows] = await pool.query(`SELECT CAST(data AS CHAR) AS data, expires_at < UTC_TIMESTAMP(3) AS expired FROM \`${table}\` WHERE handle = ?`, [handle]);
    expect(rows).toEqual([{ data: '{"a":1}', expired: 1 }]);
  });

  it('counts live sessions only (for the session.live gauge): no expired row, no forwarding record', async () => {
    const before = await store.countSessions();
    const [live, stale, from] = [newHandle(), newHandle(), newHandle()];
    await store.set(live, recordOf({ a: 1 }), HOUR);
    await store.set(stale, recordOf({ a: 1 }), HOUR);
    await store.set(from, recordOf({ a: 2 }), HOUR);
    await pool.query(`UPDATE \`${table}\` SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE handle = ?`, [stale]);
    expect(await store.move(from, newHandle(), recordOf({ a: 2 }), HOUR)).toBe(true);
    expect(await store.countSessions()).toBe(before + 2);
  });

  it('answers a patch or touch that changes nothing as applied (rows matched, not rows changed)', async () => {
    const handle = newHandle();
    const record = recordOf({ a: 1 });
    await store.set(handle, record, HOUR);
    const same = patchOf({ set: { a: 1 }, touchedAt: record.touchedAt });
    const [first, second] = await Promise.all([store.patch(handle, same, HOUR), store.patch(handle, same, HOUR)]);
    expect([first, second]).toEqual([true, true]);
  });

  it('a move leaves the old row as a forwarding record: the new handle as a JSON string, no user, for forwardingTtl', async () => {
    const [from, to] = [newHandle(), newHandle()];
    const record = recordOf({ userId: 'fw', n: 1 }, 'fw');
    await store.set(from, recordOf({ n: 1 }), HOUR);
    expect(store.forwardingTtl).toBe(10_000);
    expect(await store.move(from, to, record, HOUR)).toBe(true);
    const forwarding = (await rowOf(from))!;
    expect(forwarding).toMatchObject({ data: to, user_key: null });
    expect(Number(forwarding.left_ms)).toBeGreaterThan(5_000);
    expect(Number(forwarding.left_ms)).toBeLessThanOrEqual(10_000);
    expect(await rowOf(to)).toMatchObject({ data: { userId: 'fw', n: 1 }, user_key: 'fw', created_at: record.createdAt, touched_at: record.touchedAt });
    expect(await store.listByUser('fw')).toEqual([{ handle: to, createdAt: record.createdAt, touchedAt: record.touchedAt }]);
  });

  it('destroy follows a chain of moves in one statement, 8 moves at most, and no expired forwarding record', async () => {
    const chain = Array.from({ length: 10 }, () => newHandle());
    await store.set(chain[0]!, recordOf({ step: 0 }), HOUR);
    for (let i = 1; i < chain.length; i++) expect(await store.move(chain[i - 1]!, chain[i]!, recordOf({ step: i }), HOUR)).toBe(true);
    // 9 moves: through the second handle, 8 hops reach the session.
    statements.length = 0;
    await store.destroy(chain[1]!);
    expect(statements.map(verb)).toEqual(['DELETE']);
    expect(await store.get(chain[9]!)).toBeUndefined();
    for (const handle of chain.slice(1)) expect(await rowOf(handle)).toBeUndefined();
    expect(await rowOf(chain[0]!)).toBeDefined();

    const far = Array.from({ length: 10 }, () => newHandle());
    await store.set(far[0]!, recordOf({ step: 0 }), HOUR);
    for (let i = 1; i < far.length; i++) await store.move(far[i - 1]!, far[i]!, recordOf({ step: i }), HOUR);
    // From the first handle, the session is 9 moves away: out of reach, it stays.
    await store.destroy(far[0]!);
    expect((await store.get(far[9]!))!.data).toEqual({ step: 9 });
    for (const handle of far.slice(1, 9)) expect(await rowOf(handle)).toBeUndefined();

    // Past forwardingTtl, the old handle leads nowhere: destroy removes only the expired record.
    const [old, moved] = [newHandle(), newHandle()];
    await store.set(old, recordOf({ a: 1 }), HOUR);
    await store.move(old, moved, recordOf({ a: 1 }), HOUR);
    await pool.query(`UPDATE \`${table}\` SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE handle = ?`, [old]);
    await store.destroy(old);
    expect(await rowOf(old)).toBeUndefined();
    expect((await store.get(moved))!.data).toEqual({ a: 1 });
  });

  it('a move and a destroy of the old handle at the same moment: the session is gone either way (200 trials)', async () => {
    const survivors: string[] = [];
    let moved = 0;
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const [from, to] = [newHandle(), newHandle()];
          await store.set(from, recordOf({ userId: 'racer' }, 'racer'), HOUR);
          const [applied] = await Promise.all([store.move(from, to, recordOf({ userId: 'racer', moved: true }, 'racer'), HOUR), store.destroy(from)]);
          if (applied) moved++;
          if ((await rowOf(to)) !== undefined || (await rowOf(from)) !== undefined) survivors.push(to);
        }),
      );
    }
    expect(survivors).toEqual([]);
    // Some moves must have won their race, or the destroy never had a forwarding record to follow.
    expect(moved).toBeGreaterThan(0);
  });

  it('a move that fails half way changes nothing, and leaves no transaction open on the pooled connection', async () => {
    const single = newMysqlPool({ connectionLimit: 1 });
    try {
      const lone = new MysqlStore({ pool: single, table });
      const from = newHandle();
      await lone.set(from, recordOf({ a: 1 }, 'half'), HOUR);
      // A handle longer than the key column: the second statement fails after the first applied.
      await expect(lone.move(from, 'x'.repeat(129), recordOf({ a: 2 }, 'half'), HOUR)).rejects.toThrow(/MysqlStore: move failed/);
      expect(await rowOf(from)).toMatchObject({ data: { a: 1 }, user_key: 'half' });
      // The same connection, back in the pool: what it writes now is committed, and seen elsewhere.
      const other = newHandle();
      await lone.set(other, recordOf({ b: 1 }), HOUR);
      expect(await rowOf(other)).toMatchObject({ data: { b: 1 } });
      expect(await lone.move(from, newHandle(), recordOf({ a: 3 }, 'half'), HOUR)).toBe(true);
    } finally {
      await single.end();
    }
  });

  it('refuses a user key longer than the indexed column, writing nothing', async () => {
    const handle = newHandle();
    await expect(store.set(handle, recordOf({ a: 1 }, 'u'.repeat(513)), HOUR)).rejects.toThrow(/user key is 513 characters.*at most 512/);
    expect(await rowOf(handle)).toBeUndefined();
    await store.set(handle, recordOf({ a: 1 }, '🍪'.repeat(512)), HOUR);
    expect((await store.get(handle))!.user).toBe('🍪'.repeat(512));
    // A move to such a key sends nothing: the session stays where it was.
    statements.length = 0;
    await expect(store.move(handle, newHandle(), recordOf({ a: 1 }, 'u'.repeat(513)), HOUR)).rejects.toThrow(/user key is 513 characters/);
    expect(statements).toEqual([]);
    expect((await store.get(handle))!.data).toEqual({ a: 1 });
  });

  it('creates the table and its indexes once, even when several instances start at once', async () => {
    const fresh = ownTable('create');
    const stores = Array.from({ length: 6 }, () => new MysqlStore({ pool, table: fresh, createTable: true }));
    await Promise.all(stores.map((s) => s.init()));
    // An operation before any init() creates it too; later ones do not try again.
    await Promise.all(stores.map((s) => s.set(newHandle(), recordOf({ ok: true }), HOUR)));
    const [columns] = await pool.query(
      `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [fresh],
    );
    expect((columns as { name: string }[]).map((c) => c.name)).toEqual(['handle', 'data', 'created_at', 'touched_at', 'expires_at', 'user_key']);
    const [indexes] = await pool.query(
      `SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME`,
      [fresh],
    );
    expect((indexes as { name: string }[]).map((i) => i.name)).toEqual(['expires_at_idx', 'PRIMARY', 'user_key_idx']);
    const [count] = await pool.query(`SELECT COUNT(*) AS n FROM \`${fresh}\``);
    expect(count).toEqual([{ n: 6 }]);
    const [engine] = await pool.query(`SELECT ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, [fresh]);
    expect(engine).toEqual([{ engine: 'InnoDB' }]);
    const [lockColumns] = await pool.query(
      `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [`${fresh}_locks`],
    );
    expect(lockColumns).toEqual([
      { name: 'handle', type: 'varchar(128)' },
      { name: 'token', type: 'varchar(64)' },
      { name: 'expires_at', type: 'datetime(3)' },
    ]);
  });

  it('the README’s DDL makes the same tables as createTable', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## MySQL / MariaDB'));
    const ddl = /```sql\n([\s\S]*?)```/.exec(section)![1]!;
    const documented = ownTable('readme');
    const created = ownTable('created');
    tables.push(`${documented}_locks`, `${created}_locks`);
    for (const statement of ddl.split(';').filter((text) => text.trim() !== '')) {
      await pool.query(statement.replace(/\bsessions(_locks)?\b/g, (_, locks: string | undefined) => `\`${documented}${locks ?? ''}\``));
    }
    await new MysqlStore({ pool, table: created, createTable: true }).init();
    const shape = async (table: string): Promise<string> => {
      const [[row]] = (await pool.query(`SHOW CREATE TABLE \`${table}\``)) as unknown as [[Record<string, string>]];
      return row!['Create Table']!.replace(table, 'T');
    };
    expect(await shape(documented)).toBe(await shape(created));
    expect(await shape(`${documented}_locks`)).toBe(await shape(`${created}_locks`));
  });

  it('without createTable, says which table is missing', async () => {
    const missing = new MysqlStore({ pool, table: 'nowhere_to_be_found' });
    const failure = missing.get(newHandle());
    await expect(failure).rejects.toThrow(/table nowhere_to_be_found does not exist.*createTable: true/);
    await expect(failure).rejects.toBeInstanceOf(SessionError);
  });

  it('takes the database from the option when given', async () => {
    const named = ownTable('db');
    const [[{ db }]] = (await pool.query('SELECT DATABASE() AS db')) as unknown as [[{ db: string }]];
    const store = new MysqlStore({ pool, database: db, table: named, createTable: true });
    const handle = newHandle();
    await store.set(handle, recordOf({ here: true }), HOUR);
    const [rows] = await pool.query(`SELECT COUNT(*) AS n FROM \`${db}\`.\`${named}\``);
    expect(rows).toEqual([{ n: 1 }]);
  });
});

describe('MysqlStore: cleanup', () => {
  const table = ownTable('cleanup');

  async function expiredRows(n: number): Promise<void> {
    const rows = Array.from({ length: n }, () => [newHandle()]);
    for (let i = 0; i < rows.length; i += 1_000) {
      await pool.query(`INSERT INTO \`${table}\` (handle, data, created_at, touched_at, expires_at) SELECT v.h, '{}', 0, 0, UTC_TIMESTAMP(3) - INTERVAL 1 MINUTE FROM (SELECT ? AS h ${'UNION ALL SELECT ? '.repeat(Math.min(1_000, n - i) - 1)}) AS v`, rows.slice(i, i + 1_000).flat());
    }
  }
  const liveRows = async (): Promise<number> => Number(((await pool.query(`SELECT COUNT(*) AS n FROM \`${table}\` WHERE expires_at > UTC_TIMESTAMP(3)`)) as unknown as [[{ n: number }]])[0][0].n);
  const rowCount = async (): Promise<number> => Number(((await pool.query(`SELECT COUNT(*) AS n FROM \`${table}\``)) as unknown as [[{ n: number }]])[0][0].n);

  it('deletes expired rows in batches and keeps live ones; several cleaners at once share the work', async () => {
    const make = (): MysqlStore => new MysqlStore({ pool, table, createTable: true, cleanupBatchSize: 100 });
    const store = make();
    await store.init();
    const live = newHandle();
    await store.set(live, recordOf({ live: true }), HOUR);
    await expiredRows(1_050);
    expect(await store.cleanup()).toBe(1_050);
    expect(await rowCount()).toBe(1);

    await expiredRows(2_000);
    const cleaners = [make(), make(), make()];
    const counts = await Promise.all(cleaners.map((s) => s.cleanup()));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2_000);
    expect(await rowCount()).toBe(1);
    expect(await store.get(live)).toEqual(expect.objectContaining({ data: { live: true } }));
  });

  it('never waits for a live session a request is saving, and keeps a row written again meanwhile', async () => {
    const store = new MysqlStore({ pool, table, createTable: true, statementTimeout: 500 });
    await store.init();
    await store.cleanup();
    // The live session with the earliest expiry: the first row past the expired ones in the expires_at index.
    const live = newHandle();
    await store.set(live, recordOf({ live: true }), 5_000);
    await expiredRows(20);
    const holder = await pool.getConnection();
    try {
      // A request saving that session, still in its transaction (it changes the expires_at index).
      await holder.query('START TRANSACTION');
      await holder.query(`UPDATE \`${table}\` SET expires_at = expires_at + INTERVAL 1 SECOND WHERE handle = ?`, [live]);
      expect(await store.cleanup()).toBe(20);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    expect(await rowCount()).toBe(await liveRows());
    expect((await store.get(live))!.data).toEqual({ live: true });

    // Found expired by the batch's read, written again before its delete: it stays.
    const extended = newHandle();
    await store.set(extended, recordOf({ extended: true }), HOUR);
    await pool.query(`UPDATE \`${table}\` SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE handle = ?`, [extended]);
    const statements: string[] = [];
    const recorder = recording(pool);
    const slow: MysqlPool = {
      async getConnection() {
        const connection = await recorder.pool.getConnection();
        return {
          ...connection,
          query: async (options: { sql: string; timeout?: number }, values?: unknown[]) => {
            statements.push(verb(options.sql));
            // Between the read and the delete, the session is written again.
            if (verb(options.sql) === 'DELETE') await store.set(extended, recordOf({ extended: true }), HOUR);
            return connection.query(options, values);
          },
        };
      },
    };
    expect(await new MysqlStore({ pool: slow, table }).cleanup()).toBe(0);
    // The sessions' batch, then the lock table's read (no dead lock: no delete).
    expect(statements).toEqual(['SELECT', 'DELETE', 'SELECT']);
    expect((await store.get(extended))!.data).toEqual({ extended: true });
  });

  it('stops after the current batch once the store is closed', async () => {
    const store = new MysqlStore({ pool, table, createTable: true, cleanupBatchSize: 50 });
    await store.init();
    const before = await rowCount();
    await expiredRows(10_000);
    const running = store.cleanup();
    // Close once the first batches are through.
    while ((await rowCount()) > before + 9_900) await new Promise((resolve) => setTimeout(resolve, 5));
    await store.close();
    const deleted = await running;
    expect(deleted).toBeGreaterThanOrEqual(100);
    expect(deleted).toBeLessThan(10_000);
    expect(await rowCount()).toBe(before + 10_000 - deleted);
    await new MysqlStore({ pool, table }).cleanup();
  });
});

describe('MysqlStore: options and failures', () => {
  it('refuses bad options with a message saying what to pass', () => {
    expect(() => new MysqlStore({} as never)).toThrow(/pool.*mysql2 pool/);
    expect(() => new MysqlStore({ pool: { query() {} } as never })).toThrow(SessionError);
    expect(() => new MysqlStore({ pool, table: '' })).toThrow(/table/);
    expect(() => new MysqlStore({ pool, table: 'x'.repeat(59) })).toThrow(/table.*58 characters.*<table>_locks/);
    expect(new MysqlStore({ pool, table: 'x'.repeat(58) })).toBeInstanceOf(MysqlStore);
    expect(() => new MysqlStore({ pool, database: 'x'.repeat(65) })).toThrow(/database.*64/);
    expect(() => new MysqlStore({ pool, database: 3 as never })).toThrow(/database/);
    expect(() => new MysqlStore({ pool, createTable: 'yes' as never })).toThrow(/createTable/);
    expect(() => new MysqlStore({ pool, statementTimeout: 0 })).toThrow(/statementTimeout/);
    expect(() => new MysqlStore({ pool, cleanupInterval: -1 })).toThrow(/cleanupInterval/);
    expect(() => new MysqlStore({ pool, cleanupBatchSize: 1.5 })).toThrow(/cleanupBatchSize/);
    expect(new MysqlStore({ pool, cleanupInterval: 0 }).cleanupInterval).toBe(0);
    expect(new MysqlStore({ pool }).cleanupInterval).toBe(300_000);
  });

  it('quotes names: a table name with backticks, quotes and spaces is just a name', async () => {
    const odd = ownTable('odd').slice(0, 40) + ' `q` "x"; drop';
    tables.push(odd);
    const store = new MysqlStore({ pool, table: odd, createTable: true });
    const handle = newHandle();
    await store.set(handle, recordOf({ ok: 1 }), HOUR);
    expect((await store.get(handle))!.data).toEqual({ ok: 1 });
    const [rows] = await pool.query(`SELECT COUNT(*) AS n FROM \`${odd.replace(/`/g, '``')}\``);
    expect(rows).toEqual([{ n: 1 }]);
  });

  it('accepts the callback API’s pool, through its promise()', async () => {
    const table = ownTable('callback');
    const callbackPool = createCallbackPool({ uri: MYSQL_URL, connectionLimit: 2 });
    try {
      const store = new MysqlStore({ pool: callbackPool, table, createTable: true });
      const handle = newHandle();
      await store.set(handle, recordOf({ via: 'callback pool' }, 'cb'), HOUR);
      expect(await store.get(handle)).toEqual(expect.objectContaining({ data: { via: 'callback pool' }, user: 'cb' }));
      expect(await store.patch(handle, patchOf({ incr: { n: 1 } }), HOUR)).toBe(true);
      const [rows] = await pool.query(`SELECT CAST(data AS CHAR) AS data FROM \`${table}\``);
      expect(rows).toEqual([{ data: '{"via": "callback pool", "n": 1}' }]);
    } finally {
      await new Promise((resolve) => callbackPool.end(resolve));
    }
  });

  it('MariaDB stops a statement at statementTimeout in the server too (a lock held elsewhere)', async () => {
    const table = ownTable('locked');
    const store = new MysqlStore({ pool, table, createTable: true, statementTimeout: 400 });
    const handle = newHandle();
    await store.set(handle, recordOf({ a: 1 }), HOUR);
    const holder = await pool.getConnection();
    try {
      await holder.query('START TRANSACTION');
      await holder.query(`SELECT * FROM \`${table}\` WHERE handle = ? FOR UPDATE`, [handle]);
      const started = Date.now();
      await expect(store.patch(handle, patchOf({ set: { late: true } }), HOUR)).rejects.toThrow(SessionError);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(380);
      expect(elapsed).toBeLessThan(1_500);
      // Nothing of the store's still waits for the lock in the server.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const [waiting] = await pool.query(`SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ? AND ID <> CONNECTION_ID()`, [`%UPDATE \`${table}\`%`]);
      expect(waiting).toEqual([]);
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    // The timed-out statement is not applied once the lock is gone.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await store.get(handle))!.data).toEqual({ a: 1 });
  });

  describe('when the database does not answer', () => {
    let blackhole: Server;
    let port: number;
    const sockets = new Set<Socket>();
    const dropAll = (): void => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    };
    beforeAll(async () => {
      // Accepts connections and never answers: what a hung server or a dropped network looks like.
      blackhole = createServer((socket) => sockets.add(socket));
      await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
      port = (blackhole.address() as { port: number }).port;
    });
    afterAll(async () => {
      dropAll();
      await new Promise((resolve) => blackhole.close(resolve));
    });

    it('rejects within statementTimeout, and after close() at once', async () => {
      const hung = newMysqlPool({ uri: `mysql://root@127.0.0.1:${port}/test`, connectionLimit: 2, connectTimeout: 60_000 });
      const store = new MysqlStore({ pool: hung, statementTimeout: 300 });
      try {
        for (const operation of [
          () => store.get(newHandle()),
          () => store.set(newHandle(), recordOf({ a: 1 }), HOUR),
          () => store.patch(newHandle(), patchOf({}), HOUR),
          () => store.listByUser('x'),
          () => store.get(newHandle()),
        ]) {
          const started = Date.now();
          await expect(operation()).rejects.toThrow(/within 300 ms/);
          const elapsed = Date.now() - started;
          expect(elapsed).toBeGreaterThanOrEqual(290);
          expect(elapsed).toBeLessThan(800);
        }
        await store.close();
        await expect(store.get(newHandle())).rejects.toThrow(/after close/);
      } finally {
        dropAll();
        await hung.end().catch(() => {});
      }
    });

    it('rejects at once when nothing listens', async () => {
      const down = newMysqlPool({ uri: `mysql://root@127.0.0.1:${await freePort()}/test` });
      const store = new MysqlStore({ pool: down, statementTimeout: 1_000 });
      try {
        const started = Date.now();
        await expect(store.get(newHandle())).rejects.toThrow(/ECONNREFUSED/);
        expect(Date.now() - started).toBeLessThan(500);
      } finally {
        await down.end();
      }
    });
  });

  it('keeps mysql2 an optional peer: library code never imports it', () => {
    const dir = new URL('.', import.meta.url);
    const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
    expect(sources).toContain('mysql.store.ts');
    for (const file of sources) {
      const code = readFileSync(new URL(file, dir), 'utf8');
      expect(code).not.toMatch(/^\s*(import|export)\b[^;]*?['"]mysql2(\/[^'"]*)?['"]/m);
      expect(code).not.toMatch(/\b(require|import)\s*\(\s*['"]mysql2/);
    }
  });

  it('accepts a mysql2/promise pool as it is', () => {
    // Type-checked: a mysql2/promise Pool is a MysqlPool.
    const store: MysqlStore = new MysqlStore({ pool });
    expect(store).toBeInstanceOf(MysqlStore);
  });
});
