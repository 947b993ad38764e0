import type { Pool } from 'mysql2/promise';
import { MysqlStore, SESSION_STORE } from 'nestjs-sessionkit';
import { adapters, baseUrl, delay, startApp } from '../support/app.js';
import { Client } from '../support/client.js';
import { dropTables, newMysqlPool, testTable } from '../support/mysql.js';
import { waitUntil } from '../support/redis.js';
import { type StoredRow, sqlSessionApp, sqlStoreTwoInstanceTests } from '../support/sql-store-e2e.js';

/** An app with its own pool, its store built from the app's database module the documented way. */
function mysqlApp(table: string, extra: { cleanupInterval?: number } = {}): new () => unknown {
  return sqlSessionApp(
    () => newMysqlPool({ connectionLimit: 10 }),
    (pool) => new MysqlStore({ pool, table, createTable: true, ...extra }),
  );
}

describe.each(adapters)('sessions in MySQL / MariaDB (%s)', (adapter) => {
  const table = testTable(`e2e_${adapter}`);
  let admin: Pool;
  const rowOf = async (handle: string): Promise<StoredRow | undefined> => {
    const [rows] = await admin.query(`SELECT CAST(data AS CHAR) AS data, user_key FROM \`${table}\` WHERE handle = ?`, [handle]);
    const row = (rows as { data: string; user_key: string | null }[])[0];
    return row === undefined ? undefined : { data: JSON.parse(row.data) as StoredRow['data'], user_key: row.user_key };
  };
  const expire = (handle: string): Promise<unknown> => admin.query(`UPDATE \`${table}\` SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE handle = ?`, [handle]);

  beforeAll(() => {
    admin = newMysqlPool({ connectionLimit: 2 });
  });
  const instances = sqlStoreTwoInstanceTests(adapter, {
    appModule: () => mysqlApp(table),
    rowOf,
    cleanUp: async () => {
      try {
        await dropTables(admin, table);
      } finally {
        await admin.end();
      }
    },
  });
  const { loggedIn } = instances;

  it('a login on B leaves a forwarding row under the old handle; a logout on A with the pre-login cookie removes the moved session', async () => {
    const { client, handle } = await loggedIn(instances.baseA, 'fw-user');
    const oldCookie = client.jar.get('sid')!;
    const browser = new Client(instances.baseB);
    browser.jar.set('sid', oldCookie);
    const relogin = await browser.post('/login', { userId: 'fw-user' });
    const moved = (relogin.body as { handle: string }).handle;
    expect(moved).not.toBe(handle);
    expect(await rowOf(handle)).toEqual({ data: moved, user_key: null });
    expect(await rowOf(moved)).toEqual({ data: { userId: 'fw-user' }, user_key: 'fw-user' });
    // The old cookie reads nothing through the forwarding row...
    expect((await client.get('/data')).body).toEqual({});
    expect((await client.get('/me')).status).toBe(401);
    expect((await browser.get('/me')).body).toEqual({ userId: 'fw-user' });
    // ...but a logout sent with it destroys the moved session.
    client.jar.set('sid', oldCookie);
    expect((await client.post('/logout')).status).toBe(200);
    expect(await rowOf(handle)).toBeUndefined();
    expect(await rowOf(moved)).toBeUndefined();
    expect((await browser.get('/me')).status).toBe(401);
  });

  it('looks a user’s sessions up through the user_key index', async () => {
    const [plan] = await admin.query(`EXPLAIN SELECT handle FROM \`${table}\` WHERE user_key = 'x' AND expires_at > UTC_TIMESTAMP(3)`);
    expect((plan as { key: string | null }[]).map((r) => r.key)).toEqual(['user_key_idx']);
  });

  it('deletes expired rows on the module’s cleanup timer, and stops it on shutdown', async () => {
    const app = await startApp(mysqlApp(table, { cleanupInterval: 100 }), adapter);
    try {
      const { handle } = await loggedIn(await baseUrl(app), 'soon-expired');
      await expire(handle);
      await waitUntil('the expired row to be deleted', async () => (await rowOf(handle)) === undefined, 5_000, 50);
      expect(app.get(SESSION_STORE)).toBeInstanceOf(MysqlStore);
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
