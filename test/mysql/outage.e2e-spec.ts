import type { INestApplication } from '@nestjs/common';
import type { Pool } from 'mysql2/promise';
import { MysqlStore } from 'nestjs-sessionkit';
import { redisAppModule } from '../fixtures/redis-app.fixture.js';
import { adapters, baseUrl, startApp } from '../support/app.js';
import { Client, type Reply } from '../support/client.js';
import { MYSQL_URL, dropTables, newMysqlPool, testTable } from '../support/mysql.js';
import { waitUntil } from '../support/redis.js';
import { type ProxyMode, TcpProxy } from '../support/tcp-proxy.js';

const STATEMENT_TIMEOUT = 500;
/** Slack for HTTP, Nest and a loaded CI machine on top of statementTimeout. */
const MARGIN = 750;

// The app reaches the database through a TCP proxy this suite owns, which it cuts and restores.
describe.each(adapters)('MySQL / MariaDB outage (%s)', (adapter) => {
  const table = testTable(`outage_${adapter}`);
  let proxy: TcpProxy;
  let pool: Pool;
  let admin: Pool;
  let app: INestApplication | undefined;
  let base: string;

  beforeAll(async () => {
    const target = new URL(MYSQL_URL);
    proxy = await TcpProxy.start(target.hostname, Number(target.port || 3306));
    admin = newMysqlPool({ connectionLimit: 1 });
    target.port = String(proxy.port);
    pool = newMysqlPool({ uri: target.toString(), connectionLimit: 5 });
    const store = new MysqlStore({ pool, table, createTable: true, statementTimeout: STATEMENT_TIMEOUT });
    app = await startApp(redisAppModule(store), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    try {
      await app?.close();
      await proxy.dispose();
      await pool.end().catch(() => {});
      await dropTables(admin, table);
    } finally {
      await admin.end();
    }
  });

  async function timed(request: () => Promise<Reply>): Promise<{ reply: Reply; elapsed: number }> {
    const started = Date.now();
    const reply = await request();
    return { reply, elapsed: Date.now() - started };
  }

  it.each<ProxyMode>(['refuse', 'blackhole'])('answers 503 within statementTimeout while the database is unreachable (%s), and recovers', async (mode) => {
    const client = new Client(base);
    expect((await client.post('/login', { userId: 9 })).status).toBe(200);
    expect((await client.post('/set/before', { value: mode })).status).toBe(200);
    expect((await client.get('/me')).status).toBe(200);

    await proxy.set(mode);

    const down = await Promise.all([
      timed(() => client.get('/me')),
      timed(() => client.get('/data')),
      timed(() => client.post('/set/during', { value: 'lost' })),
      timed(() => client.post('/increment/n')),
      timed(() => client.post('/logout')),
      timed(() => new Client(base).post('/login', { userId: 10 })),
    ]);
    for (const { reply, elapsed } of down) {
      expect(reply.status).toBe(503);
      expect(elapsed).toBeLessThan(STATEMENT_TIMEOUT + MARGIN);
    }
    // Later requests get the same bounded answer: nothing piles up waiting for connections.
    for (let i = 0; i < 3; i++) {
      const again = await timed(() => client.get('/me'));
      expect(again.reply.status).toBe(503);
      expect(again.elapsed).toBeLessThan(STATEMENT_TIMEOUT + MARGIN);
    }
    const plain = await timed(() => client.get('/plain'));
    expect(plain.reply.status).toBe(200);
    expect(plain.elapsed).toBeLessThan(MARGIN);
    expect(client.jar.has('sid')).toBe(true);

    await proxy.set('up');

    await waitUntil('the session to load again', async () => (await client.get('/me')).status === 200, 10_000, 100);
    expect((await client.get('/me')).body).toEqual({ userId: 9 });
    // Written before the outage: kept. Refused during it: not applied later.
    expect((await client.get('/data')).body).toEqual({ userId: 9, before: mode });
    expect((await client.post('/increment/n')).body).toEqual({ value: 1 });
    const [rows] = await admin.query(`SELECT COUNT(*) AS n FROM \`${table}\` WHERE JSON_CONTAINS_PATH(data, 'one', '$.during')`);
    expect(rows).toEqual([{ n: 0 }]);
    // The login refused during the outage left no row either.
    const [logins] = await admin.query(`SELECT COUNT(*) AS n FROM \`${table}\` WHERE user_key = '10'`);
    expect(logins).toEqual([{ n: 0 }]);
  });
});
