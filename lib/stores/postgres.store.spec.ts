import { readFileSync, readdirSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { PostgresStore, type PostgresPool, type PostgresPoolClient } from './postgres.store.js';
import { describeSessionStoreContract } from '../testing/index.js';
import { newHandle, patchOf, recordOf } from '../testing/session-store.contract.js';
import { newSessionId, sessionHandle } from '../http/session-cookie.js';
import { storedRecordData } from '../core/session-value.js';
import { DATABASE_URL, dropSchema, dumpTable, newPool, testSchema } from '../../test/support/postgres.js';
import { freePort, sleep } from '../../test/support/redis.js';
import { expectInstancesTakeTurns } from '../../test/support/lock-instances.js';

// Runs against a real PostgreSQL (DATABASE_URL, default the local database `test`), each suite in a schema of its own.
const HOUR = 3_600_000;
const schema = testSchema('store');
let pool: Pool;

beforeAll(() => {
  pool = newPool();
});
afterAll(async () => {
  try {
    await dropSchema(pool, schema);
  } finally {
    await pool.end();
  }
});

describeSessionStoreContract(`PostgresStore (${DATABASE_URL})`, () => new PostgresStore({ pool, schema, createTable: true }), {
  dump: () => dumpTable(pool, schema),
});

// Behind a pooler that cannot keep prepared statements the store sends every statement unnamed: the same contract holds.
describeSessionStoreContract('PostgresStore without prepared statements', () => new PostgresStore({ pool, schema, table: 'unprepared', createTable: true, preparedStatements: false }), {
  dump: () => dumpTable(pool, schema, 'unprepared'),
});

describe('PostgresStore session locks', () => {
  it('lets holders on three instances (three pools) in one at a time', async () => {
    const others = [newPool({ max: 3 }), newPool({ max: 3 })];
    try {
      await expectInstancesTakeTurns([pool, ...others].map((p) => new PostgresStore({ pool: p, schema, table: 'lock_turns', createTable: true })));
    } finally {
      for (const other of others) await other.end();
    }
  });

  it('takes over the lock of a holder that died, and cleanup deletes dead locks', async () => {
    const store = new PostgresStore({ pool, schema, table: 'lock_dead', createTable: true });
    const dead = await store.lock(newHandle(), { ttlMs: 50, waitMs: 0 });
    expect(dead).toBeDefined();
    const handle = newHandle();
    await store.lock(handle, { ttlMs: 50, waitMs: 0 });
    // Another instance (its own local queue) sees the row, then takes it over once expired.
    const other = new PostgresStore({ pool, schema, table: 'lock_dead' });
    const next = await other.lock(handle, { ttlMs: 60_000, waitMs: 2_000 });
    expect(next).toBeDefined();
    await sleep(60);
    await store.cleanup();
    const rows = (await pool.query(`SELECT handle FROM "${schema}"."lock_dead_locks"`)).rows as { handle: string }[];
    expect(rows.map((r) => r.handle)).toEqual([handle]);
    await next!.release();
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}"."lock_dead_locks"`)).rows[0]).toEqual({ n: 0 });
  });
});

/** The pool, with every statement the store sends recorded. */
function recording(target: Pool): { pool: PostgresPool; statements: string[] } {
  const statements: string[] = [];
  const wrapped: PostgresPool = {
    async connect() {
      const client = await target.connect();
      const query = (config: string | { text: string }): unknown => {
        statements.push(typeof config === 'string' ? config : config.text);
        return client.query(config as never);
      };
      return {
        query,
        release: (error?: Error | boolean) => client.release(error),
        once: (event: 'error', listener: (error: Error) => void) => client.once(event, listener),
        removeListener: (event: 'error', listener: (error: Error) => void) => client.removeListener(event, listener),
      } as PostgresPoolClient;
    },
  };
  return { pool: wrapped, statements };
}

