import type { SessionStoreLease, SessionStoreLockRequest } from './session-store.interface.js';

/** First wait between two tries of a lock another instance holds (milliseconds). */
const FIRST_WAIT_MS = 2;
/** Longest wait between two tries: a lock freed by another instance is seen within this. */
const MAX_WAIT_MS = 50;

/** What a store does on its backend for one holder of a lock (its token is the store's business). */
export interface StoreLockOps {
  /** One try: true when the lock was free (or expired) and is now this holder's. */
  take(): Promise<boolean>;
  /** Extends the lock while this holder has it; false when it does not. */
  renew(ttlMs: number): Promise<boolean>;
  /** Frees the lock while this holder has it. */
  release(): Promise<void>;
}

/** This instance's requests for one session's lock: the one whose turn it is, and the others in arrival order. */
interface LocalTurns {
  busy: boolean;
  waiters: (() => void)[];
}

/**
 * Waiting for a lock in a store that cannot notify (internal), for `RedisStore` and
 * `PostgresStore`. Requests of one session on this instance queue here, in arrival order, and
 * only the first of them tries the store: it tries again with a growing, jittered wait (another
 * instance holds the lock) until it gets it or `waitMs` passes. When it frees the lock the next
 * in line tries at once, so requests of one session on one instance take turns without delay
 * and without rushing the store. Across instances the lock is seen free within
 * {@link MAX_WAIT_MS}, and whoever tries first gets it. A turn ends with its lease: released,
 * found lost, or `ttlMs` after it was last taken or renewed (a holder that never came back).
 */
export class LockPoller {
  private readonly turns = new Map<string, LocalTurns>();

  async lock(handle: string, request: SessionStoreLockRequest, ops: StoreLockOps): Promise<SessionStoreLease | undefined> {
    const deadline = Date.now() + request.waitMs;
    if (!(await this.turn(handle, deadline, request.signal))) return undefined;
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const end = (): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      this.next(handle);
    };
    const expireIn = (ttlMs: number): void => {
      clearTimeout(timer);
      timer = setTimeout(end, ttlMs);
      timer.unref();
    };
    try {
      let wait = FIRST_WAIT_MS;
      while (!(await ops.take())) {
        const left = deadline - Date.now();
        if (left <= 0 || request.signal?.aborted === true) {
          end();
          return undefined;
        }
        // Jitter, so waiters of one session on several instances do not retry in step.
        await sleep(Math.min(left, wait * (0.5 + Math.random())), request.signal);
        wait = Math.min(wait * 2, MAX_WAIT_MS);
      }
    } catch (error) {
      end();
      throw error;
    }
    expireIn(request.ttlMs);
    return {
      renew: async (ttlMs) => {
        if (ended) return false;
        const held = await ops.renew(ttlMs);
        if (held) expireIn(ttlMs);
        else end();
        return held;
      },
      release: async () => {
        try {
          if (!ended) await ops.release();
        } finally {
          end();
        }
      },
    };
  }

  /** Waits for this request's turn among this instance's requests of `handle`; false past the deadline or when aborted. */
  private turn(handle: string, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
    let turns = this.turns.get(handle);
    if (turns === undefined) this.turns.set(handle, (turns = { busy: false, waiters: [] }));
    if (!turns.busy) {
      turns.busy = true;
      return Promise.resolve(true);
    }
    const { waiters } = turns;
    return new Promise<boolean>((resolve) => {
      const settle = (mine: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        resolve(mine);
      };
      const go = (): void => settle(true);
      const giveUp = (): void => {
        const at = waiters.indexOf(go);
        if (at >= 0) waiters.splice(at, 1);
        settle(false);
      };
      const timer = setTimeout(giveUp, Math.max(0, deadline - Date.now()));
      signal?.addEventListener('abort', giveUp, { once: true });
      waiters.push(go);
    });
  }

  /** Hands the turn of `handle` to the next request in line, or forgets the handle. */
  private next(handle: string): void {
    const turns = this.turns.get(handle);
    if (turns === undefined) return;
    const go = turns.waiters.shift();
    if (go !== undefined) return go();
    this.turns.delete(handle);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal?.addEventListener('abort', wake, { once: true });
  });
}
