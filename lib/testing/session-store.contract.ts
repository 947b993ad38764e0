import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { newSessionId, sessionHandle } from '../http/session-cookie.js';
import { SessionError } from '../core/session.errors.js';
import type { SessionPatch, SessionRecord, SessionStore } from '../stores/session-store.interface.js';

/** The optional {@link SessionStore} methods a store may leave out. */
export type OptionalStoreMethod = 'touch' | 'patch' | 'move' | 'listByUser';

/**
 * What a store declares it cannot do, for {@link SessionStoreContractOptions.capabilities}: the
 * gaps are tested and named in the run's output rather than skipped in silence.
 */
export interface SessionStoreCapabilities {
  /**
   * Optional methods the store cannot offer, each with the reason (shown in the test's title). The
   * tests that need one are skipped, and a test of its own checks the declaration: the method is
   * absent, or rejects with a `SessionError` (as `ExpressSessionStore.listByUser` does over a store
   * without `all()`).
   * @defaultValue `{}`
   */
  missing?: Partial<Record<OptionalStoreMethod, string>>;
  /**
   * How far `patch` is atomic. `'store'`: the store applies it in one step, so any number of app
   * instances keep each other's changes. `'process'`: patches of one session are serialized inside
   * one store instance only (a read-modify-write, e.g. `ExpressSessionStore`): the concurrency tests
   * then prove exactly that, and say so in their titles.
   * @defaultValue `'store'`
   */
  atomicity?: 'store' | 'process';
}

/** Options of {@link describeSessionStoreContract}. */
export interface SessionStoreContractOptions {
  /**
   * What the store declares it cannot do (see {@link SessionStoreCapabilities}).
   * @defaultValue none: every method, atomic in the store
   */
  capabilities?: SessionStoreCapabilities;
  /**
   * Everything the store holds right now, as text (or any value, which is `JSON.stringify`-ed):
   * for a SQL store the rows of its table, for a key-value store its keys and values. With it,
   * the kit checks that no session id reaches the store and that expired sessions are cleaned up;
   * without it those checks are skipped.
   * @defaultValue none
   */
  dump?: () => Promise<unknown>;
  /**
   * Optional methods the store does not implement, so their tests are skipped. A store that lacks
   * a method not listed here fails that method's test with a message naming this option. Without
   * `patch`, parallel requests can lose each other's changes and a slow request can bring back a
   * destroyed session; without `listByUser`, `SessionService.listByUser` and `destroyByUser` throw.
   * @defaultValue `[]`: the store implements them all
   */
  skip?: OptionalStoreMethod[];
  /**
   * How late (milliseconds) the store may forget a session after its ttl. Raise it for stores
   * whose expiry is coarse (a database's TTL sweeper, a clock in whole seconds).
   * @defaultValue `250`
   */
  expiryGraceMs?: number;
  /**
   * How many patches the concurrency tests run at once.
   * @defaultValue `50`
   */
  parallel?: number;
  /**
   * Per-test timeout (milliseconds) of the suite.
   * @defaultValue `20_000`
   */
  timeoutMs?: number;
}

const HOUR = 3_600_000;

/** A handle as the core makes them: the SHA-256 (hex) of a fresh session id. */
export function newHandle(): string {
  return sessionHandle(newSessionId());
}

/** A patch that changes nothing but `touchedAt`, overridden by `change`. */
export function patchOf(change: Partial<SessionPatch>): SessionPatch {
  return { clear: false, set: {}, unset: [], incr: {}, touchedAt: Date.now(), ...change };
}

/** A record created a second ago and touched now, with `data` and, when given, `user`. */
export function recordOf(data: Record<string, unknown>, user?: string): SessionRecord {
  const now = Date.now();
  const record: SessionRecord = { data, createdAt: now - 1_000, touchedAt: now };
  if (user !== undefined) record.user = user;
  return record;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Runs the {@link SessionStore} contract under Jest against the store `makeStore` builds: one
 * `describe(name)` block with get/set/destroy, ttl, `touch`, `patch` semantics and atomicity,
 * increments, no resurrection after destroy, the per-user index, cleanup, and (given `dump`)
 * that no session id is stored. A store that has the optional `destroyByUser`, declares
 * forwarding records with `forwardingTtl`, or has `lock` (session locks for `@SessionLock()`) is
 * checked for those too; one without them passes.
 *
 * `makeStore` is called once, in `beforeAll`, after the caller's own `beforeAll` hooks (connect
 * there); the kit calls the store's `close()` in `afterAll`. Users are named with a random
 * suffix, so several runs may share one database; give each run its own table or key prefix all
 * the same when you pass `dump`, which should show that run's data only.
 *
 * ```ts
 * import { describeSessionStoreContract } from 'nestjs-sessionkit/testing';
 *
 * describeSessionStoreContract('MyStore', () => new MyStore(db), { dump: () => db.query('select * from sessions') });
 * ```
 */
