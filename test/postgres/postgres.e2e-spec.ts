import { Pool } from 'pg';
import { PostgresStore, SESSION_STORE } from 'nestjs-sessionkit';
import { adapters, baseUrl, delay, startApp } from '../support/app.js';
import { DATABASE_URL, dropSchema, newPool, testSchema } from '../support/postgres.js';
import { waitUntil } from '../support/redis.js';
import { type StoredRow, sqlSessionApp, sqlStoreTwoInstanceTests } from '../support/sql-store-e2e.js';

/** An app with its own pool, its store built from the app's database module the documented way. */
function postgresApp(schema: string, extra: { cleanupInterval?: number } = {}): new () => unknown {
  return sqlSessionApp(
    () => newPool({ connectionString: DATABASE_URL }),
    (pool) => new PostgresStore({ pool, schema, createTable: true, ...extra }),
  );
}

describe.each(adapters)('sessions in PostgreSQL (%s)', (adapter) => {
  const schema = testSchema(`e2e_${adapter}`);
  let admin: Pool;
  const rowOf = async (handle: string): Promise<StoredRow | undefined> =>
    (await admin.query<StoredRow>(`SELECT data, user_key FROM "${schema}".sessions WHERE handle = $1`, [handle])).rows[0];
  const expire = (handle: string): Promise<unknown> => admin.query(`UPDATE "${schema}".sessions SET expires_at = now() - interval '1 second' WHERE handle = $1`, [handle]);

  beforeAll(() => {
    admin = newPool({ max: 2 });
  });
  const instances = sqlStoreTwoInstanceTests(adapter, {
    appModule: () => postgresApp(schema),
    rowOf,
    cleanUp: async () => {
      try {
        await dropSchema(admin, schema);
      } finally {
        await admin.end();
      }
    },
  });
  const { loggedIn } = instances;

  it('looks a user’s sessions up through the user_key index', async () => {
    const plan = (await admin.query(
      `BEGIN; SET LOCAL enable_seqscan = off; EXPLAIN SELECT handle FROM "${schema}".sessions WHERE user_key = 'x' AND expires_at > now(); COMMIT`,
    )) as unknown as { rows: { 'QUERY PLAN': string }[] }[];
    expect(plan[2]!.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/sessions_user_key_idx/);
  });

  it('deletes expired rows on the module’s cleanup timer, and stops it on shutdown', async () => {
    const app = await startApp(postgresApp(schema, { cleanupInterval: 100 }), adapter);
    try {
      const { handle } = await loggedIn(await baseUrl(app), 'soon-expired');
      await expire(handle);
      await waitUntil('the expired row to be deleted', async () => (await rowOf(handle)) === undefined, 5_000, 50);
      expect(app.get(SESSION_STORE)).toBeInstanceOf(PostgresStore);
    } finally {
      await app.close();
    }
    // The timer stopped: an expired row now stays (the other apps clean every 5 minutes only).
    const { handle } = await loggedIn(instances.baseA, 'stays');
    await expire(handle);
    await delay(300);
    expect(await rowOf(handle)).toEqual({ data: { userId: 'stays' }, user_key: 'stays' });
  });
});