describe('PostgresStore: statements and table', () => {
  const table = 'rt_sessions';
  let store: PostgresStore;
  let statements: string[];

  beforeAll(async () => {
    const recorder = recording(pool);
    statements = recorder.statements;
    store = new PostgresStore({ pool: recorder.pool, schema, table, createTable: true });
    await store.init();
  });

  async function sent(operation: () => Promise<unknown>): Promise<string[]> {
    statements.length = 0;
    await operation();
    return statements.map((s) => s.trim().split(/\s+/)[0]!.toUpperCase());
  }

  it('sends one statement per get, set, patch, touch, destroy and listByUser', async () => {
    const handle = newHandle();
    const record = recordOf({ userId: 'rt', n: 1 }, 'rt');
    expect(await sent(() => store.set(handle, record, HOUR))).toEqual(['INSERT']);
    expect(await sent(() => store.get(handle))).toEqual(['SELECT']);
    expect(await sent(() => store.patch(handle, patchOf({ set: { a: 1 }, unset: ['n'], incr: { c: 1 }, user: 'rt2' }), HOUR))).toEqual(['UPDATE']);
    expect(await sent(() => store.patch(handle, patchOf({ clear: true }), HOUR))).toEqual(['UPDATE']);
    expect(await sent(() => store.touch(handle, record, HOUR))).toEqual(['UPDATE']);
    expect(await sent(() => store.patch(newHandle(), patchOf({ set: { a: 1 } }), HOUR))).toEqual(['UPDATE']);
    expect(await sent(() => store.listByUser('rt2'))).toEqual(['SELECT']);
    expect(await sent(() => store.destroy(handle))).toEqual(['DELETE']);
  });

  it('keeps one row per session: the handle, never the id; times as given; expiry by the database clock', async () => {
    const id = newSessionId();
    const handle = sessionHandle(id);
    const record = recordOf({ userId: 'rowan', cart: ['x'] }, 'rowan');
    await store.set(handle, record, 60_000);
    await store.patch(handle, patchOf({ set: { step: 2 }, incr: { views: 1 }, touchedAt: record.touchedAt + 1 }), 120_000);
    const { rows } = await pool.query(
      `SELECT handle, data, created_at, touched_at, user_key, extract(epoch FROM expires_at - now()) * 1000 AS left_ms FROM "${schema}"."${table}" WHERE handle = $1`,
      [handle],
    );
    expect(rows).toHaveLength(1);
    const row = rows[0] as Record<string, unknown>;
    expect(row.handle).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(id);
    expect(row.data).toEqual({ userId: 'rowan', cart: ['x'], step: 2, views: 1 });
    expect(Number(row.created_at)).toBe(record.createdAt);
    expect(Number(row.touched_at)).toBe(record.touchedAt + 1);
    expect(row.user_key).toBe('rowan');
    expect(Number(row.left_ms)).toBeGreaterThan(115_000);
    expect(Number(row.left_ms)).toBeLessThanOrEqual(120_000);
  });

  it('hands over data the runtime takes as it is, and leaves a row with a reserved key, however it was spelled, to its check', async () => {
    const handle = newHandle();
    await store.set(handle, recordOf({ userId: 'ada', cart: [{ sku: 'x' }] }, 'ada'), HOUR);
    const clean = (await store.get(handle))!;
    expect(clean).toEqual({ data: { userId: 'ada', cart: [{ sku: 'x' }] }, createdAt: expect.any(Number), touchedAt: expect.any(Number), user: 'ada' });
    expect(storedRecordData(clean)).toBe(clean.data);
    // Another program wrote the key with an escape: PostgreSQL keeps it as "__proto__", and the runtime refuses it.
    await pool.query(`UPDATE "${schema}"."${table}" SET data = $2::jsonb WHERE handle = $1`, [handle, '{"userId":"ada","p":{"__pr\\u006fto__":{"admin":true}}}']);
    const hostile = (await store.get(handle))!;
    expect(Object.keys(hostile.data)).toEqual(['p', 'userId']);
    expect(() => storedRecordData(hostile)).toThrow(/reserved key at "p\.__proto__"/);
  });

  it('counts live sessions only (for the session.live gauge)', async () => {
    const before = await store.countSessions();
    const live = newHandle();
    const stale = newHandle();
    await store.set(live, recordOf({ a: 1 }), HOUR);
    await store.set(stale, recordOf({ a: 1 }), HOUR);
    await pool.query(`UPDATE "${schema}"."${table}" SET expires_at = now() - interval '1 second' WHERE handle = $1`, [stale]);
    expect(await store.countSessions()).toBe(before + 1);
    await store.destroy(live);
    await store.destroy(stale);
  });

  it('enforces expiry in SQL: an expired row still in the table is never read, changed or listed', async () => {
    const handle = newHandle();
    await store.set(handle, recordOf({ a: 1 }, 'stale'), HOUR);
    await pool.query(`UPDATE "${schema}"."${table}" SET expires_at = now() - interval '1 second' WHERE handle = $1`, [handle]);
    expect(await store.get(handle)).toBeUndefined();
    expect(await store.patch(handle, patchOf({ set: { b: 2 } }), HOUR)).toBe(false);
    await store.touch(handle, recordOf({}, 'stale'), HOUR);
    expect(await store.listByUser('stale')).toEqual([]);
    const { rows } = await pool.query(`SELECT data, expires_at < now() AS expired FROM "${schema}"."${table}" WHERE handle = $1`, [handle]);
    expect(rows).toEqual([{ data: { a: 1 }, expired: true }]);
  });

  it('creates the table and its indexes once, even when several instances start at once', async () => {
    const fresh = testSchema('create');
    try {
      const stores = Array.from({ length: 6 }, () => new PostgresStore({ pool, schema: fresh, createTable: true }));
      await Promise.all(stores.map((s) => s.init()));
      // An operation before any init() creates it too; later ones do not try again.
      await Promise.all(stores.map((s) => s.set(newHandle(), recordOf({ ok: true }), HOUR)));
      const { rows: columns } = await pool.query(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'sessions' ORDER BY ordinal_position`,
        [fresh],
      );
      expect(columns).toEqual([
        { column_name: 'handle', data_type: 'text' },
        { column_name: 'data', data_type: 'jsonb' },
        { column_name: 'created_at', data_type: 'bigint' },
        { column_name: 'touched_at', data_type: 'bigint' },
        { column_name: 'expires_at', data_type: 'timestamp with time zone' },
        { column_name: 'user_key', data_type: 'text' },
      ]);
      const { rows: indexes } = await pool.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname`, [fresh]);
      expect(indexes.map((r: { indexname: string }) => r.indexname)).toEqual(['sessions_expires_at_idx', 'sessions_locks_pkey', 'sessions_pkey', 'sessions_user_key_idx']);
      const { rows: count } = await pool.query(`SELECT count(*)::int AS n FROM "${fresh}".sessions`);
      expect(count).toEqual([{ n: 6 }]);
    } finally {
      await dropSchema(pool, fresh);
    }
  });

  it('without createTable, says which table is missing', async () => {
    const missing = new PostgresStore({ pool, schema, table: 'nowhere' });
    await expect(missing.get(newHandle())).rejects.toThrow(/table "test_store_\w+"\."nowhere" does not exist.*createTable: true/);
  });
});

