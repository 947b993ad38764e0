import type { Cluster, Redis } from 'ioredis';
import { MemoryStore, RedisStore, type SessionPatch, type SessionRecord } from 'nestjs-sessionkit';
import { newSessionId, sessionHandle } from '../../lib/http/session-cookie.js';
import { scanKeys, sleep } from './redis.js';

/** What a contract run needs: a connected client and the suite's own key prefix. */
export interface ContractTarget {
  client: Redis | Cluster;
  prefix: string;
}

/** A handle as the core makes them: the SHA-256 of a fresh session id. */
export function newHandle(): string {
  return sessionHandle(newSessionId());
}

/** A patch that changes nothing but `touchedAt`, overridden by `change`. */
export function patchOf(change: Partial<SessionPatch>): SessionPatch {
  return { clear: false, set: {}, unset: [], incr: {}, touchedAt: Date.now(), ...change };
}

export function recordOf(data: Record<string, unknown>, user?: string): SessionRecord {
  const now = Date.now();
  const record: SessionRecord = { data, createdAt: now - 1_000, touchedAt: now };
  if (user !== undefined) record.user = user;
  return record;
}

const HOUR = 3_600_000;

/**
 * The {@link RedisStore} contract against a real Redis (single server, Sentinel or Cluster):
 * defines one `describe` block; `target()` is read in the tests, after the caller's `beforeAll`.
 */
