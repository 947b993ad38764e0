import type { INestApplication } from '@nestjs/common';
import { Cluster } from 'ioredis';
import { RedisStore } from 'nestjs-sessionkit';
import { redisAppModule } from '../fixtures/redis-app.fixture.js';
import { adapters, baseUrl, startApp } from '../support/app.js';
import { Client } from '../support/client.js';
import { closeClient, testPrefix, waitUntil } from '../support/redis.js';
import { type TestCluster, startRedisCluster } from '../support/redis-cluster.js';
import { newHandle, patchOf, recordOf } from '../../lib/testing/session-store.contract.js';
import { describeRedisStoreContract } from '../support/redis-store-contract.js';
import { SCRIPTS } from '../../lib/stores/redis.scripts.js';

// A real 3-master Redis Cluster on loopback, started for this file and shut down after it.
let cluster: TestCluster | undefined;
let client: Cluster;
const prefix = testPrefix('cluster');

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  client = new Cluster(cluster.nodes, { redisOptions: { disconnectTimeout: 100 } });
  client.on('error', () => {});
  await waitUntil('the cluster client to be ready', () => client.status === 'ready', 10_000);
}, 30_000);
afterAll(async () => {
  try {
    await closeClient(client);
  } finally {
    await cluster?.stop();
  }
});

describeRedisStoreContract('RedisStore on a 3-master Redis Cluster', () => ({ client, prefix }));

describe('RedisStore on a Cluster: user index in another hash slot', () => {
  it('keeps the index in its own slot, updated by a separate command, and repairs a lost index write', async () => {
    const store = new RedisStore({ client, prefix: `${prefix}slots:` });
    // Find a user whose index lands on another slot than the session.
    const handle = newHandle();
    const sessionSlot = Number(await client.cluster('KEYSLOT', `${prefix}slots:${handle}`));
    let user = 'u0';
    for (let i = 0; Number(await client.cluster('KEYSLOT', `${prefix}slots:user:${user}`)) === sessionSlot; i++) user = `u${i}`;

    await store.set(handle, recordOf({ userId: user }, user), 60_000);
    expect((await store.listByUser(user)).map((e) => e.handle)).toEqual([handle]);
    // The session remembers the (headroom) score it put in the index: the next writes need no index command.
    const indexed = Number(await client.hget(`${prefix}slots:${handle}`, '@x'));
    expect(indexed).toBeGreaterThan(Date.now() + 100_000);
    expect(Number(await client.zscore(`${prefix}slots:user:${user}`, handle))).toBe(indexed);

    // A lost index write (index entry gone, @x cleared as after a failure) is repaired by the next write.
    await client.zrem(`${prefix}slots:user:${user}`, handle);
    await client.hdel(`${prefix}slots:${handle}`, '@x');
    expect(await store.patch(handle, patchOf({ set: { step: 1 } }), 60_000)).toBe(true);
    expect((await store.listByUser(user)).map((e) => e.handle)).toEqual([handle]);
    await store.destroy(handle);
    expect(await store.listByUser(user)).toEqual([]);
  });
});

describe('RedisStore on a Cluster: a move racing destroyByUser or destroy', () => {
  const TRIALS = 100;

  /**
   * A store whose move is held just before (or just after) its claim of the old session, the
   * script that runs in the old session's hash slot, until `hold` resolves: what a revoke landing
   * between the move's commands (in another slot) would see.
   */
  function heldMover(phase: 'before' | 'after', hold: Promise<void>, reached: () => void): RedisStore {
    const isMove = (script: unknown): boolean => script === SCRIPTS.move.sha || script === SCRIPTS.move.source;
    const link = new Proxy(client, {
      get(target, name, receiver) {
        const value: unknown = Reflect.get(target, name, receiver);
        if (typeof value !== 'function') return value;
        if (name !== 'evalsha' && name !== 'eval') return value.bind(target);
        return async (script: unknown, ...args: unknown[]) => {
          if (phase === 'before' && isMove(script)) {
            reached();
            await hold;
          }
          const reply: unknown = await (value as (...a: unknown[]) => Promise<unknown>).call(target, script, ...args);
          if (phase === 'after' && isMove(script)) {
            reached();
            await hold;
          }
          return reply;
        };
      },
    });
    return new RedisStore({ client: link, prefix: `${prefix}race:` });
  }

  async function race(phase: 'before' | 'after', revoke: (store: RedisStore, user: string, from: string) => Promise<unknown>): Promise<string[]> {
    const store = new RedisStore({ client, prefix: `${prefix}race:` });
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: TRIALS }, async (_, n) => {
        const user = `racer-${n}-${Math.random()}`;
        const [from, to] = [newHandle(), newHandle()];
        await store.set(from, recordOf({ userId: user }, user), 60_000);
        let release!: () => void;
        let reached!: () => void;
        const hold = new Promise<void>((resolve) => (release = resolve));
        const atHold = new Promise<void>((resolve) => (reached = resolve));
        const moving = heldMover(phase, hold, reached).move(from, to, recordOf({ userId: user, x: 1 }, user), 60_000);
        await atHold;
        await revoke(store, user, from);
        release();
        await moving;
        if ((await store.get(to)) !== undefined) failures.push(`trial ${n}: the moved session lives on`);
        if ((await store.listByUser(user)).length > 0) failures.push(`trial ${n}: the user still has sessions`);
      }),
    );
    return failures;
  }

  it.each(['before', 'after'] as const)(`destroyByUser landing just %s the claim of the old session: ${TRIALS} trials, no session survives`, async (phase) => {
    expect(await race(phase, (store, user) => store.destroyByUser(user))).toEqual([]);
  });

  it.each(['before', 'after'] as const)(`destroy through the old handle (a logout with the pre-login cookie) just %s the claim: ${TRIALS} trials, no session survives`, async (phase) => {
    expect(await race(phase, (store, _, from) => store.destroy(from))).toEqual([]);
  });
});

