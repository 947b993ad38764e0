import type { INestApplication } from '@nestjs/common';
import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Pool } from 'pg';
import { PostgresStore, SESSION_STORE, SessionModule } from 'nestjs-sessionkit';
import { RedisAppController } from '../fixtures/redis-app.fixture.js';
import { SECRET, adapters, baseUrl, delay, startApp } from '../support/app.js';
import { Client } from '../support/client.js';
import { DATABASE_URL, dropSchema, newPool, testSchema } from '../support/postgres.js';
import { waitUntil } from '../support/redis.js';

/**
 * The app's own database module, as a user writes it: one pool, ended on shutdown. (Nest runs every
 * beforeApplicationShutdown hook, where SessionModule stops its cleanup timer, before this one.)
 */
@Injectable()
class Database implements OnApplicationShutdown {
  readonly pool = newPool({ connectionString: DATABASE_URL });
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}

@Module({ providers: [Database], exports: [Database] })
class DatabaseModule {}

/** An app with its own pool, its store built from the app's database module the documented way. */
function postgresApp(schema: string, extra: { cleanupInterval?: number } = {}): new () => unknown {
  @Module({
    imports: [
      SessionModule.forRootAsync({
        imports: [DatabaseModule],
        inject: [Database],
        useFactory: (db: Database) => ({ secret: SECRET, cookie: { secure: false }, store: new PostgresStore({ pool: db.pool, schema, createTable: true, ...extra }) }),
      }),
    ],
    controllers: [RedisAppController],
  })
  class PostgresAppModule {}
  return PostgresAppModule;
}

describe.each(adapters)('sessions in PostgreSQL (%s)', (adapter) => {
  const schema = testSchema(`e2e_${adapter}`);
  let admin: Pool;
  let appA: INestApplication | undefined;
  let appB: INestApplication | undefined;
  let baseA: string;
  let baseB: string;
  const rowOf = async (handle: string): Promise<{ data: Record<string, unknown>; user_key: string | null } | undefined> =>
    (await admin.query(`SELECT data, user_key FROM "${schema}".sessions WHERE handle = $1`, [handle])).rows[0];

  beforeAll(async () => {
    admin = newPool({ max: 2 });
    appA = await startApp(postgresApp(schema), adapter);
    appB = await startApp(postgresApp(schema), adapter);
    baseA = await baseUrl(appA);
    baseB = await baseUrl(appB);
  });
  afterAll(async () => {
    try {
      await appA?.close();
      await appB?.close();
      await dropSchema(admin, schema);
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

  it('lists a user’s sessions through the user_key index and revokes the others', async () => {
    const first = await loggedIn(baseA, 'pg-user');
    const second = await loggedIn(baseB, 'pg-user');
    const list = await first.client.get('/sessions');
    expect((list.body as { handle: string; current: boolean }[]).map((s) => [s.handle, s.current]).sort()).toEqual(
      [
        [first.handle, true],
        [second.handle, false],
      ].sort(),
    );
    expect((await first.client.post('/logout-others')).body).toEqual({ destroyed: 1 });
    expect(await rowOf(second.handle)).toBeUndefined();
    expect(await rowOf(first.handle)).toBeDefined();
    expect((await second.client.get('/me')).status).toBe(401);
    const plan = (await admin.query(
      `BEGIN; SET LOCAL enable_seqscan = off; EXPLAIN SELECT handle FROM "${schema}".sessions WHERE user_key = 'x' AND expires_at > now(); COMMIT`,
    )) as unknown as { rows: { 'QUERY PLAN': string }[] }[];
    expect(plan[2]!.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/sessions_user_key_idx/);
  });

  it('deletes expired rows on the module’s cleanup timer, and stops it on shutdown', async () => {
    const app = await startApp(postgresApp(schema, { cleanupInterval: 100 }), adapter);
    try {
      const { handle } = await loggedIn(await baseUrl(app), 'soon-expired');
      await admin.query(`UPDATE "${schema}".sessions SET expires_at = now() - interval '1 second' WHERE handle = $1`, [handle]);
      await waitUntil('the expired row to be deleted', async () => (await rowOf(handle)) === undefined, 5_000, 50);
      expect(app.get(SESSION_STORE)).toBeInstanceOf(PostgresStore);
    } finally {
      await app.close();
    }
    // The timer stopped: an expired row now stays (the other apps clean every 5 minutes only).
    const { handle } = await loggedIn(baseA, 'stays');
    await admin.query(`UPDATE "${schema}".sessions SET expires_at = now() - interval '1 second' WHERE handle = $1`, [handle]);
    await delay(300);
    expect(await rowOf(handle)).toBeDefined();
  });
});
