import { jest } from '@jest/globals';
import session from 'express-session';
import { Logger } from '@nestjs/common';
import { ExpressSessionStore, type ExpressSessionStoreCallback, type ExpressSessionStoreLike } from './express-session.store.js';
import { SessionError, SessionStoreCapabilityError } from '../core/session.errors.js';
import { describeSessionStoreContract } from '../testing/index.js';
import { newHandle, patchOf, recordOf } from '../testing/session-store.contract.js';
import { type TestExpressStore, expressStoreKinds, testExpressStore } from '../../test/support/express-session-stores.js';

// Runs against real express-session stores on real servers (Redis, PostgreSQL, MariaDB) and one
// in-process store, each suite under a key prefix, schema or table of its own.
const HOUR = 3_600_000;

for (const kind of expressStoreKinds) {
  let wrapped: TestExpressStore;
  const hasAll = kind !== 'connect-pg-simple';

  describe(`ExpressSessionStore over ${kind}`, () => {
    beforeAll(async () => {
      wrapped = await testExpressStore(kind, 'adapter');
    });
    afterAll(async () => {
      await wrapped?.close();
    });

    describeSessionStoreContract('contract', () => new ExpressSessionStore(wrapped.store), {
      dump: () => wrapped.dump(),
      capabilities: {
        atomicity: 'process',
        ...(hasAll ? {} : { missing: { listByUser: 'connect-pg-simple has no all(), so no session can be found by user' } }),
      },
    });

    describe('records', () => {
      let store: ExpressSessionStore;
      beforeAll(() => {
        store = new ExpressSessionStore(wrapped.store);
      });
      const raw = (handle: string): Promise<Record<string, unknown> | null | undefined> =>
        new Promise((resolve, reject) => wrapped.store.get(handle, (error, value) => (error ? reject(error as Error) : resolve(value as Record<string, unknown>))));

      it('writes an express-session record: a cookie with expires and originalMaxAge, the session under "sessionkit"', async () => {
        const handle = newHandle();
        const record = recordOf({ userId: 7, cookie: 'a key named cookie stays data' }, '7');
        const before = Date.now();
        await store.set(handle, record, 90_000);
        const stored = (await raw(handle))!;
        const cookie = stored.cookie as { originalMaxAge: number; expires: string | Date };
        expect(cookie.originalMaxAge).toBe(90_000);
        const expires = new Date(cookie.expires).getTime();
        expect(expires).toBeGreaterThanOrEqual(before + 90_000);
        expect(expires).toBeLessThanOrEqual(Date.now() + 90_000);
        expect(stored.sessionkit).toEqual({ data: record.data, createdAt: record.createdAt, touchedAt: record.touchedAt, user: '7' });
        expect(await store.get(handle)).toEqual(record);
      });

      it('the wrapped store expires the record on its own, from cookie.expires', async () => {
        const handle = newHandle();
        await store.set(handle, recordOf({ a: 1 }), 1_000);
        expect(await raw(handle)).toBeTruthy();
        // Whole-second expiries (Redis EX, SQL columns in seconds) round up by at most a second.
        await new Promise((resolve) => setTimeout(resolve, 2_600));
        expect(await raw(handle)).toBeFalsy();
      }, 10_000);

      it('ignores a record that is not its own (an express-session session in the same store)', async () => {
        const handle = newHandle();
        await new Promise<void>((resolve, reject) =>
          wrapped.store.set(handle, { cookie: { originalMaxAge: HOUR, expires: new Date(Date.now() + HOUR) }, passport: { user: 'x' } } as session.SessionData, (e) => (e ? reject(e as Error) : resolve())),
        );
        expect(await store.get(handle)).toBeUndefined();
        expect(await store.patch(handle, patchOf({ set: { b: 1 } }), HOUR)).toBe(false);
      });

      it('increments of one session in parallel count exactly (serialized in this process)', async () => {
        const handle = newHandle();
        await store.set(handle, recordOf({ n: 0 }), HOUR);
        await Promise.all(Array.from({ length: 40 }, () => store.patch(handle, patchOf({ incr: { n: 1 } }), HOUR)));
        expect((await store.get(handle))!.data.n).toBe(40);
      });

      it('a move leaves a forwarding record the wrapped store expires: destroy through the old handle removes the moved session', async () => {
        const user = `fw-${newHandle().slice(0, 8)}`;
        const [a, b, other] = [newHandle(), newHandle(), newHandle()];
        await store.set(a, recordOf({ userId: user }, user), HOUR);
        await store.set(other, recordOf({ userId: user }, user), HOUR);
        const before = Date.now();
        expect(await store.move(a, b, recordOf({ userId: user, step: 2 }, user), HOUR)).toBe(true);
        expect(store.forwardingTtl).toBe(10_000);
        // Under the old handle: a forwarding record, with a cookie the wrapped store takes its 10 s life from.
        const forward = (await raw(a))!;
        expect(forward.sessionkit).toEqual({ movedTo: b });
        const expires = new Date((forward.cookie as { expires: string }).expires).getTime();
        expect(expires).toBeGreaterThanOrEqual(before + 10_000);
        expect(expires).toBeLessThanOrEqual(Date.now() + 10_000);
        expect(await store.get(a)).toBeUndefined();
        if (hasAll) expect((await store.listByUser(user)).map((e) => e.handle).sort()).toEqual([b, other].sort());
        // A logout with the pre-login cookie (or a destroyByUser that listed the old handle).
        await store.destroy(a);
        expect(await raw(a)).toBeFalsy();
        expect(await raw(b)).toBeFalsy();
        expect(await store.get(other)).toBeDefined();
      });

      it(hasAll ? 'lists a user through all()' : 'refuses listByUser with a SessionStoreCapabilityError naming all()', async () => {
        const user = `u-${newHandle().slice(0, 8)}`;
        const [a, b] = [newHandle(), newHandle()];
        await store.set(a, recordOf({ userId: user }, user), HOUR);
        await store.set(b, recordOf({ userId: user }, user), HOUR);
        if (hasAll) {
          expect((await store.listByUser(user)).map((e) => e.handle).sort()).toEqual([a, b].sort());
          expect(() => store.assertSupports('maxSessionsPerUser')).not.toThrow();
        } else {
          await expect(store.listByUser(user)).rejects.toThrow(SessionStoreCapabilityError);
          await expect(store.listByUser(user)).rejects.toThrow(/all\(\)/);
          expect(() => store.assertSupports('maxSessionsPerUser')).toThrow(/maxSessionsPerUser needs .* all\(\), which PGStore does not have/);
        }
      });

      it('says at startup, in one line, what holds with the wrapped store', async () => {
        const lines: string[] = [];
        const spy = jest.spyOn(Logger.prototype, 'log').mockImplementation((message: unknown) => void lines.push(String(message)));
        try {
          await store.init();
        } finally {
          spy.mockRestore();
        }
        expect(lines).toHaveLength(1);
        expect(lines[0]).toContain('ExpressSessionStore over');
        expect(lines[0]).toContain('serialized per session in this process only');
        expect(lines[0]).toContain(hasAll ? 'scan every session through all()' : 'are refused (the store has no all())');
      });
    });
  });
}

