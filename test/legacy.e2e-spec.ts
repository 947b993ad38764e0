import { jest } from '@jest/globals';
import { type INestApplication, Logger } from '@nestjs/common';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { sign } from 'cookie-signature';
import { createClient } from 'redis';
import type { Redis } from 'ioredis';
import { RedisStore } from 'nestjs-sessionkit';
import { LEGACY_SECRET, newApp, passportMiddleware, passwordOf, startOldApp } from './fixtures/legacy.fixture.js';
import { type AdapterName, adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';
import { handleOf, idOf } from './support/cookies.js';
import { counting } from './support/express-session-stores.js';
import { REDIS_URL, deleteKeys, newRedis, scanKeys, testPrefix } from './support/redis.js';

const USERS = 1_000;
const BATCH = 50;

interface FastifyLike {
  addHook(name: 'preHandler', hook: (req: unknown, reply: unknown, done: (error?: unknown) => void) => void): void;
}

function mountPassport(app: INestApplication, adapter: AdapterName): void {
  if (adapter === 'express') {
    for (const m of passportMiddleware()) app.use(m);
    return;
  }
  const fastify = app.getHttpAdapter().getInstance() as FastifyLike;
  for (const m of passportMiddleware()) fastify.addHook('preHandler', (req, reply, done) => m(req, reply, done));
}

/** `work` for every item, `BATCH` at a time. */
async function inBatches<T>(items: T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += BATCH) await Promise.all(items.slice(i, i + BATCH).map((item, j) => work(item, i + j)));
}

/** The session id inside an express-session cookie value (`s%3A<sid>.<signature>`). */
const legacyId = (value: string): string => {
  const decoded = decodeURIComponent(value);
  return decoded.slice(2, decoded.lastIndexOf('.'));
};

