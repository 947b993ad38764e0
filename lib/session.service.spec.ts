import { SessionError, SessionStoreCapabilityError, SessionStoreUnavailableException } from './core/session.errors.js';
import { SessionRuntime } from './core/session.runtime.js';
import { resolveSessionOptions } from './session-options.js';
import { SessionService } from './session.service.js';
import { MemoryStore } from './stores/memory.store.js';

const SECRET = 'a-test-secret-of-more-than-32-bytes-0123456789';

/** A MemoryStore whose listByUser rejects with `error`. */
function serviceListingWith(error: Error): SessionService {
  const store = new MemoryStore();
  store.listByUser = () => Promise.reject(error);
  return new SessionService(new SessionRuntime(resolveSessionOptions({ secret: SECRET, store }), store));
}

describe('SessionService.listByUser', () => {
  it("answers a store's own failure as the store being unavailable (503), even when the store throws a SessionError", async () => {
    const outage = new SessionError('MysqlStore: listByUser timed out after 2000 ms.');
    await expect(serviceListingWith(outage).listByUser('u1')).rejects.toBeInstanceOf(SessionStoreUnavailableException);
    await expect(serviceListingWith(new Error('ECONNREFUSED')).listByUser('u1')).rejects.toBeInstanceOf(SessionStoreUnavailableException);
  });

  it('passes on a store that says it cannot list users: that is no outage', async () => {
    const refusal = new SessionStoreCapabilityError('ExpressSessionStore: listByUser needs all().');
    await expect(serviceListingWith(refusal).listByUser('u1')).rejects.toBe(refusal);
  });
});