describe('ExpressSessionStore over stores of every calling style', () => {
  /** A store keeping JSON in a Map, answering in the style asked for. */
  function styled(style: 'callback' | 'promise' | 'both' | 'sync-throw'): ExpressSessionStoreLike {
    const map = new Map<string, string>();
    const answer = (cb: ExpressSessionStoreCallback, work: () => unknown): unknown => {
      if (style === 'sync-throw') throw new Error('store is down');
      const result = work();
      if (style === 'callback') return void setImmediate(() => cb(null, result));
      if (style === 'promise') return Promise.resolve(result);
      cb(null, result);
      return Promise.resolve(result);
    };
    return {
      get: (sid, cb) => answer(cb, () => (map.has(sid) ? JSON.parse(map.get(sid)!) : null)),
      set: (sid, sess, cb) => answer(cb, () => void map.set(sid, JSON.stringify(sess))),
      destroy: (sid, cb) => answer(cb, () => void map.delete(sid)),
    };
  }

  it.each(['callback', 'promise', 'both'] as const)('works with a %s store', async (style) => {
    const store = new ExpressSessionStore(styled(style));
    const handle = newHandle();
    const record = recordOf({ a: 1 });
    await store.set(handle, record, HOUR);
    expect(await store.get(handle)).toEqual(record);
    expect(await store.patch(handle, patchOf({ incr: { n: 2 } }), HOUR)).toBe(true);
    expect((await store.get(handle))!.data).toEqual({ a: 1, n: 2 });
    await store.destroy(handle);
    expect(await store.get(handle)).toBeUndefined();
  });

  it('a store that throws rejects, and the next write of the session still runs', async () => {
    const store = new ExpressSessionStore(styled('sync-throw'));
    await expect(store.set(newHandle(), recordOf({}), HOUR)).rejects.toThrow('store is down');
    await expect(store.get(newHandle())).rejects.toThrow('store is down');
  });

  it('a store that never answers rejects after `timeout`, naming the store and the call', async () => {
    const silent: ExpressSessionStoreLike = { get: () => undefined, set: () => undefined, destroy: () => undefined };
    const store = new ExpressSessionStore(silent, { timeout: 50 });
    const started = Date.now();
    await expect(store.get(newHandle())).rejects.toThrow(/get\(\) did not answer within 50 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(() => new ExpressSessionStore(silent, { timeout: 0 })).toThrow(/timeout must be a positive number/);
    await expect(store.get(newHandle())).rejects.toThrow(SessionError);
  });

  it('refuses what is not an express-session store, and bad options, with a SessionError', () => {
    expect(() => new ExpressSessionStore({} as ExpressSessionStoreLike)).toThrow(SessionError);
    expect(() => new ExpressSessionStore({} as ExpressSessionStoreLike)).toThrow(/get, set and destroy/);
    const ok = styled('callback');
    expect(() => new ExpressSessionStore(ok, { key: 'cookie' })).toThrow(SessionError);
    expect(() => new ExpressSessionStore(ok, { timeout: -1 })).toThrow(SessionError);
  });

  it('a store that reports something other than an Error rejects with a SessionError naming the call', async () => {
    const odd: ExpressSessionStoreLike = { get: (_, cb) => void cb('nope'), set: (_, __, cb) => void cb(null), destroy: (_, cb) => void cb(null) };
    const error = await new ExpressSessionStore(odd).get(newHandle()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionError);
    expect((error as Error).message).toMatch(/get\(\) failed: nope/);
  });

  it('listByUser follows a forwarding record to a session its scan missed (a move between SCAN and MGET)', async () => {
    const inner = styled('callback');
    const known = new Set<string>();
    const hidden = new Set<string>();
    // all() as a scan that began before the move: it lists the old handle, read after the move.
    const scanning: ExpressSessionStoreLike = {
      ...inner,
      all: (cb) => {
        const entries: Record<string, unknown>[] = [];
        let pending = known.size;
        for (const sid of known) {
          inner.get(sid, (_, value) => {
            if (value && !hidden.has(sid)) entries.push({ ...(value as object), id: sid });
            if (--pending === 0) cb(null, entries);
          });
        }
      },
    };
    const store = new ExpressSessionStore(scanning);
    const [a, b, c] = [newHandle(), newHandle(), newHandle()];
    known.add(a).add(b).add(c);
    await store.set(a, recordOf({ userId: 'u' }, 'u'), HOUR);
    await store.set(c, recordOf({ userId: 'v' }, 'v'), HOUR);
    expect(await store.move(a, b, recordOf({ userId: 'u', step: 2 }, 'u'), HOUR)).toBe(true);
    hidden.add(b);
    expect((await store.listByUser('u')).map((e) => e.handle)).toEqual([b]);
    expect(await store.listByUser('v')).toHaveLength(1);
    hidden.clear();
    expect((await store.listByUser('u')).map((e) => e.handle)).toEqual([b]);
  });

  it('destroy follows a chain of moves, at most 8 of them', async () => {
    const store = new ExpressSessionStore(styled('callback'));
    /** A session moved `length` times: its handles, first to last. */
    async function chain(length: number): Promise<string[]> {
      const handles = Array.from({ length: length + 1 }, () => newHandle());
      await store.set(handles[0]!, recordOf({ a: 1 }), HOUR);
      for (let i = 0; i < length; i++) expect(await store.move(handles[i]!, handles[i + 1]!, recordOf({ a: 1 }), HOUR)).toBe(true);
      return handles;
    }
    const eight = await chain(8);
    await store.destroy(eight[0]!);
    expect(await store.get(eight[8]!)).toBeUndefined();
    const nine = await chain(9);
    await store.destroy(nine[0]!);
    expect(await store.get(nine[9]!)).toBeDefined();
    // A forwarding record is no session for anything but destroy.
    const [from, to] = [newHandle(), newHandle()];
    await store.set(from, recordOf({ a: 1 }), HOUR);
    await store.move(from, to, recordOf({ a: 2 }), HOUR);
    expect(await store.patch(from, patchOf({ set: { b: 1 } }), HOUR)).toBe(false);
    expect(await store.move(from, newHandle(), recordOf({}), HOUR)).toBe(false);
    expect((await store.get(to))!.data).toEqual({ a: 2 });
  });
});
