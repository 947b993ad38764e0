import type { INestApplication } from '@nestjs/common';
import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'mysql2/promise';
import { MysqlStore, SESSION_STORE, SessionModule } from 'nestjs-sessionkit';
import { RedisAppController } from '../fixtures/redis-app.fixture.js';
import { SECRET, adapters, baseUrl, delay, startApp } from '../support/app.js';
import { Client } from '../support/client.js';
import { dropTables, newMysqlPool, testTable } from '../support/mysql.js';
import { waitUntil } from '../support/redis.js';

/**
 * The app's own database module, as a user writes it: one pool, ended on shutdown. (Nest runs every
 * beforeApplicationShutdown hook, where SessionModule stops its cleanup timer, before this one.)
 */
@Injectable()
class Database implements OnApplicationShutdown {
  readonly pool = newMysqlPool({ connectionLimit: 10 });
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}

@Module({ providers: [Database], exports: [Database] })
class DatabaseModule {}

/** An app with its own pool, its store built from the app's database module the documented way. */
function mysqlApp(table: string, extra: { cleanupInterval?: number } = {}): new () => unknown {
  @Module({
    imports: [
      SessionModule.forRootAsync({
        imports: [DatabaseModule],
        inject: [Database],
        useFactory: (db: Database) => ({ secret: SECRET, cookie: { secure: false }, store: new MysqlStore({ pool: db.pool, table, createTable: true, ...extra }) }),
      }),
    ],
    controllers: [RedisAppController],
  })
  class MysqlAppModule {}
  return MysqlAppModule;
}

describe.each(adapters)('sessions in MySQL / MariaDB (%s)', (adapter) => {
  const table = testTable(`e2e_${adapter}`);
  let admin: Pool;
  let appA: INestApplication | undefined;
  let appB: INestApplication | undefined;
  let baseA: string;
  let baseB: string;
  const rowOf = async (handle: string): Promise<{ data: Record<string, unknown>; user_key: string | null } | undefined> => {
    const [rows] = await admin.query(`SELECT CAST(data AS CHAR) AS data, user_key FROM \`${table}\` WHERE handle = ?`, [handle]);
    const row = (rows as { data: string; user_key: string | null }[])[0];
    return row === undefined ? undefined : { data: JSON.parse(row.data) as Record<string, unknown>, user_key: row.user_key };
  };
  const expire = (handle: string): Promise<unknown> => admin.query(`UPDATE \`${table}\` SET expires_at = UTC_TIMESTAMP(3) - INTERVAL 1 SECOND WHERE handle = ?`, [handle]);

  beforeAll(async () => {
    admin = newMysqlPool({ connectionLimit: 2 });
    appA = await startApp(mysqlApp(table), adapter);
    appB = await startApp(mysqlApp(table), adapter);
    baseA = await baseUrl(appA);
    baseB = await baseUrl(appB);
  });
  afterAll(async () => {
    try {
      await appA?.close();
      await appB?.close();
      await dropTables(admin, table);
    } finally {
      await admin.end();
    }
  });

  async function loggedIn(base = baseA, userId: number | string = 1): Promise<{ client: Client; handle: string }> {
    const client = new Client(base);
    const login = await client.post('/login', { userId });
    expect(login.status).toBe(200);
    return { client, handle: (login.body as { handle: string }).handle };
  }

  it('created the table at startup; logs in on A, reads and changes on B, logs out on B', async () => {
    const { client, handle } = await loggedIn(baseA, 42);
    expect(await rowOf(handle)).toEqual({ data: { userId: 42 }, user_key: '42' });
    const onB = new Client(baseB);
    onB.jar.set('sid', client.jar.get('sid')!);
    expect((await onB.get('/me')).body).toEqual({ userId: 42 });
    expect((await onB.post('/set/theme', { value: 'dark' })).status).toBe(200);
    expect(await rowOf(handle)).toEqual({ data: { userId: 42, theme: 'dark' }, user_key: '42' });
    expect((await client.get('/data')).body).toEqual({ userId: 42, theme: 'dark' });
    expect((await onB.post('/logout')).status).toBe(200);
    expect(await rowOf(handle)).toBeUndefined();
    expect((await client.get('/me')).status).toBe(401);
  });

  it('keeps every key of 50 parallel requests and every one of 50 parallel increments, across two instances', async () => {
    const { client, handle } = await loggedIn();
    const other = new Client(baseB);
    other.jar.set('sid', client.jar.get('sid')!);
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? client : other).post(`/set/k${i}`, { value: i })).concat(
        Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? other : client).post('/increment/n')),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(100).fill(200));
    const data = (await rowOf(handle))!.data;
    for (let i = 0; i < 50; i++) expect(data[`k${i}`]).toBe(i);
    expect(data.n).toBe(50);
    expect(data.userId).toBe(1);
  });

  it('does not bring back a session logged out while a slow request was running', async () => {
    const { client, handle } = await loggedIn();
    const cookie = client.jar.get('sid')!;
    const slow = client.post('/slow/late?ms=400');
    await delay(100);
    const other = new Client(baseB);
    other.jar.set('sid', cookie);
    expect((await other.post('/logout')).status).toBe(200);
    expect((await slow).status).toBe(200);
    expect(await rowOf(handle)).toBeUndefined();
    const again = new Client(baseA);
    again.jar.set('sid', cookie);
    expect((await again.get('/data')).body).toEqual({});
  });

  it('a login on B leaves a forwarding row under the old handle; a logout on A with the pre-login cookie removes the moved session', async () => {
    const { client, handle } = await loggedIn(baseA, 'fw-user');
    const oldCookie = client.jar.get('sid')!;
    const browser = new Client(baseB);
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

  it('lists a user’s sessions through the user_key index and revokes the others', async () => {
    const first = await loggedIn(baseA, 'my-user');
    const second = await loggedIn(baseB, 'my-user');
    const list = await first.client.get('/sessions');
    expect((list.body as { handle: string; current: boolean }[]).map((s) => [s.handle, s.current]).sort()).toEqual(
      [
        [first.handle, true],
        [second.handle, false],
      ].sort(),
    );
    expect((await first.client.post('/logout-others')).body).toEqual({ destroyed: 1 });
    expect(await rowOf(second.handle)).toBeUndefined();
    expect(await rowOf(first.handle)).toEqual({ data: { userId: 'my-user' }, user_key: 'my-user' });
    expect((await second.client.get('/me')).status).toBe(401);
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
    const { handle } = await loggedIn(baseA, 'stays');
    await expire(handle);
    await delay(300);
    expect(await rowOf(handle)).toEqual({ data: { userId: 'stays' }, user_key: 'stays' });
  });
});