export function describeSessionStoreContract(name: string, makeStore: () => SessionStore | Promise<SessionStore>, options: SessionStoreContractOptions = {}): void {
  const missing = options.capabilities?.missing ?? {};
  const skipped = new Set([...(options.skip ?? []), ...(Object.keys(missing) as OptionalStoreMethod[])]);
  const inProcess = options.capabilities?.atomicity === 'process' ? ' (in one process: declared atomicity "process")' : '';
  const grace = options.expiryGraceMs ?? 250;
  const parallel = options.parallel ?? 50;
  const timeout = options.timeoutMs ?? 20_000;
  const run = Math.random().toString(36).slice(2, 8);
  const userOf = (who: string): string => `${who}-${run}`;

  describe(name, () => {
    let store: SessionStore;

    beforeAll(async () => {
      store = await makeStore();
    });
    afterAll(async () => {
      await store?.close?.();
    });

    /** The method, or a failure that says how to declare it missing. */
    function method<M extends OptionalStoreMethod>(m: M): NonNullable<SessionStore[M]> {
      const fn = store[m];
      if (typeof fn !== 'function') {
        throw new Error(`The store has no ${m}() method. Implement it, or pass { skip: ['${m}'] } to describeSessionStoreContract to skip its tests.`);
      }
      return (fn as (...args: never[]) => unknown).bind(store) as NonNullable<SessionStore[M]>;
    }
    const test = (what: string, needs: OptionalStoreMethod[], body: () => Promise<void>): void => {
      (needs.some((m) => skipped.has(m)) ? it.skip : it)(what, body, timeout);
    };
    const handlesOf = async (user: string): Promise<string[]> => (await method('listByUser')(user)).map((e) => e.handle).sort();

    for (const [m, reason] of Object.entries(missing) as [OptionalStoreMethod, string][]) {
      it(
        `declares no ${m}(): ${reason}`,
        async () => {
          const fn = store[m] as ((...args: unknown[]) => Promise<unknown>) | undefined;
          if (typeof fn !== 'function') return;
          const args: Record<OptionalStoreMethod, unknown[]> = {
            touch: [newHandle(), recordOf({}), HOUR],
            patch: [newHandle(), patchOf({}), HOUR],
            move: [newHandle(), newHandle(), recordOf({}), HOUR],
            listByUser: [userOf('declared')],
          };
          // Present but refusing: it must say so with a SessionError, never answer as if it worked.
          await expect(Promise.resolve().then(() => fn.apply(store, args[m]))).rejects.toBeInstanceOf(SessionError);
        },
        timeout,
      );
    }

    test('get answers undefined for an unknown handle', [], async () => {
      expect(await store.get(newHandle())).toBeUndefined();
    });

    test('set then get gives back an equal record, whatever the keys and values are', [], async () => {
      const handle = newHandle();
      const data = {
        userId: 7,
        name: 'Zoë 🍪 "quoted" \\ back',
        nested: { list: [1, 'two', null, { deep: true }], empty: {}, none: [] },
        '@c': 'looks like a reserved field',
        '.dot': 0.1,
        '': 'empty key',
        'user:1': -0.5,
        "it's": true,
        big: Number.MAX_SAFE_INTEGER,
        tiny: 5e-324,
        huge: 1.7976931348623157e308,
      };
      const record = recordOf(data, userOf('7'));
      await store.set(handle, record, HOUR);
      expect(await store.get(handle)).toEqual(record);

      const anonymous = recordOf({ cart: [] });
      const other = newHandle();
      await store.set(other, anonymous, HOUR);
      const got = await store.get(other);
      expect(got).toEqual(anonymous);
      expect(got).not.toHaveProperty('user');
    });

    test('a key named __proto__ stays plain data', [], async () => {
      const handle = newHandle();
      const data = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as Record<string, unknown>;
      await store.set(handle, recordOf(data), HOUR);
      const got = await store.get(handle);
      expect(Object.keys(got!.data).sort()).toEqual(['__proto__', 'ok']);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      // An own key, not the object's prototype (the core refuses it when the session is read).
      expect(Object.prototype.hasOwnProperty.call(got!.data, '__proto__')).toBe(true);
      expect(got!.data.polluted).toBeUndefined();
    });

    test('move stores the record under the new handle and removes the old one, user index included', ['move'], async () => {
      const from = newHandle();
      const to = newHandle();
      await store.set(from, recordOf({ a: 1 }, userOf('move-old')), HOUR);
      const moved = recordOf({ a: 1, b: 2 }, userOf('move-new'));
      expect(await method('move')(from, to, moved, HOUR)).toBe(true);
      expect(await store.get(from)).toBeUndefined();
      expect(await store.get(to)).toEqual(moved);
      if (!skipped.has('listByUser')) {
        expect(await method('listByUser')(userOf('move-old'))).toEqual([]);
        expect((await method('listByUser')(userOf('move-new'))).map((e) => e.handle)).toEqual([to]);
      }
    });

    test('move changes nothing when the old session is gone (destroyed or expired)', ['move'], async () => {
      const from = newHandle();
      const to = newHandle();
      await store.set(from, recordOf({ a: 1 }, userOf('move-gone')), HOUR);
      await store.destroy(from);
      expect(await method('move')(from, to, recordOf({ a: 1 }, userOf('move-gone')), HOUR)).toBe(false);
      expect(await store.get(to)).toBeUndefined();
      if (!skipped.has('listByUser')) expect(await method('listByUser')(userOf('move-gone'))).toEqual([]);

      await store.set(from, recordOf({ a: 1 }), 30);
      await sleep(60 + grace);
      expect(await method('move')(from, to, recordOf({ a: 1 }), HOUR)).toBe(false);
      expect(await store.get(to)).toBeUndefined();
    });

    test('set replaces the whole record, user included', [], async () => {
      const handle = newHandle();
      const user = userOf('replace');
      await store.set(handle, recordOf({ a: 1, b: 2 }, user), HOUR);
      const replacement = recordOf({ c: 3 });
      await store.set(handle, replacement, HOUR);
      expect(await store.get(handle)).toEqual(replacement);
      if (!skipped.has('listByUser')) expect(await handlesOf(user)).toEqual([]);
    });

    test('destroy removes the session; destroying a missing one is no error', [], async () => {
      const handle = newHandle();
      await store.set(handle, recordOf({ a: 1 }), HOUR);
      await store.destroy(handle);
      expect(await store.get(handle)).toBeUndefined();
      await expect(store.destroy(handle)).resolves.toBeUndefined();
      await expect(store.destroy(newHandle())).resolves.toBeUndefined();
    });

    // Optional capabilities a store declares by having them: checked when it does, so a store
    // written before they existed still passes.
    test('destroyByUser (when the store has it) removes every session of the user but the one kept, and only those', [], async () => {
      if (typeof store.destroyByUser !== 'function') return;
      const user = userOf('revoked');
      const [a, b, keep, other, anonymous] = [newHandle(), newHandle(), newHandle(), newHandle(), newHandle()];
      for (const h of [a, b, keep]) await store.set(h, recordOf({ h }, user), HOUR);
      await store.set(other, recordOf({ other: true }, userOf('bystander')), HOUR);
      await store.set(anonymous, recordOf({ anonymous: true }), HOUR);
      expect((await store.destroyByUser(user, keep)).sort()).toEqual([a, b].sort());
      expect(await store.get(a)).toBeUndefined();
      expect(await store.get(b)).toBeUndefined();
      expect(await store.get(keep)).toBeDefined();
      expect(await store.get(other)).toBeDefined();
      expect(await store.get(anonymous)).toBeDefined();
      if (!skipped.has('listByUser')) expect(await handlesOf(user)).toEqual([keep]);
      expect(await store.destroyByUser(user)).toEqual([keep]);
      expect(await store.get(keep)).toBeUndefined();
      expect(await store.destroyByUser(user)).toEqual([]);
    });

    test('a move leaves a forwarding record (when the store has forwardingTtl): destroy(old) reaches the moved session, nothing else does', ['move'], async () => {
      if (!(typeof store.forwardingTtl === 'number' && store.forwardingTtl > 0)) return;
      const user = userOf('forwarded');
      const [a, b, c] = [newHandle(), newHandle(), newHandle()];
      await store.set(a, recordOf({ step: 1 }, user), HOUR);
      expect(await method('move')(a, b, recordOf({ step: 2 }, user), HOUR)).toBe(true);
      // The old handle is no session: an old cookie reads nothing, and nothing writes through it.
      expect(await store.get(a)).toBeUndefined();
      if (!skipped.has('patch')) expect(await method('patch')(a, patchOf({ set: { x: 1 } }), HOUR)).toBe(false);
      if (!skipped.has('touch')) await method('touch')(a, recordOf({ x: 1 }, user), HOUR);
      expect(await method('move')(a, c, recordOf({ x: 1 }, user), HOUR)).toBe(false);
      expect(await store.get(a)).toBeUndefined();
      expect(await store.get(c)).toBeUndefined();
      if (!skipped.has('listByUser')) expect(await handlesOf(user)).toEqual([b]);
      // Moved again: destroy through the first handle follows both moves.
      expect(await method('move')(b, c, recordOf({ step: 3 }, user), HOUR)).toBe(true);
      await store.destroy(a);
      expect(await store.get(c)).toBeUndefined();
      if (!skipped.has('listByUser')) expect(await handlesOf(user)).toEqual([]);
      // Destroying through a forwarding record whose session is already gone is no error.
      const [d, e] = [newHandle(), newHandle()];
      await store.set(d, recordOf({ step: 1 }, user), HOUR);
      expect(await method('move')(d, e, recordOf({ step: 2 }, user), HOUR)).toBe(true);
      await store.destroy(e);
      await store.destroy(d);
      expect(await store.get(e)).toBeUndefined();
    });

    test('forgets a session after its ttl', [], async () => {
      const handle = newHandle();
      const user = userOf('shortlived');
      await store.set(handle, recordOf({ a: 1 }, user), 150);
      expect(await store.get(handle)).toBeDefined();
      await sleep(150 + grace);
      expect(await store.get(handle)).toBeUndefined();
      if (!skipped.has('patch')) expect(await method('patch')(handle, patchOf({ set: { b: 2 } }), HOUR)).toBe(false);
      if (!skipped.has('touch')) await method('touch')(handle, recordOf({ b: 2 }, user), HOUR);
      expect(await store.get(handle)).toBeUndefined();
      if (!skipped.has('listByUser')) expect(await handlesOf(user)).toEqual([]);
    });

    test('touch sets touchedAt and extends the life of an existing session only', ['touch'], async () => {
      const touch = method('touch');
      const handle = newHandle();
      const record = recordOf({ a: 1 }, userOf('toucher'));
      await store.set(handle, record, 300);
      const touchedAt = Date.now() + 10;
      await touch(handle, { ...record, touchedAt }, HOUR);
      await sleep(300 + grace);
      expect(await store.get(handle)).toEqual({ ...record, touchedAt });
      if (!skipped.has('listByUser')) expect(await handlesOf(userOf('toucher'))).toEqual([handle]);

      const missing = newHandle();
      await touch(missing, record, HOUR);
      expect(await store.get(missing)).toBeUndefined();
    });

    test('patch applies clear, unset, set and incr in that order, then touchedAt, and sets the life', ['patch'], async () => {
      const patch = method('patch');
      const handle = newHandle();
      await store.set(handle, recordOf({ a: 1, b: 2, c: 'x', n: 5 }), 300);
      const touchedAt = Date.now() + 5;
      expect(await patch(handle, patchOf({ unset: ['a', 'missing'], set: { c: 'y', d: [1, { e: null }], s: 10 }, incr: { n: 2, m: 3, s: 5 }, touchedAt }), HOUR)).toBe(true);
      await sleep(300 + grace);
      const got = await store.get(handle);
      expect(got!.data).toEqual({ b: 2, c: 'y', d: [1, { e: null }], n: 7, m: 3, s: 15 });
      expect(got!.touchedAt).toBe(touchedAt);

      expect(await patch(handle, patchOf({ clear: true, set: { fresh: true }, incr: { n: 1 } }), HOUR)).toBe(true);
      expect((await store.get(handle))!.data).toEqual({ fresh: true, n: 1 });
      expect(await patch(handle, patchOf({ clear: true }), HOUR)).toBe(true);
      expect((await store.get(handle))!.data).toEqual({});
    });

    test('increments add exactly as JavaScript does; a missing or non-number value counts as 0', ['patch'], async () => {
      const patch = method('patch');
      const handle = newHandle();
      const start: Record<string, unknown> = { f: 0.1, big: 2 ** 53 - 2, neg: -1.5, str: '5', nul: null, obj: { n: 1 }, huge: 1e21, e: 1e-7, t: 1.1 };
      const steps: Record<string, number>[] = [
        { f: 0.2, big: 1, neg: -2.25, str: 1, nul: 2, obj: 3, missing: 1e-7, huge: 1, e: 3, t: 2.2 },
        { f: 1 / 3, neg: 1e-17, missing: -1e-7, t: -3.3 },
        { f: -0.30000000000000004, huge: -1e21, e: Number.MIN_VALUE },
      ];
      const expected = { ...start };
      await store.set(handle, recordOf(start), HOUR);
      for (const incr of steps) {
        expect(await patch(handle, patchOf({ incr }), HOUR)).toBe(true);
        for (const [key, by] of Object.entries(incr)) {
          const current = expected[key];
          expected[key] = (typeof current === 'number' ? current : 0) + by;
        }
        expect((await store.get(handle))!.data).toEqual(expected);
      }
      expect((await store.get(handle))!.data.f).toBe(0.1 + 0.2 + 1 / 3 - 0.30000000000000004);
    });

    test('patch of a missing or destroyed session answers false and writes nothing', ['patch'], async () => {
      const patch = method('patch');
      const handle = newHandle();
      const ghost = userOf('ghost');
      const change = patchOf({ set: { a: 1 }, incr: { n: 1 }, user: ghost });
      expect(await patch(handle, change, HOUR)).toBe(false);
      expect(await store.get(handle)).toBeUndefined();

      await store.set(handle, recordOf({ a: 1 }, ghost), HOUR);
      await store.destroy(handle);
      expect(await patch(handle, change, HOUR)).toBe(false);
      expect(await store.get(handle)).toBeUndefined();
      if (!skipped.has('listByUser')) expect(await handlesOf(ghost)).toEqual([]);
    });

    test('listByUser lists the live sessions of that user only', ['listByUser'], async () => {
      const [alice, bob] = [userOf('alice'), userOf('bob')];
      const [a1, a2, a3, b1, anon, expired] = [newHandle(), newHandle(), newHandle(), newHandle(), newHandle(), newHandle()];
      const r1 = { ...recordOf({ userId: alice }, alice), createdAt: 1_000 };
      await store.set(a1, r1, HOUR);
      await store.set(a2, recordOf({ userId: alice, n: 1 }, alice), HOUR);
      await store.set(a3, recordOf({ userId: alice }, alice), HOUR);
      await store.set(b1, recordOf({ userId: bob }, bob), HOUR);
      await store.set(anon, recordOf({ cart: [1] }), HOUR);
      await store.set(expired, recordOf({ userId: alice }, alice), 100);
      await sleep(100 + grace);
      expect(await handlesOf(alice)).toEqual([a1, a2, a3].sort());
      const entries = await method('listByUser')(alice);
      expect(entries.find((e) => e.handle === a1)).toEqual({ handle: a1, createdAt: 1_000, touchedAt: r1.touchedAt });
      expect(await handlesOf(bob)).toEqual([b1]);
      expect(await handlesOf(userOf('nobody'))).toEqual([]);

      await store.destroy(a2);
      expect(await handlesOf(alice)).toEqual([a1, a3].sort());
    });

    test('listByUser follows a user change made by patch, and a logout', ['listByUser', 'patch'], async () => {
      const patch = method('patch');
      const [carol, dave, erin] = [userOf('carol'), userOf('dave'), userOf('erin')];
      const handle = newHandle();
      await store.set(handle, recordOf({ userId: carol }, carol), HOUR);
      expect(await patch(handle, patchOf({ set: { userId: dave }, user: dave }), HOUR)).toBe(true);
      expect(await handlesOf(carol)).toEqual([]);
      expect(await handlesOf(dave)).toEqual([handle]);
      expect((await store.get(handle))!.user).toBe(dave);
      // A patch without `user` leaves it as it is.
      expect(await patch(handle, patchOf({ set: { step: 1 } }), HOUR)).toBe(true);
      expect((await store.get(handle))!.user).toBe(dave);

      expect(await patch(handle, patchOf({ unset: ['userId'], user: null }), HOUR)).toBe(true);
      expect(await handlesOf(dave)).toEqual([]);
      expect(await store.get(handle)).not.toHaveProperty('user');

      const logged = newHandle();
      await store.set(logged, recordOf({ userId: erin }, erin), HOUR);
      expect(await patch(logged, patchOf({ clear: true, user: null }), HOUR)).toBe(true);
      expect(await handlesOf(erin)).toEqual([]);
    });

    test(`loses nothing when ${parallel} patches of different keys and increments run at once${inProcess}`, ['patch'], async () => {
      const patch = method('patch');
      const handle = newHandle();
      await store.set(handle, recordOf({ base: true }), HOUR);
      const results = await Promise.all(
        Array.from({ length: parallel }, (_, i) => patch(handle, patchOf({ set: { [`k${i}`]: i }, incr: { n: 1, half: 0.5 } }), HOUR)),
      );
      expect(results.every(Boolean)).toBe(true);
      const data = (await store.get(handle))!.data;
      for (let i = 0; i < parallel; i++) expect(data[`k${i}`]).toBe(i);
      expect(data.n).toBe(parallel);
      expect(data.half).toBe(parallel / 2);
      expect(data.base).toBe(true);
    });

    test(`never brings back a session destroyed while a patch or touch was on its way${inProcess}`, ['patch', 'touch'], async () => {
      const [patch, touch] = [method('patch'), method('touch')];
      const judy = userOf('judy');
      for (let i = 0; i < 20; i++) {
        const handle = newHandle();
        await store.set(handle, recordOf({ userId: judy }, judy), HOUR);
        await Promise.all([store.destroy(handle), patch(handle, patchOf({ set: { late: i } }), HOUR), touch(handle, recordOf({}, judy), HOUR)]);
        expect(await store.get(handle)).toBeUndefined();
      }
      if (!skipped.has('listByUser')) expect(await handlesOf(judy)).toEqual([]);
    });

    const withDump = options.dump === undefined ? it.skip : it;

    withDump(
      'keeps no session id, only what it was given',
      async () => {
        const id = newSessionId();
        const handle = sessionHandle(id);
        const marker = `marker-${run}`;
        await store.set(handle, recordOf({ userId: userOf('ivan'), marker }, userOf('ivan')), HOUR);
        if (!skipped.has('patch')) await method('patch')(handle, patchOf({ set: { step: 2 }, incr: { views: 1 } }), HOUR);
        if (!skipped.has('touch')) await method('touch')(handle, recordOf({ marker }, userOf('ivan')), HOUR);
        const dumped = text(await options.dump!());
        // The dump shows the data, so it would show an id too.
        expect(dumped).toContain(marker);
        expect(dumped).not.toContain(id);
      },
      timeout,
    );

    /** The store's `lock`, or undefined: the lock tests pass trivially for stores without one (`@SessionLock()` refuses them). */
    const lockOf = (): NonNullable<SessionStore['lock']> | undefined => store.lock?.bind(store);

    it(
      'lock(), when the store has it, is held by one holder at a time and freed by release',
      async () => {
        const lock = lockOf();
        if (lock === undefined) return;
        const handle = newHandle();
        const first = await lock(handle, { ttlMs: HOUR, waitMs: 0 });
        expect(first).toBeDefined();
        expect(await lock(handle, { ttlMs: HOUR, waitMs: 0 })).toBeUndefined();
        // Another session's lock is another lock.
        const other = await lock(newHandle(), { ttlMs: HOUR, waitMs: 0 });
        expect(other).toBeDefined();
        await other!.release();
        // A waiter gets it once it is freed.
        const waiting = lock(handle, { ttlMs: HOUR, waitMs: 5_000 });
        await sleep(50);
        await first!.release();
        const second = await waiting;
        expect(second).toBeDefined();
        // The first holder can neither extend nor free the lock it gave up.
        expect(await first!.renew(HOUR)).toBe(false);
        await first!.release();
        expect(await lock(handle, { ttlMs: HOUR, waitMs: 0 })).toBeUndefined();
        expect(await second!.renew(HOUR)).toBe(true);
        await second!.release();
        const third = await lock(handle, { ttlMs: HOUR, waitMs: 0 });
        expect(third).toBeDefined();
        await third!.release();
      },
      timeout,
    );

    it(
      'lock(), when the store has it, gives up after waitMs or when aborted, and takes nothing',
      async () => {
        const lock = lockOf();
        if (lock === undefined) return;
        const handle = newHandle();
        const holder = await lock(handle, { ttlMs: HOUR, waitMs: 0 });
        const started = Date.now();
        expect(await lock(handle, { ttlMs: HOUR, waitMs: 150 })).toBeUndefined();
        expect(Date.now() - started).toBeGreaterThanOrEqual(140);
        const abort = new AbortController();
        const aborted = lock(handle, { ttlMs: HOUR, waitMs: 60_000, signal: abort.signal });
        await sleep(30);
        abort.abort();
        expect(await aborted).toBeUndefined();
        // The waiters that gave up hold nothing: once released, the lock is free.
        await holder!.release();
        const next = await lock(handle, { ttlMs: HOUR, waitMs: 0 });
        expect(next).toBeDefined();
        await next!.release();
      },
      timeout,
    );

    it(
      'lock(), when the store has it, expires ttlMs after it was taken or renewed, and an expired holder cannot touch the next one',
      async () => {
        const lock = lockOf();
        if (lock === undefined) return;
        const handle = newHandle();
        const renewed = await lock(handle, { ttlMs: 300, waitMs: 0 });
        await sleep(150);
        expect(await renewed!.renew(600)).toBe(true);
        await sleep(300);
        // 450 ms after it was taken: alive, thanks to the renewal.
        expect(await lock(handle, { ttlMs: HOUR, waitMs: 0 })).toBeUndefined();
        await sleep(300 + grace);
        const next = await lock(handle, { ttlMs: HOUR, waitMs: 0 });
        expect(next).toBeDefined();
        expect(await renewed!.renew(HOUR)).toBe(false);
        await renewed!.release();
        expect(await lock(handle, { ttlMs: HOUR, waitMs: 0 })).toBeUndefined();
        await next!.release();
      },
      timeout,
    );

    it(
      `lock(), when the store has it, lets ${parallel} parallel holders of one session in one at a time`,
      async () => {
        const lock = lockOf();
        if (lock === undefined) return;
        const handle = newHandle();
        let inside = 0;
        let most = 0;
        let done = 0;
        await Promise.all(
          Array.from({ length: parallel }, async () => {
            const lease = await lock(handle, { ttlMs: HOUR, waitMs: timeout });
            expect(lease).toBeDefined();
            inside++;
            most = Math.max(most, inside);
            await sleep(1);
            inside--;
            done++;
            await lease!.release();
          }),
        );
        expect(done).toBe(parallel);
        expect(most).toBe(1);
      },
      timeout,
    );

    it(
      'cleanup(), when the store has it, deletes expired sessions and keeps live ones',
      async () => {
        // Optional: stores whose backend expires records itself have none.
        if (store.cleanup === undefined) return;
        const live = newHandle();
        await store.set(live, recordOf({ keep: `live-${run}` }), HOUR);
        const expired = Array.from({ length: 3 }, () => newHandle());
        for (const handle of expired) await store.set(handle, recordOf({ gone: `expired-${run}` }), 50);
        await sleep(50 + grace);
        expect(await store.cleanup()).toBeGreaterThanOrEqual(expired.length);
        expect(await store.get(live)).toBeDefined();
        if (options.dump !== undefined) {
          const dumped = text(await options.dump());
          expect(dumped).toContain(`live-${run}`);
          for (const handle of expired) expect(dumped).not.toContain(handle);
        }
      },
      timeout,
    );
  });
}
