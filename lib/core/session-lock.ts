import { Logger } from '@nestjs/common';
import type { SessionContext, SessionContextLock } from './session.context.js';
import { SessionBusyException, SessionError, SessionLockLostException } from './session.errors.js';
import type { SessionStore, SessionStoreLease } from '../stores/session-store.interface.js';
import type { SessionStoreUnavailableException } from './session.errors.js';

/** Options of `@SessionLock()`, and the defaults of `SessionModule.forRoot({ lock })`. */
export interface SessionLockOptions {
  /**
   * How long (milliseconds) a request waits for its session's lock while other requests of the
   * session hold it. Past it the request answers `409 Conflict` (`SessionBusyException`) without
   * running, and nothing changes. `0`: never wait.
   * @defaultValue `10_000` (10 seconds)
   */
  waitMs?: number;
  /**
   * How long (milliseconds) a lock outlives an instance that crashed while holding it. The lock is
   * renewed every third of it while the request runs, so a slow request keeps it; a request whose
   * lock could not be renewed in time (the store was unreachable) saves nothing and answers `503`.
   * @defaultValue `30_000` (30 seconds)
   */
  ttlMs?: number;
}

/** Lock options with every default filled in (internal). */
export interface ResolvedSessionLockOptions {
  waitMs: number;
  ttlMs: number;
}

/** The defaults of {@link SessionLockOptions}. */
export const SESSION_LOCK_DEFAULTS: ResolvedSessionLockOptions = { waitMs: 10_000, ttlMs: 30_000 };

/** Checks lock options, with `where` naming them in the error; an option left out comes from `defaults`. */
export function resolveLockOptions(options: SessionLockOptions | undefined, defaults: ResolvedSessionLockOptions, where: string): ResolvedSessionLockOptions {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new SessionError(`${where} takes an object { waitMs?, ttlMs? }, got ${String(options)}.`);
  }
  const waitMs = options?.waitMs ?? defaults.waitMs;
  const ttlMs = options?.ttlMs ?? defaults.ttlMs;
  if (typeof waitMs !== 'number' || !Number.isFinite(waitMs) || waitMs < 0) {
    throw new SessionError(`${where}: waitMs must be a number of milliseconds, 0 or more, got ${String(waitMs)}. Use e.g. ${SESSION_LOCK_DEFAULTS.waitMs}.`);
  }
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 10) {
    throw new SessionError(`${where}: ttlMs must be a number of milliseconds, 10 or more, got ${String(ttlMs)}. Use e.g. ${SESSION_LOCK_DEFAULTS.ttlMs}.`);
  }
  return { waitMs: Math.floor(waitMs), ttlMs: Math.floor(ttlMs) };
}

/** What the lock needs from the runtime (internal). */
export interface SessionLockHost {
  readonly store: SessionStore;
  storeFailure(operation: 'read' | 'write', error: unknown, handle?: string): SessionStoreUnavailableException;
}

const logger = new Logger('SessionModule');

/**
 * One request's hold on its session's lock (internal): taken before the session loads, renewed
 * every third of `ttlMs` while the request runs, checked before every commit, and freed after the
 * request's last commit.
 *
 * The fence: a commit goes ahead only while the lease was confirmed (taken or renewed) less than
 * half a ttl ago by this process's clock, renewing it first otherwise. The store counts the ttl
 * from when it received that command, which was after we sent it, so the write is sent while at
 * least half a ttl of the lock is left: a newer holder cannot exist unless the write then takes
 * longer than that to reach the store (the stores give up on an operation long before: 2 s by
 * default). A lost lock fails the commit with a 503 and writes nothing.
 */
