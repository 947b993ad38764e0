import type { SessionPatch, SessionRecord, SessionStore, SessionStoreUserEntry } from '../stores/session-store.interface.js';
import { type ReadNowStore, type WriteNowStore, patchNow, readNow, setNow } from '../stores/memory.store.js';

/** The store calls that are traced and timed. */
export type StoreOperation = 'get' | 'set' | 'patch' | 'touch' | 'move' | 'destroy' | 'listByUser' | 'destroyByUser';

/** What the wrapper needs from `SessionTelemetry`. */
export interface StoreCallObserver {
  /** False while neither an SDK's tracer nor a meter is registered: calls then go straight through. */
  readonly active: boolean;
  call<T>(operation: StoreOperation, handle: string | undefined, bytes: (() => number) | undefined, work: () => Promise<T>): Promise<T>;
}

/** The JSON bytes of the values a patch sends: those it sets and the amounts it adds. */
function patchBytes(patch: SessionPatch): number {
  let bytes = 0;
  for (const key in patch.set) bytes += Buffer.byteLength(JSON.stringify(patch.set[key]), 'utf8');
  for (const key in patch.incr) bytes += String(patch.incr[key]).length;
  return bytes;
}

function recordBytes(record: SessionRecord): number {
  return Buffer.byteLength(JSON.stringify(record.data), 'utf8');
}

/**
 * The store as the runtime sees it once OpenTelemetry is on (internal): the same store, every
 * call reported to `observer`. Optional methods stay optional: the runtime picks its way of
 * writing by which methods the store has. Only the runtime and `SessionService` call it; the
 * `SESSION_STORE` token keeps the store itself.
 */
export function instrumentedStore(inner: SessionStore, observer: StoreCallObserver): SessionStore {
  const store: SessionStore = {
    get: (handle) => (observer.active ? observer.call('get', handle, undefined, () => inner.get(handle)) : inner.get(handle)),
    set: (handle, record, ttl) => (observer.active ? observer.call('set', handle, () => recordBytes(record), () => inner.set(handle, record, ttl)) : inner.set(handle, record, ttl)),
    destroy: (handle) => (observer.active ? observer.call('destroy', handle, undefined, () => inner.destroy(handle)) : inner.destroy(handle)),
  };
  if (inner.touch) {
    const touch = inner.touch.bind(inner);
    // A touch writes the expiry and touchedAt, no data.
    store.touch = (handle, record, ttl) => (observer.active ? observer.call('touch', handle, () => 0, () => touch(handle, record, ttl)) : touch(handle, record, ttl));
  }
  if (inner.patch) {
    const patch = inner.patch.bind(inner);
    store.patch = (handle, change, ttl) => (observer.active ? observer.call('patch', handle, () => patchBytes(change), () => patch(handle, change, ttl)) : patch(handle, change, ttl));
  }
  if (inner.move) {
    const move = inner.move.bind(inner);
    store.move = (from, to, record, ttl) => (observer.active ? observer.call('move', to, () => recordBytes(record), () => move(from, to, record, ttl)) : move(from, to, record, ttl));
  }
  if (inner.listByUser) {
    const listByUser = inner.listByUser.bind(inner);
    store.listByUser = (user): Promise<SessionStoreUserEntry[]> => (observer.active ? observer.call('listByUser', undefined, undefined, () => listByUser(user)) : listByUser(user));
  }
  if (inner.destroyByUser) {
    const destroyByUser = inner.destroyByUser.bind(inner);
    store.destroyByUser = (user, except) => (observer.active ? observer.call('destroyByUser', undefined, undefined, () => destroyByUser(user, except)) : destroyByUser(user, except));
  }
  const now = (inner as ReadNowStore)[readNow];
  if (now !== undefined) {
    // The synchronous read skips the wrapper: offered only while there is nothing to trace or time.
    (store as ReadNowStore)[readNow] = (handle) => (observer.active ? null : now.call(inner, handle));
  }
  // The same for the synchronous writes.
  const { [patchNow]: patchAtOnce, [setNow]: setAtOnce } = inner as WriteNowStore;
  if (patchAtOnce !== undefined) {
    (store as WriteNowStore)[patchNow] = (handle, change, ttl) => (observer.active ? null : patchAtOnce.call(inner, handle, change, ttl));
  }
  if (setAtOnce !== undefined) {
    (store as WriteNowStore)[setNow] = (handle, record, ttl) => (observer.active ? null : setAtOnce.call(inner, handle, record, ttl));
  }
  // Everything else goes straight to the store, whatever the store has (countSessions at metric
  // collection, ping for health checks, lock, forwardingTtl, startup and shutdown calls), so a
  // capability the runtime looks for is never hidden by the wrapper.
  const target = store as unknown as Record<string, unknown>;
  for (let proto: object | null = inner; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name in target) continue;
      const value = (inner as unknown as Record<string, unknown>)[name];
      target[name] = typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(inner) : value;
    }
  }
  // Messages that name the store's class (a store without lock() for @SessionLock()) name the wrapped one.
  Object.defineProperty(store, 'constructor', { value: inner.constructor, enumerable: false });
  return store;
}