export function describeRedisStoreContract(title: string, target: () => ContractTarget): void {
  describe(title, () => {
    let store: RedisStore;
    let client: Redis | Cluster;
    let prefix: string;
    const indexKey = (user: string): string => `${prefix}user:${user}`;

    beforeAll(() => {
      ({ client, prefix } = target());
      store = new RedisStore({ client, prefix, scanCount: 2 });
    });

    it('answers undefined for an unknown handle', async () => {
      expect(await store.get(newHandle())).toBeUndefined();
    });

    it('gives back an equal record, whatever the keys are called', async () => {
      const handle = newHandle();
      const data = {
        userId: 7,
        name: 'Zoë 🍪',
        nested: { list: [1, 'two', null, { deep: true }], empty: {} },
        '@c': 'looks like a reserved field',
        '@u': 'so does this',
        '.dot': 0.1,
        '': 'empty key',
        'user:1': -0.5,
        big: Number.MAX_SAFE_INTEGER,
        tiny: 5e-324,
      };
      const record = recordOf(data, '7');
      await store.set(handle, record, HOUR);
      expect(await store.get(handle)).toEqual(record);

      const anonymous = recordOf({ cart: [] });
      const other = newHandle();
      await store.set(other, anonymous, HOUR);
      const got = await store.get(other);
      expect(got).toEqual(anonymous);
      expect(got).not.toHaveProperty('user');
    });

    it('keeps a key named __proto__ as plain data, in a prototype-less object', async () => {
      const handle = newHandle();
      const data = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as Record<string, unknown>;
      await store.set(handle, recordOf(data), HOUR);
      const got = await store.get(handle);
      expect(Object.keys(got!.data).sort()).toEqual(['__proto__', 'ok']);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getPrototypeOf(got!.data)).toBeNull();
      expect(got!.data.polluted).toBeUndefined();
    });

    it('move writes the record under the new handle and removes the old one, user index included', async () => {
      const from = newHandle();
      const to = newHandle();
      await store.set(from, recordOf({ a: 1 }, 'u-move-old'), HOUR);
      const moved = recordOf({ a: 1, b: 2 }, 'u-move-new');
      expect(await store.move(from, to, moved, HOUR)).toBe(true);
      expect(await store.get(from)).toBeUndefined();
      expect(await store.get(to)).toEqual(moved);
      expect(await store.listByUser('u-move-old')).toEqual([]);
      expect((await store.listByUser('u-move-new')).map((e) => e.handle)).toEqual([to]);
      const ttl = await client.pttl(prefix + to);
      expect(ttl).toBeGreaterThan(HOUR - 60_000);
    });

    it('move changes nothing when the old session is gone (destroyed or expired)', async () => {
      const from = newHandle();
      const to = newHandle();
      await store.set(from, recordOf({ a: 1 }, 'u-move-gone'), HOUR);
      await store.destroy(from);
      expect(await store.move(from, to, recordOf({ a: 1 }, 'u-move-gone'), HOUR)).toBe(false);
      expect(await store.get(to)).toBeUndefined();
      expect(await client.exists(prefix + to)).toBe(0);
      expect(await store.listByUser('u-move-gone')).toEqual([]);

      await store.set(from, recordOf({ a: 1 }), 30);
      await sleep(60);
      expect(await store.move(from, to, recordOf({ a: 1 }), HOUR)).toBe(false);
      expect(await client.exists(prefix + to)).toBe(0);
    });

    it('set replaces the whole record, user included', async () => {
      const handle = newHandle();
      await store.set(handle, recordOf({ a: 1, b: 2 }, 'u-replace'), HOUR);
      const replacement = recordOf({ c: 3 });
      await store.set(handle, replacement, HOUR);
      expect(await store.get(handle)).toEqual(replacement);
      expect(await store.listByUser('u-replace')).toEqual([]);
    });

    it('patch applies clear, unset, set and incr in that order, then touchedAt', async () => {
      const handle = newHandle();
      await store.set(handle, recordOf({ a: 1, b: 2, c: 'x', n: 5 }), HOUR);
      const touchedAt = Date.now() + 5;
      expect(await store.patch(handle, patchOf({ unset: ['a', 'missing'], set: { c: 'y', d: [1, { e: null }], s: 10 }, incr: { n: 2, m: 3, s: 5 }, touchedAt }), HOUR)).toBe(true);
      const got = await store.get(handle);
      expect(got!.data).toEqual({ b: 2, c: 'y', d: [1, { e: null }], n: 7, m: 3, s: 15 });
      expect(got!.touchedAt).toBe(touchedAt);

      expect(await store.patch(handle, patchOf({ clear: true, set: { fresh: true }, incr: { n: 1 } }), HOUR)).toBe(true);
      expect((await store.get(handle))!.data).toEqual({ fresh: true, n: 1 });
    });

    it('increments JSON numbers exactly as JavaScript adds them', async () => {
      const handle = newHandle();
      const start = { f: 0.1, big: 2 ** 53 - 2, neg: -1.5, str: '5', nul: null, obj: { n: 1 }, huge: 1e21, e: 1e-7, t: 1.1 };
      const steps: Record<string, number>[] = [
        { f: 0.2, big: 1, neg: -2.25, str: 1, nul: 2, obj: 3, missing: 1e-7, huge: 1, e: 3, t: 2.2 },
        { f: 1 / 3, neg: 1e-17, missing: -1e-7, t: -3.3 },
        { f: -0.30000000000000004, huge: -1e21, e: Number.MIN_VALUE },
      ];
      const memory = new MemoryStore();
      try {
        await store.set(handle, recordOf(start), HOUR);
        await memory.set(handle, recordOf(start), HOUR);
        for (const incr of steps) {
          expect(await store.patch(handle, patchOf({ incr }), HOUR)).toBe(true);
          await memory.patch(handle, patchOf({ incr }), HOUR);
          expect((await store.get(handle))!.data).toEqual((await memory.get(handle))!.data);
        }
        expect((await store.get(handle))!.data.f).toBe(0.1 + 0.2 + 1 / 3 - 0.30000000000000004);
      } finally {
        await memory.close();
      }
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

    it('listByUser lists the live sessions of that user only', async () => {
      const [a1, a2, a3, b1, anon] = [newHandle(), newHandle(), newHandle(), newHandle(), newHandle()];
      const r1 = { ...recordOf({ userId: 'alice' }, 'alice'), createdAt: 1_000 };
      await store.set(a1, r1, HOUR);
      await store.set(a2, recordOf({ userId: 'alice', n: 1 }, 'alice'), HOUR);
      await store.set(a3, recordOf({ userId: 'alice' }, 'alice'), HOUR);
      await store.set(b1, recordOf({ userId: 'bob' }, 'bob'), HOUR);
      await store.set(anon, recordOf({ cart: [1] }), HOUR);
      // scanCount is 2 here, so this reads and checks the index in several batches.
      const alice = await store.listByUser('alice');
      expect(alice.map((e) => e.handle).sort()).toEqual([a1, a2, a3].sort());
      expect(alice.find((e) => e.handle === a1)).toEqual({ handle: a1, createdAt: 1_000, touchedAt: r1.touchedAt });
      expect((await store.listByUser('bob')).map((e) => e.handle)).toEqual([b1]);
      expect(await store.listByUser('nobody')).toEqual([]);

      await store.destroy(a2);
      expect((await store.listByUser('alice')).map((e) => e.handle).sort()).toEqual([a1, a3].sort());
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

    it('loses nothing when 50 patches run at once', async () => {
      const handle = newHandle();
      await store.set(handle, recordOf({ base: true }), HOUR);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.patch(handle, patchOf({ set: { [`k${i}`]: i }, incr: { n: 1, half: 0.5 } }), HOUR)),
      );
      expect(results.every(Boolean)).toBe(true);
      const data = (await store.get(handle))!.data;
      for (let i = 0; i < 50; i++) expect(data[`k${i}`]).toBe(i);
      expect(data.n).toBe(50);
      expect(data.half).toBe(25);
    });

    it('never brings back a session destroyed while a patch was on its way', async () => {
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
