import { MemoryStore, RedisStore, type SessionStore } from 'nestjs-sessionkit';
import { closeClient, deleteKeys, newRedis, testPrefix } from './redis.js';

/** The built-in stores, for suites that run on each. */
export const storeKinds = ['MemoryStore', 'RedisStore'] as const;
export type StoreKind = (typeof storeKinds)[number];

/** A store of one kind for one suite, and how to clean up after it. */
export interface TestStore {
  store: SessionStore;
  close(): Promise<void>;
}

/** A new store of `kind`; a RedisStore gets the suite's own key prefix, deleted on close. */
export function openStore(kind: StoreKind, suite: string, options: { maxSessions?: number } = {}): TestStore {
  if (kind === 'MemoryStore') {
    const store = new MemoryStore(options);
    return { store, close: () => store.close() };
  }
  const client = newRedis();
  const prefix = testPrefix(suite);
  const store = new RedisStore({ client, prefix });
  return {
    store,
    close: async () => {
      try {
        await deleteKeys(client, prefix);
      } finally {
        await closeClient(client);
      }
    },
  };
}