describe.each(adapters)('Moving a live app from express-session (%s)', (adapter) => {
  const prefix = testPrefix(`legacy-${adapter}`);
  const legacyPrefix = `${prefix}old:`;
  const ourPrefix = `${prefix}new:`;
  let oldRedis: ReturnType<typeof createClient>;
  let redis: Redis;
  let oldStore: ConnectRedisStore;
  let oldApp: { url: string; close(): Promise<void> };
  let newStore: RedisStore;
  let legacy: ReturnType<typeof counting>;
  let app: INestApplication;
  let base: string;
  const names = Array.from({ length: USERS }, (_, i) => `user${i}`);
  const clients: Client[] = [];

  const legacyKeys = async (): Promise<string[]> => scanKeys(redis, legacyPrefix);
  const ourData = async (client: Client): Promise<unknown> => (await newStore.get(handleOf(idOf(client.jar.get('sid')!))))?.data;

  /** A client of the old app, logged in there as `name`. */
  async function loggedInOld(name: string): Promise<Client> {
    const client = new Client(oldApp.url);
    const login = await client.post('/login', { username: name, password: passwordOf(name) });
    expect(login.status).toBe(200);
    expect(client.jar.get('connect.sid')).toMatch(/^s%3A/);
    return client;
  }

  /** The same browser, now talking to the new app. */
  const toNewApp = (client: Client): Client => {
    const moved = new Client(base);
    for (const [k, v] of client.jar) moved.jar.set(k, v);
    return moved;
  };

  beforeAll(async () => {
    oldRedis = createClient({ url: REDIS_URL });
    oldRedis.on('error', () => undefined);
    await oldRedis.connect();
    redis = newRedis();
    oldStore = new ConnectRedisStore({ client: oldRedis, prefix: legacyPrefix });
    oldApp = await startOldApp(oldStore);
    newStore = new RedisStore({ client: redis, prefix: ourPrefix });
    legacy = counting(oldStore);
    app = await startApp(newApp(newStore, legacy.store, true), adapter, { beforeInit: (a) => mountPassport(a, adapter) });
    base = await baseUrl(app);
  }, 30_000);

  afterAll(async () => {
    await app?.close();
    await oldApp?.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
    oldRedis.destroy();
  });

  it(`the old app logs ${USERS} users in`, async () => {
    await inBatches(names, async (name, i) => {
      clients[i] = await loggedInOld(name);
    });
    expect(await legacyKeys()).toHaveLength(USERS);
    const stored = await oldRedis.get(`${legacyPrefix}${legacyId(clients[0]!.jar.get('connect.sid')!)}`);
    expect(JSON.parse(stored!)).toMatchObject({ passport: { user: 'user0' } });
    expect((await clients[0]!.get('/me')).body).toEqual({ user: { name: 'user0' } });
  }, 60_000);

  it('a forged, unsigned or mis-signed old cookie logs nobody in, and the old store is not even read', async () => {
    const sid = legacyId(clients[0]!.jar.get('connect.sid')!);
    const forged = [
      sid, // unsigned, as a bare id
      `s:${sign(sid, 'a guessed secret')}`, // signed with another secret
      `s:${sid}.${'A'.repeat(43)}`, // a made-up signature
      `s:${sign(sid, LEGACY_SECRET).slice(0, -1)}`, // a signature cut short
      `s:${sign(`${sid}x`, LEGACY_SECRET).replace(`${sid}x`, sid)}`, // the signature of another id
    ];
    const readsBefore = legacy.reads.length;
    for (const value of forged) {
      const client = new Client(base);
      client.jar.set('connect.sid', encodeURIComponent(value));
      const me = await client.get('/me');
      expect(me.status).toBe(403);
      // Nothing adopted: no session of ours, and the old cookie left alone.
      expect(client.jar.get('sid')).toBeUndefined();
      expect(me.setCookies).toEqual([]);
    }
    expect(legacy.reads.length).toBe(readsBefore);
    // The victim's old session is untouched.
    expect(await oldRedis.exists(`${legacyPrefix}${sid}`)).toBe(1);
  });

  it('a validly signed old cookie naming no session adopts nothing and is cleared', async () => {
    const client = new Client(base);
    client.jar.set('connect.sid', encodeURIComponent(`s:${sign('no-such-session', LEGACY_SECRET)}`));
    const me = await client.get('/me');
    expect(me.status).toBe(403);
    expect(legacy.reads).toContain('no-such-session');
    expect(client.jar.has('connect.sid')).toBe(false);
    expect(client.jar.get('sid')).toBeUndefined();
  });

  it(`all ${USERS} stay logged in on the new app; their old records are gone; their next request carries only our cookie`, async () => {
    const moved = clients.map(toNewApp);
    await inBatches(moved, async (client, i) => {
      const oldSid = legacyId(client.jar.get('connect.sid')!);
      const me = await client.get('/me');
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ user: { name: names[i] } });
      // The old cookie cleared with the attributes it was set with; a new cookie of ours, under a new id.
      const cleared = me.setCookies.find((c) => c.startsWith('connect.sid='));
      expect(cleared!.split('; ').sort()).toEqual(['Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'Max-Age=0', 'Path=/', 'connect.sid=']);
      expect(client.jar.has('connect.sid')).toBe(false);
      const sid = client.jar.get('sid')!;
      expect(sid).toBeDefined();
      expect(idOf(sid)).not.toBe(oldSid);
      // The Passport login carried over as it was, and nothing else (no `cookie` field).
      expect(await ourData(client)).toEqual({ passport: { user: names[i] } });
      expect(await oldRedis.exists(`${legacyPrefix}${oldSid}`)).toBe(0);
    });
    expect(await legacyKeys()).toEqual([]);

    const readsBefore = legacy.reads.length;
    await inBatches(moved, async (client, i) => {
      expect([...client.jar.keys()]).toEqual(['sid']);
      const me = await client.get('/me');
      expect(me.status).toBe(200);
      expect(me.body).toEqual({ user: { name: names[i] } });
      expect(me.setCookies.filter((c) => c.startsWith('connect.sid='))).toEqual([]);
    });
    expect(legacy.reads.length).toBe(readsBefore);
  }, 120_000);

  it('a request with both cookies uses ours and clears the old one, leaving its record alone', async () => {
    const mine = toNewApp(await loggedInOld('both-mine'));
    expect((await mine.get('/me')).body).toEqual({ user: { name: 'both-mine' } });
    const other = await loggedInOld('both-other');
    const otherCookie = other.jar.get('connect.sid')!;
    mine.jar.set('connect.sid', otherCookie);
    const ourId = mine.jar.get('sid');

    const me = await mine.get('/me');
    expect(me.body).toEqual({ user: { name: 'both-mine' } });
    expect(mine.jar.get('sid')).toBe(ourId);
    expect(mine.jar.has('connect.sid')).toBe(false);
    expect(await oldRedis.exists(`${legacyPrefix}${legacyId(otherCookie)}`)).toBe(1);
  });

  it('a stolen old cookie replayed after the move logs nobody in', async () => {
    const client = await loggedInOld('replayed');
    const old = client.jar.get('connect.sid')!;
    const moved = toNewApp(client);
    expect((await moved.get('/me')).status).toBe(200);
    const thief = new Client(base);
    thief.jar.set('connect.sid', old);
    expect((await thief.get('/me')).status).toBe(403);
    expect(thief.jar.get('sid')).toBeUndefined();
  });
});