describe('RedisStore on a Cluster: a failing index write', () => {
  it('fails a set (its session is never handed out), but not a patch, which retries on the next write', async () => {
    const store = new RedisStore({ client, prefix: `${prefix}fault:` });
    // A key of the wrong type makes every write to this user's index fail (WRONGTYPE).
    await client.set(`${prefix}fault:user:broken`, 'not a sorted set');
    const fresh = newHandle();
    await expect(store.set(fresh, recordOf({ userId: 'broken' }, 'broken'), 60_000)).rejects.toThrow(/WRONGTYPE/);

    const handle = newHandle();
    await store.set(handle, recordOf({ n: 0 }), 60_000);
    expect(await store.patch(handle, patchOf({ set: { userId: 'broken' }, user: 'broken' }), 60_000)).toBe(true);
    expect((await store.get(handle))!.user).toBe('broken');
    expect(await client.hexists(`${prefix}fault:${handle}`, '@x')).toBe(0);

    await client.del(`${prefix}fault:user:broken`);
    expect(await store.patch(handle, patchOf({ incr: { n: 1 } }), 60_000)).toBe(true);
    expect((await store.listByUser('broken')).map((e) => e.handle)).toEqual([handle]);
  });
});

describe.each(adapters)('login, list and destroyByUser over a Cluster (%s)', (adapter) => {
  let app: INestApplication | undefined;
  let base: string;

  beforeAll(async () => {
    app = await startApp(redisAppModule(new RedisStore({ client, prefix: `${prefix}${adapter}:` })), adapter);
    base = await baseUrl(app);
  });
  afterAll(() => app?.close());

  it('lists the sessions of a user and logs out the others', async () => {
    const devices = [new Client(base), new Client(base), new Client(base)];
    for (const device of devices) expect((await device.post('/login', { userId: 'cluster-user' })).status).toBe(200);
    const stranger = new Client(base);
    await stranger.post('/login', { userId: 'someone-else' });

    const list = await devices[0]!.get('/sessions');
    expect(list.status).toBe(200);
    const sessions = list.body as { handle: string; current: boolean; createdAt: number; lastSeenAt: number }[];
    expect(sessions).toHaveLength(3);
    expect(sessions.filter((s) => s.current)).toHaveLength(1);

    expect((await devices[0]!.post('/logout-others')).body).toEqual({ destroyed: 2 });
    expect((await devices[0]!.get('/me')).status).toBe(200);
    expect((await devices[1]!.get('/me')).status).toBe(401);
    expect((await devices[2]!.get('/me')).status).toBe(401);
    expect((await stranger.get('/me')).status).toBe(200);
    expect(((await devices[0]!.get('/sessions')).body as unknown[]).length).toBe(1);

    expect((await devices[0]!.post('/logout')).status).toBe(200);
    expect((await devices[0]!.get('/me')).status).toBe(401);
  });
});

describe('RedisStore on a Cluster: session locks', () => {
  it.each([
    ['a plain prefix', `${prefix}locks:`, (p: string, h: string) => `{${p}${h}}:lock`],
    ['a prefix with a hash tag', `{${prefix}tagged}:`, (p: string, h: string) => `${p}${h}:lock`],
  ])("keeps a session's lock in the session's hash slot, with %s", async (_, storePrefix, lockKeyOf) => {
    const store = new RedisStore({ client, prefix: storePrefix });
    const handle = newHandle();
    await store.set(handle, recordOf({ n: 1 }), 60_000);
    const lease = await store.lock(handle, { ttlMs: 60_000, waitMs: 0 });
    expect(lease).toBeDefined();
    const lockKey = lockKeyOf(storePrefix, handle);
    expect(await client.exists(lockKey)).toBe(1);
    expect(Number(await client.cluster('KEYSLOT', lockKey))).toBe(Number(await client.cluster('KEYSLOT', `${storePrefix}${handle}`)));
    expect(await store.lock(handle, { ttlMs: 60_000, waitMs: 0 })).toBeUndefined();
    await lease!.release();
    expect(await client.exists(lockKey)).toBe(0);
    await store.destroy(handle);
  });
});