describe('PostgresStore: cleanup', () => {
  const table = 'cleanup_sessions';

  async function expiredRows(n: number): Promise<void> {
    await pool.query(
      `INSERT INTO "${schema}"."${table}" (handle, data, created_at, touched_at, expires_at)
       SELECT md5(random()::text || g::text) || md5(g::text), '{}'::jsonb, 0, 0, now() - interval '1 minute' FROM generate_series(1, $1) AS g`,
      [n],
    );
  }
  const rowCount = async (): Promise<number> => Number((await pool.query(`SELECT count(*) AS n FROM "${schema}"."${table}"`)).rows[0].n);

  it('deletes expired rows in batches and keeps live ones; several cleaners at once share the work', async () => {
    const make = (): PostgresStore => new PostgresStore({ pool, schema, table, createTable: true, cleanupBatchSize: 100 });
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

  it('stops after the current batch once the store is closed', async () => {
    const store = new PostgresStore({ pool, schema, table, createTable: true, cleanupBatchSize: 50 });
    await store.init();
    await expiredRows(20_000);
    const running = store.cleanup();
    // Close once the first batches are through.
    while ((await rowCount()) > 19_900) await new Promise((resolve) => setTimeout(resolve, 5));
    await store.close();
    const deleted = await running;
    expect(deleted).toBeGreaterThanOrEqual(100);
    expect(deleted).toBeLessThan(20_000);
    expect(await rowCount()).toBe(20_001 - deleted);
    await new PostgresStore({ pool, schema, table }).cleanup();
  });
});

describe('PostgresStore: options and failures', () => {
  it('refuses bad options with a message saying what to pass', () => {
    expect(() => new PostgresStore({} as never)).toThrow(/pool.*pg Pool/);
    expect(() => new PostgresStore({ pool, table: '' })).toThrow(/table/);
    expect(() => new PostgresStore({ pool, schema: 3 as never })).toThrow(/schema/);
    expect(() => new PostgresStore({ pool, statementTimeout: 0 })).toThrow(/statementTimeout/);
    expect(() => new PostgresStore({ pool, cleanupInterval: -1 })).toThrow(/cleanupInterval/);
    expect(() => new PostgresStore({ pool, cleanupBatchSize: 1.5 })).toThrow(/cleanupBatchSize/);
    expect(new PostgresStore({ pool, cleanupInterval: 0 }).cleanupInterval).toBe(0);
    expect(new PostgresStore({ pool }).cleanupInterval).toBe(300_000);
  });

  it('names its statements (one name per statement and table) unless preparedStatements is false', async () => {
    const names = async (preparedStatements: boolean | undefined, table: string): Promise<(string | undefined)[]> => {
      const sent: (string | undefined)[] = [];
      const wrapped: PostgresPool = {
        async connect() {
          const client = await pool.connect();
          return {
            query: (config: { name?: string }) => {
              sent.push(config.name);
              return client.query(config as never);
            },
            release: (error?: Error | boolean) => client.release(error),
            once: (event: 'error', listener: (error: Error) => void) => client.once(event, listener),
            removeListener: (event: 'error', listener: (error: Error) => void) => client.removeListener(event, listener),
          } as PostgresPoolClient;
        },
      };
      const store = new PostgresStore({ pool: wrapped, schema, table, createTable: true, preparedStatements });
      await store.init();
      const handle = newHandle();
      await store.set(handle, recordOf({ a: 1 }), HOUR);
      await store.get(handle);
      await store.get(handle);
      return sent.slice(1);
    };
    const named = await names(undefined, 'named_a');
    expect(named).toHaveLength(3);
    expect(named.every((name) => /^sessionkit_[0-9a-f]{24}$/.test(name!))).toBe(true);
    expect(named[1]).toBe(named[2]);
    expect(named[0]).not.toBe(named[1]);
    // Another table sharing the pool: other names, so the two stores never clash on a connection.
    expect((await names(true, 'named_b'))[1]).not.toBe(named[1]);
    expect(await names(false, 'named_c')).toEqual([undefined, undefined, undefined]);
    expect(() => new PostgresStore({ pool, preparedStatements: 'yes' as never })).toThrow(/preparedStatements/);
  });

  it('quotes names: a table name with quotes and spaces is just a name', async () => {
    const store = new PostgresStore({ pool, schema, table: 'odd "name"; drop', createTable: true });
    const handle = newHandle();
    await store.set(handle, recordOf({ ok: 1 }), HOUR);
    expect((await store.get(handle))!.data).toEqual({ ok: 1 });
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}"."odd ""name""; drop"`);
    expect(rows).toEqual([{ n: 1 }]);
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
      const hung = newPool({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, max: 2 });
      const store = new PostgresStore({ pool: hung, statementTimeout: 300 });
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
      const down = newPool({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/test` });
      const store = new PostgresStore({ pool: down, statementTimeout: 1_000 });
      try {
        const started = Date.now();
        await expect(store.get(newHandle())).rejects.toThrow(/ECONNREFUSED/);
        expect(Date.now() - started).toBeLessThan(500);
      } finally {
        await down.end();
      }
    });
  });

  it('keeps pg an optional peer: library code never imports it', () => {
    const dir = new URL('.', import.meta.url);
    const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
    expect(sources).toContain('postgres.store.ts');
    for (const file of sources) {
      const code = readFileSync(new URL(file, dir), 'utf8');
      expect(code).not.toMatch(/^\s*(import|export)\b[^;]*?['"]pg['"]/m);
      expect(code).not.toMatch(/\b(require|import)\s*\(\s*['"]pg['"]/);
    }
  });

  it('calls a pool and its connections with callbacks, and one that answers with promises, or with both, through them', async () => {
    const own = newPool({ max: 3 });
    const used: string[] = [];
    const wrappers = new Map<object, PostgresPoolClient>();
    // One wrapper per pg connection, so a pool that answers both ways hands over the same object twice.
    const wrap = (client: PoolClient, answers: 'callback' | 'promise' | 'both'): PostgresPoolClient => {
      let wrapper = wrappers.get(client);
      if (wrapper === undefined) {
        const query = (statement: QueryConfig, callback?: (error: unknown, result?: unknown) => void): unknown => {
          used.push(`query:${typeof callback === 'function' ? 'callback' : 'none'}`);
          if (answers === 'promise') return client.query(statement);
          const pending = client.query(statement);
          pending.then((result) => callback?.(undefined, result), (error: unknown) => callback?.(error));
          return answers === 'both' ? pending : undefined;
        };
        wrapper = { query, release: (error?: Error | boolean) => client.release(error), once: client.once.bind(client), removeListener: client.removeListener.bind(client) } as unknown as PostgresPoolClient;
        wrappers.set(client, wrapper);
      }
      return wrapper;
    };
    const poolAnswering = (answers: 'callback' | 'promise' | 'both'): PostgresPool =>
      ({
        connect: (callback?: (error: unknown, client?: PostgresPoolClient) => void): unknown => {
          used.push(`connect:${typeof callback === 'function' ? 'callback' : 'none'}`);
          const pending = own.connect().then((client) => wrap(client, answers));
          if (answers === 'promise') return pending;
          pending.then((client) => callback?.(undefined, client), (error: unknown) => callback?.(error));
          return answers === 'both' ? pending : undefined;
        },
      }) as unknown as PostgresPool;
    try {
      for (const answers of ['callback', 'promise', 'both'] as const) {
        const store = new PostgresStore({ pool: poolAnswering(answers), schema, table: `answers_${answers}`, createTable: true });
        used.length = 0;
        const handles = Array.from({ length: 12 }, () => newHandle());
        // More operations at once than the pool has connections: each connection is taken and given back several times.
        await Promise.all(handles.map((handle, i) => store.set(handle, recordOf({ i }), HOUR)));
        const read = await Promise.all(handles.map((handle) => store.get(handle)));
        expect(read.map((record) => record!.data)).toEqual(handles.map((_, i) => ({ i })));
        expect(new Set(used)).toEqual(new Set(['connect:callback', 'query:callback']));
        // Every connection went back once: none is still out, and none was released twice (pg would have thrown).
        expect(own.waitingCount).toBe(0);
        expect(own.idleCount).toBe(own.totalCount);
      }
    } finally {
      await own.end();
    }
  });

  it('accepts a pg Pool as it is', () => {
    // Type-checked: a pg Pool is a PostgresPool.
    const store: PostgresStore = new PostgresStore({ pool });
    expect(store).toBeInstanceOf(PostgresStore);
  });
});
