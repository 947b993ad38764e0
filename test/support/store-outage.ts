import type { INestApplication } from '@nestjs/common';
import type { SessionStore } from 'nestjs-sessionkit';
import { redisAppModule } from '../fixtures/redis-app.fixture.js';
import { type AdapterName, baseUrl, startApp } from './app.js';
import { Client, type Reply } from './client.js';
import { waitUntil } from './redis.js';
import { type ProxyMode, TcpProxy } from './tcp-proxy.js';

/** Slack for HTTP, Nest and a loaded CI machine on top of a store's timeout. */
export const OUTAGE_MARGIN = 750;

/** A request's reply and how long it took. */
export async function timed(request: () => Promise<Reply>): Promise<{ reply: Reply; elapsed: number }> {
  const started = Date.now();
  const reply = await request();
  return { reply, elapsed: Date.now() - started };
}

/** Logs user 9 in on `base` and stores `before`, while the store is up. */
export async function loggedInBeforeOutage(base: string, before: string): Promise<Client> {
  const client = new Client(base);
  expect((await client.post('/login', { userId: 9 })).status).toBe(200);
  expect((await client.post('/set/before', { value: before })).status).toBe(200);
  expect((await client.get('/me')).status).toBe(200);
  return client;
}

/**
 * While the store is unreachable: routes that need the session answer 503 within `timeout` (plus
 * margin), in parallel and `repeats` times after, while a route that does not use it still answers,
 * and the client keeps its cookie. Among the refused: a change to `during`, an increment of `n`, a
 * logout and a login of user 10.
 */
export async function expectBoundedOutage(client: Client, base: string, timeout: number, repeats: number): Promise<void> {
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
    expect(elapsed).toBeLessThan(timeout + OUTAGE_MARGIN);
  }
  // Later requests get the same bounded answer: nothing piles up waiting for connections or in an offline queue.
  for (let i = 0; i < repeats; i++) {
    const again = await timed(() => client.get('/me'));
    expect(again.reply.status).toBe(503);
    expect(again.elapsed).toBeLessThan(timeout + OUTAGE_MARGIN);
  }
  // A route that does not use the session does not care.
  const plain = await timed(() => client.get('/plain'));
  expect(plain.reply.status).toBe(200);
  expect(plain.elapsed).toBeLessThan(OUTAGE_MARGIN);
  expect(client.jar.has('sid')).toBe(true);
}

/** Once the store is back: the same cookie loads the session again, with what was written before the outage and nothing refused during it. */
export async function expectRecovered(client: Client, before: string): Promise<void> {
  await waitUntil('the session to load again', async () => (await client.get('/me')).status === 200, 10_000, 100);
  expect((await client.get('/me')).body).toEqual({ userId: 9 });
  expect((await client.get('/data')).body).toEqual({ userId: 9, before });
  expect((await client.post('/increment/n')).body).toEqual({ value: 1 });
}

/** What the proxied outage suite needs to know about one SQL store. */
export interface ProxiedSqlStore {
  /** Where the database listens. */
  target: { host: string; port: number };
  /** The store under test, on a pool of its own through the proxy listening on `port`. */
  newStore(port: number, statementTimeout: number): SessionStore;
  /** Stored rows written by the refused requests: with a `during` key, or of user `10`. */
  countRefusedWrites(): Promise<{ during: number; logins: number }>;
  /** Runs once the app and proxy are stopped: ends the store's pool, drops the suite's tables and ends its own pools. */
  cleanUp(): Promise<void>;
}

/**
 * Declares, inside a `describe`, the outage tests of a SQL store that the app reaches through a TCP
 * proxy this suite owns, which it cuts (refused, then blackholed) and restores.
 */
export function proxiedOutageTests(adapter: AdapterName, store: ProxiedSqlStore, statementTimeout = 500): void {
  let proxy: TcpProxy | undefined;
  let app: INestApplication | undefined;
  let base: string;

  beforeAll(async () => {
    proxy = await TcpProxy.start(store.target.host, store.target.port);
    app = await startApp(redisAppModule(store.newStore(proxy.port, statementTimeout)), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    try {
      await app?.close();
      await proxy?.dispose();
    } finally {
      await store.cleanUp();
    }
  });

  it.each<ProxyMode>(['refuse', 'blackhole'])('answers 503 within statementTimeout while the database is unreachable (%s), and recovers', async (mode) => {
    const client = await loggedInBeforeOutage(base, mode);
    await proxy!.set(mode);
    await expectBoundedOutage(client, base, statementTimeout, 3);
    await proxy!.set('up');
    await expectRecovered(client, mode);
    // Refused during the outage, the change and the login left nothing in the table either.
    expect(await store.countRefusedWrites()).toEqual({ during: 0, logins: 0 });
  });
}
