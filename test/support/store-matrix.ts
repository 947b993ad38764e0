import { RedisStore, type SessionStore } from 'nestjs-sessionkit';
import { CountingStore } from './stores.js';
import { deleteKeys, newRedis, testPrefix } from './redis.js';

/** The stores the request-level guarantees are checked on. */
export const storeKinds = ['memory', 'redis'] as const;
export type StoreKind = (typeof storeKinds)[number];

/** A store for one suite, and how to remove what it left behind. */
export interface TestStore {
  store: SessionStore;
  close(): Promise<void>;
}

/** A CountingStore (memory), or a RedisStore on the shared Redis under a key prefix of `suite`'s own. */
export function testStore(kind: StoreKind, suite: string): TestStore {
  if (kind === 'memory') return { store: new CountingStore(), close: async () => undefined };
  const redis = newRedis();
  const prefix = testPrefix(suite);
  return {
    store: new RedisStore({ client: redis, prefix }),
    async close() {
      await deleteKeys(redis, prefix);
      redis.disconnect();
    },
  };
}