describe.each(adapters)('The legacy option on routes without Passport (%s)', (adapter) => {
  const prefix = testPrefix(`legacy-plain-${adapter}`);
  let oldRedis: ReturnType<typeof createClient>;
  let redis: Redis;
  let oldStore: ConnectRedisStore;
  let legacy: ReturnType<typeof counting>;
  let newStore: RedisStore;
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    oldRedis = createClient({ url: REDIS_URL });
    oldRedis.on('error', () => undefined);
    await oldRedis.connect();
    redis = newRedis();
    oldStore = new ConnectRedisStore({ client: oldRedis, prefix: `${prefix}old:` });
    legacy = counting(oldStore);
    newStore = new RedisStore({ client: redis, prefix: `${prefix}new:` });
    app = await startApp(newApp(newStore, legacy.store, false), adapter);
    base = await baseUrl(app);
  });
  afterAll(async () => {
    await app?.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
    oldRedis.destroy();
  });

  /** An old session with `data`, written as express-session writes it, and its cookie. */
  async function oldSession(sid: string, data: Record<string, unknown>): Promise<Client> {
    await new Promise<void>((resolve, reject) =>
      oldStore.set(sid, { cookie: { originalMaxAge: 3_600_000, expires: new Date(Date.now() + 3_600_000), httpOnly: true, path: '/' }, ...data } as never, (e) => (e ? reject(e as Error) : resolve())),
    );
    const client = new Client(base);
    client.jar.set('connect.sid', encodeURIComponent(`s:${sign(sid, LEGACY_SECRET)}`));
    return client;
  }

  it('a route that does not use the session pays nothing: no read of the old store, no cookie change', async () => {
    const client = await oldSession('plain-none', { cart: [1, 2] });
    const reads = legacy.reads.length;
    const res = await client.get('/none');
    expect(res.status).toBe(200);
    expect(res.setCookies).toEqual([]);
    expect(legacy.reads.length).toBe(reads);
    expect(await oldRedis.exists(`${prefix}old:plain-none`)).toBe(1);
  });

  it('the first route that uses the session adopts the old data; the session goes on as ours', async () => {
    const client = await oldSession('plain-used', { cart: [1, 2], visits: 41 });
    const first = await client.get('/visits');
    expect(first.body).toEqual({ visits: 42, passport: null });
    expect(client.jar.has('connect.sid')).toBe(false);
    expect((await newStore.get(handleOf(idOf(client.jar.get('sid')!))))?.data).toEqual({ cart: [1, 2], visits: 42 });
    expect(await oldRedis.exists(`${prefix}old:plain-used`)).toBe(0);
    expect((await client.get('/visits')).body).toEqual({ visits: 43, passport: null });
  });

  it('a cookie of ours whose session has ended does not stop the move', async () => {
    const client = await oldSession('plain-dead-ours', { visits: 9 });
    client.jar.set('sid', 'x'.repeat(43) + '.' + 'y'.repeat(43));
    expect((await client.get('/visits')).body).toEqual({ visits: 10, passport: null });
    expect(client.jar.has('connect.sid')).toBe(false);
    expect(await oldRedis.exists(`${prefix}old:plain-dead-ours`)).toBe(0);
  });

  it('a cookie whose name only ends with the old name is not the old cookie', async () => {
    const client = new Client(base);
    await client.get('/visits');
    client.jar.set('xconnect.sid', encodeURIComponent(`s:${sign('whatever', LEGACY_SECRET)}`));
    const res = await client.get('/visits');
    expect(res.body).toEqual({ visits: 2, passport: null });
    expect(res.setCookies.filter((c) => c.includes('connect.sid'))).toEqual([]);
  });

  it('an old session holding a reserved key is not adopted and stays in the old store (logged once), and the request gets a fresh session', async () => {
    const key = `${prefix}old:plain-reserved`;
    // Written straight into the old store, as another program (or an older express-session app) might have.
    const stored = `{"cookie":{"originalMaxAge":3600000,"expires":"${new Date(Date.now() + 3_600_000).toISOString()}"},"passport":{"user":"mallory"},"visits":5,"__proto__":{"isAdmin":true}}`;
    await oldRedis.set(key, stored, { EX: 3_600 });
    const warnings: string[] = [];
    const spy = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
    try {
      for (let i = 0; i < 2; i++) {
        const client = new Client(base);
        client.jar.set('connect.sid', encodeURIComponent(`s:${sign('plain-reserved', LEGACY_SECRET)}`));
        const res = await client.get('/visits');
        expect(res.body).toEqual({ visits: 1, passport: null });
        // A fresh session of ours, holding nothing of the old one; the old cookie is left as it was.
        expect((await newStore.get(handleOf(idOf(client.jar.get('sid')!))))?.data).toEqual({ visits: 1 });
        expect(client.jar.has('connect.sid')).toBe(true);
        expect(res.setCookies.filter((c) => c.startsWith('connect.sid='))).toEqual([]);
      }
    } finally {
      spy.mockRestore();
    }
    // The old record is untouched: nothing lost, nobody logged out of the old app.
    expect(await oldRedis.get(key)).toBe(stored);
    const refusals = warnings.filter((w) => w.includes('was not adopted'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(/because its data has the reserved key "__proto__".*left in the old store/);
  });

  it('an expired old session adopts nothing', async () => {
    // Kept by Redis past the expiry its cookie states (connect-redis would not write it so).
    await oldRedis.set(`${prefix}old:plain-expired`, JSON.stringify({ cookie: { originalMaxAge: 3_600_000, expires: new Date(Date.now() - 1_000) }, visits: 7 }), { EX: 3_600 });
    const client = new Client(base);
    client.jar.set('connect.sid', encodeURIComponent(`s:${sign('plain-expired', LEGACY_SECRET)}`));
    expect((await client.get('/visits')).body).toEqual({ visits: 1, passport: null });
  });
});