export class SessionLockHold implements SessionContextLock {
  readonly taken: Promise<void>;
  private lease: SessionStoreLease | undefined;
  /** When the last successful take or renewal was sent (this process's clock). */
  private confirmedAt = 0;
  private lost = false;
  private refusedTake = false;
  private released = false;
  /** The client left before the answer: free the lock after the handler's commit. */
  private releaseOnFlush = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly host: SessionLockHost,
    private readonly handle: string,
    private readonly options: ResolvedSessionLockOptions,
  ) {
    // `refused` is set before anyone awaiting `taken` sees the failure.
    this.taken = this.take().catch((error: unknown) => {
      this.refusedTake = true;
      throw error;
    });
    // Awaited by the guard; a load waiting on it reports the same failure.
    this.taken.catch(() => undefined);
  }

  private async take(): Promise<void> {
    const { ttlMs, waitMs } = this.options;
    const sent = Date.now();
    let lease: SessionStoreLease | undefined;
    try {
      lease = await this.host.store.lock!(this.handle, { ttlMs, waitMs, signal: this.abort.signal });
    } catch (error) {
      throw this.host.storeFailure('read', error, this.handle);
    }
    if (lease === undefined) throw new SessionBusyException(waitMs);
    this.lease = lease;
    if (this.released) {
      // The client left while the request waited: nothing will run, give the lock back.
      this.free();
      throw new SessionBusyException(waitMs);
    }
    this.confirmedAt = sent;
    this.timer = setInterval(() => void this.renew().catch(() => undefined), Math.max(1, Math.floor(ttlMs / 3)));
    this.timer.unref();
  }

  get refused(): boolean {
    return this.refusedTake;
  }

  /** Renews the lease; `false` once it is lost. A store failure rejects (the lease may still hold). */
  private async renew(): Promise<boolean> {
    const lease = this.lease;
    if (this.lost || this.released || lease === undefined) return false;
    const sent = Date.now();
    const held = await lease.renew(this.options.ttlMs);
    // Freed meanwhile (the request ended): nothing was lost.
    if (this.released) return false;
    if (held) {
      if (sent > this.confirmedAt) this.confirmedAt = sent;
      return true;
    }
    this.lost = true;
    clearInterval(this.timer);
    logger.warn('A @SessionLock() request lost its session lock (it ran longer than ttlMs without a renewal); its changes will not be saved.');
    return false;
  }

  async fence(): Promise<void> {
    // Reached only once the lock was taken (a load waits for it).
    if (!this.lost && !this.released && Date.now() - this.confirmedAt < this.options.ttlMs / 2) return;
    let held: boolean;
    try {
      held = await this.renew();
    } catch (error) {
      throw this.host.storeFailure('write', error, this.handle);
    }
    if (!held) throw new SessionLockLostException();
  }

  flushed(): void {
    if (this.releaseOnFlush) this.free();
  }

  ended(answered: boolean, pending: Promise<void>): void {
    if (this.released || this.releaseOnFlush) return;
    if (this.lease === undefined) {
      // Still waiting for the lock: stop waiting.
      this.released = true;
      this.abort.abort();
      return;
    }
    if (answered) {
      void pending.then(() => this.free());
      return;
    }
    // The client left while the handler runs: keep the lock until the handler's commit, but stop
    // renewing it, so a handler that never ends blocks the session at most ttlMs.
    clearInterval(this.timer);
    this.releaseOnFlush = true;
  }

  private free(): void {
    if (this.released && this.lease === undefined) return;
    const lease = this.lease;
    this.released = true;
    this.lease = undefined;
    clearInterval(this.timer);
    lease?.release().catch((error: unknown) => logger.error(`The session lock could not be released (it expires by itself after ttlMs): ${error instanceof Error ? error.message : String(error)}`));
  }
}

/** Puts `context` under the lock of session `handle` (internal): the session loads only once it is held. */
export function lockContext(context: SessionContext, host: SessionLockHost, handle: string, options: ResolvedSessionLockOptions): Promise<void> {
  const hold = new SessionLockHold(host, handle, options);
  context.lockWith(hold);
  return hold.taken;
}
