import type { Cluster, Redis } from 'ioredis';
import { RedisStore } from 'nestjs-sessionkit';
import { describeSessionStoreContract } from 'nestjs-sessionkit/testing';
import { newSessionId, sessionHandle } from '../../lib/http/session-cookie.js';
import { newHandle, patchOf, recordOf } from '../../lib/testing/session-store.contract.js';
import { scanKeys, sleep } from './redis.js';

/** What a contract run needs: a connected client and the suite's own key prefix. */
export interface ContractTarget {
  client: Redis | Cluster;
  prefix: string;
}

const HOUR = 3_600_000;

/** Every key under `prefix` with what it holds, for the contract kit's `dump`. */
async function dumpKeys(client: Redis | Cluster, prefix: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const key of await scanKeys(client, prefix)) {
    const type = await client.type(key);
    out.push([key, type === 'hash' ? await client.hgetall(key) : type === 'zset' ? await client.zrange(key, 0, '-1', 'WITHSCORES') : type]);
  }
  return out;
}

/**
 * {@link RedisStore} against a real Redis (single server, Sentinel or Cluster): the store contract
 * kit, then the Redis key layout (expiry of keys, user index upkeep). `target()` is read after the
 * caller's `beforeAll`.
 */
export function describeRedisStoreContract(title: string, target: () => ContractTarget): void {
  describeSessionStoreContract(
    `${title}: the store contract`,
    () => {
      const { client, prefix } = target();
      // scanCount 2: listByUser reads the index in several batches.
      return new RedisStore({ client, prefix: `${prefix}kit:`, scanCount: 2 });
    },
    { dump: () => dumpKeys(target().client, `${target().prefix}kit:`) },
  );

  describe(`${title}: key layout`, () => {
    let store: RedisStore;
    let client: Redis | Cluster;
    let prefix: string;
    const indexKey = (user: string): string => `${prefix}user:${user}`;

    beforeAll(() => {
      ({ client } = target());
      prefix = `${target().prefix}layout:`;
      store = new RedisStore({ client, prefix, scanCount: 2 });
    });

    it('patch of a missing session answers false and writes nothing', async () => {
      const handle = newHandle();
      const patch = patchOf({ set: { a: 1 }, incr: { n: 1 }, user: 'ghost' });
      expect(await store.patch(handle, patch, HOUR)).toBe(false);
      expect(await client.exists(prefix + handle)).toBe(0);
      expect(await client.exists(indexKey('ghost'))).toBe(0);

      await store.set(handle, recordOf({ a: 1 }, 'ghost'), HOUR);
      await store.destroy(handle);
      expect(await store.patch(handle, patch, HOUR)).toBe(false);
      expect(await client.exists(prefix + handle)).toBe(0);
      expect(await store.get(handle)).toBeUndefined();
    });

    it('touch sets touchedAt and extends the life of an existing session only', async () => {
      const handle = newHandle();
      const record = recordOf({ a: 1 }, 'toucher');
      await store.set(handle, record, 1_000);
      const touchedAt = Date.now() + 10;
      await store.touch(handle, { ...record, touchedAt }, HOUR);
      const got = await store.get(handle);
      expect(got).toEqual({ ...record, touchedAt });
      expect(await client.pttl(prefix + handle)).toBeGreaterThan(HOUR - 5_000);
      // The index follows the new expiry, so the session is not trimmed at its old one.
      expect(Number(await client.zscore(indexKey('toucher'), handle))).toBeGreaterThan(Date.now() + HOUR - 5_000);

      const missing = newHandle();
      await store.touch(missing, record, HOUR);
      expect(await client.exists(prefix + missing)).toBe(0);
    });

    it('forgets a session after its ttl', async () => {
      const handle = newHandle();
      await store.set(handle, recordOf({ a: 1 }, 'shortlived'), 150);
      expect(await store.get(handle)).toBeDefined();
      await sleep(400);
      expect(await store.get(handle)).toBeUndefined();
      expect(await store.patch(handle, patchOf({ set: { b: 2 } }), HOUR)).toBe(false);
      expect(await client.exists(prefix + handle)).toBe(0);
      expect(await store.listByUser('shortlived')).toEqual([]);
      // The index expired with its only member, without any further write.
      expect(await client.exists(indexKey('shortlived'))).toBe(0);
    });

    it('destroy removes the session and its index entry; a missing one is no error', async () => {
      const handle = newHandle();
      await store.set(handle, recordOf({ a: 1 }, 'destroyer'), HOUR);
      await store.destroy(handle);
      expect(await store.get(handle)).toBeUndefined();
      expect(await client.zscore(indexKey('destroyer'), handle)).toBeNull();
      await expect(store.destroy(handle)).resolves.toBeUndefined();
      await expect(store.destroy(newHandle())).resolves.toBeUndefined();
    });

    it('listByUser follows a user change made by patch, and a logout', async () => {
      const handle = newHandle();
      await store.set(handle, recordOf({ userId: 'carol' }, 'carol'), HOUR);
      expect(await store.patch(handle, patchOf({ set: { userId: 'dave' }, user: 'dave' }), HOUR)).toBe(true);
      expect(await store.listByUser('carol')).toEqual([]);
      expect((await store.listByUser('dave')).map((e) => e.handle)).toEqual([handle]);
      expect((await store.get(handle))!.user).toBe('dave');

      expect(await store.patch(handle, patchOf({ unset: ['userId'], user: null }), HOUR)).toBe(true);
      expect(await store.listByUser('dave')).toEqual([]);
      expect(await store.get(handle)).not.toHaveProperty('user');

      const logged = newHandle();
      await store.set(logged, recordOf({ userId: 'erin' }, 'erin'), HOUR);
      expect(await store.patch(logged, patchOf({ clear: true, user: null }), HOUR)).toBe(true);
      expect(await store.listByUser('erin')).toEqual([]);
      expect(await client.exists(indexKey('erin'))).toBe(0);
    });

    it('trims expired members from a user index, which expires with its last member', async () => {
      const [short, long] = [newHandle(), newHandle()];
      await store.set(short, recordOf({}, 'frank'), 150);
      await store.set(long, recordOf({}, 'frank'), 60_000);
      const ttl = await client.pttl(indexKey('frank'));
      expect(ttl).toBeGreaterThan(55_000);
      expect(ttl).toBeLessThanOrEqual(120_000);
      await sleep(400);
      // Any write to the index trims it.
      const third = newHandle();
      await store.set(third, recordOf({}, 'frank'), 60_000);
      expect(await client.zscore(indexKey('frank'), short)).toBeNull();
      expect(await client.zcard(indexKey('frank'))).toBe(2);
      await store.destroy(long);
      await store.destroy(third);
      expect(await client.exists(indexKey('frank'))).toBe(0);
    });

    it('listByUser drops members whose session is gone or belongs to someone else', async () => {
      const live = newHandle();
      const ghost = newHandle();
      const moved = newHandle();
      await store.set(live, recordOf({}, 'grace'), HOUR);
      await store.set(moved, recordOf({}, 'heidi'), HOUR);
      // As if an index write had been lost (possible on Cluster, where it is a separate command).
      await client.zadd(indexKey('grace'), Date.now() + HOUR, ghost, Date.now() + HOUR, moved);
      expect((await store.listByUser('grace')).map((e) => e.handle)).toEqual([live]);
      expect(await client.zscore(indexKey('grace'), ghost)).toBeNull();
      expect(await client.zscore(indexKey('grace'), moved)).toBeNull();
      expect(await client.zscore(indexKey('heidi'), moved)).not.toBeNull();
    });

    it('keeps no session id and nothing outside the documented layout', async () => {
      const id = newSessionId();
      const handle = sessionHandle(id);
      await store.set(handle, recordOf({ userId: 'ivan', cart: ['x'] }, 'ivan'), HOUR);
      await store.patch(handle, patchOf({ set: { step: 2 }, incr: { views: 1 } }), HOUR);
      await store.touch(handle, recordOf({}, 'ivan'), HOUR);
      const keys = await scanKeys(client, prefix);
      expect(keys).toContain(prefix + handle);
      expect(keys).toContain(indexKey('ivan'));
      for (const key of keys) {
        expect(key.slice(prefix.length)).toMatch(/^([0-9a-f]{64}|user:.+)$/);
        expect(key).not.toContain(id);
        if (key.startsWith(`${prefix}user:`)) {
          expect(await client.type(key)).toBe('zset');
          for (const member of await client.zrange(key, 0, '-1')) expect(member).toMatch(/^[0-9a-f]{64}$/);
        } else {
          expect(await client.type(key)).toBe('hash');
          const fields = await client.hgetall(key);
          for (const [field, value] of Object.entries(fields)) {
            expect(field).toMatch(/^(@[ctux]|\..*)$/);
            expect(value).not.toContain(id);
            if (field.startsWith('.')) expect(() => JSON.parse(value)).not.toThrow();
          }
        }
      }
      expect(await client.hgetall(prefix + handle)).toMatchObject({ '@u': 'ivan', '.userId': '"ivan"', '.cart': '["x"]', '.step': '2', '.views': '1' });
    });

    it('leaves no key behind a session destroyed while a patch was on its way', async () => {
      for (let i = 0; i < 20; i++) {
        const handle = newHandle();
        await store.set(handle, recordOf({ userId: 'judy' }, 'judy'), HOUR);
        await Promise.all([store.destroy(handle), store.patch(handle, patchOf({ set: { late: i } }), HOUR), store.touch(handle, recordOf({}, 'judy'), HOUR)]);
        expect(await client.exists(prefix + handle)).toBe(0);
      }
      expect(await store.listByUser('judy')).toEqual([]);
    });
  });
}
