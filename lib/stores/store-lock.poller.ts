import type { SessionStoreLockRequest } from './session-store.interface.js';

/** First wait between two tries of a lock someone holds (milliseconds). */
const FIRST_WAIT_MS = 2;
/** Longest wait between two tries: a lock freed by another instance is seen within this. */
const MAX_WAIT_MS = 50;

/**
 * Waiting for a lock in a store that cannot notify (internal): `RedisStore` and `PostgresStore`
 * try again with a growing, jittered wait. A lock freed by this very store instance wakes the
 * waiters of that handle at once, so requests of one session on one instance take turns without
 * delay; across instances the wait is at most {@link MAX_WAIT_MS}. Not first-come first-served:
 * whoever tries first after a release gets the lock.
 */
export class LockPoller {
  private readonly waiting = new Map<string, Set<() => void>>();

  /**
   * Tries `attempt` until it gives a lease, `waitMs` passes or `signal` aborts (then
   * `undefined`). A failing attempt (the backend is down) rejects at once.
   */
  async acquire<T>(handle: string, request: SessionStoreLockRequest, attempt: () => Promise<T | undefined>): Promise<T | undefined> {
    const deadline = Date.now() + request.waitMs;
    let wait = FIRST_WAIT_MS;
    for (;;) {
      const lease = await attempt();
      if (lease !== undefined) return lease;
      const left = deadline - Date.now();
      if (left <= 0 || request.signal?.aborted === true) return undefined;
      // Jitter, so waiters of one session on several instances do not retry in step.
      await this.sleep(handle, Math.min(left, wait * (0.5 + Math.random())), request.signal);
      wait = Math.min(wait * 2, MAX_WAIT_MS);
    }
  }

  /** Wakes this instance's waiters of `handle`: its lock was just freed. */
  released(handle: string): void {
    const waiters = this.waiting.get(handle);
    if (waiters === undefined) return;
    this.waiting.delete(handle);
    for (const wake of waiters) wake();
  }

  private sleep(handle: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let waiters = this.waiting.get(handle);
      if (waiters === undefined) this.waiting.set(handle, (waiters = new Set()));
      const set = waiters;
      const wake = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        set.delete(wake);
        if (set.size === 0 && this.waiting.get(handle) === set) this.waiting.delete(handle);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      signal?.addEventListener('abort', wake, { once: true });
      set.add(wake);
    });
  }
}
