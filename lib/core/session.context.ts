import type { SessionHandle } from './session.handle.js';

/**
 * The promise of a commit that was over before it returned (internal): shared, since it is
 * resolved and never rejects. Whoever gets it may go on at once, not a tick later.
 */
export const COMMITTED: Promise<void> = Promise.resolve();

/** What a request context needs from the runtime (internal). */
export interface SessionContextHost {
  read(context: SessionContext): Promise<SessionHandle>;
  /**
   * {@link read}, done before it returns where nothing in it has to wait (a store that reads at
   * once, a first visit, a sealed cookie): the session, or thrown, the error `read` would reject
   * with. `undefined`, with nothing done, where the read must go through `read`. Absent: it always must.
   */
  readNow?(context: SessionContext): SessionHandle | undefined;
  commit(session: SessionHandle): Promise<void>;
  /**
   * {@link commit}, done before it returns where nothing in it has to wait (a store that writes
   * at once): {@link COMMITTED}, or a promise already rejected with the error `commit` would give.
   * `undefined`, with nothing done, where the commit must go through `commit`. Absent: it always must.
   */
  commitNow?(session: SessionHandle): Promise<void> | undefined;
  /** True when committing `session` now would write nothing and send no cookie. */
  settled(session: SessionHandle): boolean;
}

/** What a request's session lock (`@SessionLock()`, see session-lock.ts) does for its context (internal). */
export interface SessionContextLock {
  /** Settles once the lock is held; rejects (409, 503) when it could not be taken. Loads wait for it. */
  readonly taken: Promise<void>;
  /**
   * True once taking the lock failed (409, 503): the request did not run under it, so nothing it
   * holds is saved, not even what was loaded or changed before the lock was asked for.
   */
  readonly refused: boolean;
  /** Runs before each commit: rejects (503) when the lock was lost, so nothing is written. */
  fence(): Promise<void>;
  /** After each commit, failed or not. */
  flushed(): void;
  /**
   * The request is over. `answered`: its answer (its headers at least) went out, so the handler's
   * commit is in `pending`; otherwise the client left while the handler still runs.
   */
  ended(answered: boolean, pending: Promise<void>): void;
}

/**
 * One request's session: created on first use by whoever asks first (middleware, guard, pipe,
 * decorator, service, `req.session`), loaded at most once, and committed before the response
 * headers leave (internal).
 */
export class SessionContext {
  private handle: SessionHandle | undefined;
  private loading: Promise<SessionHandle> | undefined;
  /** Writes made through `req.session` before the session was loaded, applied once it is. */
  private queued: ((session: SessionHandle) => void)[] | undefined;
  /** The last commit, so commits of one request never overlap (none yet: most requests never commit here). */
  private committing: Promise<void> | undefined;
  /** Commits started and not yet settled. */
  private inFlight = 0;
  /** A load started by `preload` failed: the error reaches the first caller that needs the session. */
  private preloadError: unknown;
  /**
   * The interceptor's commit failed and its error went into Nest's pipeline: the answer the app
   * sends for it (an exception filter's) must not be replaced by the hooks retrying the save.
   */
  private failedInPipeline = false;
  /** The hooks before the headers began saving: the response is on its way (`@Res()`, a filter). */
  private sending = false;
  /** With `@SessionLock()`: the request's lock on its session. */
  private lock: SessionContextLock | undefined;

  constructor(
    private readonly host: SessionContextHost,
    /** The framework's request (Express `Request` or `FastifyRequest`). */
    readonly request: object,
    /** The framework's response (Express `Response` or `FastifyReply`). */
    readonly response: object,
  ) {}

  /** The session if it was loaded already. */
  get loaded(): SessionHandle | undefined {
    return this.handle;
  }

  /** True once anything asked for the session (its load may still be running). */
  get started(): boolean {
    return this.loading !== undefined || this.queued !== undefined;
  }

  /** True once the request asked for its session's lock. */
  get locked(): boolean {
    return this.lock !== undefined;
  }

  /** Puts the request under `lock`: later loads wait for it, commits check it, {@link end} frees it. */
  lockWith(lock: SessionContextLock): void {
    this.lock = lock;
  }

  /** The request is over (see {@link SessionContextLock.ended}): its lock, if any, goes after its last commit. */
  end(answered: boolean): void {
    this.lock?.ended(answered, this.committing ?? Promise.resolve());
  }

  /** The session, loaded once per request however many callers ask. */
  load(): Promise<SessionHandle> {
    if (this.preloadError !== undefined) return Promise.reject(this.preloadError);
    if (this.loading === undefined) {
      const lock = this.lock;
      if (lock === undefined && this.host.readNow !== undefined) {
        let session: SessionHandle | undefined;
        try {
          session = this.host.readNow(this);
        } catch (error) {
          // As a failed read below: nothing kept, so a later caller of the same request may retry.
          return Promise.reject(error);
        }
        // Read at once: one settled promise for every caller, and no closures to run a tick later.
        if (session !== undefined) return (this.loading = this.loadedNow(session));
      }
      this.loading = (lock === undefined ? this.host.read(this) : lock.taken.then(() => this.host.read(this))).then(
        (session) => {
          this.handle = session;
          this.applyQueued(session);
          return session;
        },
        (error: unknown) => {
          // A failed load may be retried by a later caller of the same request.
          this.loading = undefined;
          throw error;
        },
      );
    }
    return this.loading;
  }

  /**
   * The promise of a load that read `session` at once: as the load's `then` below would settle,
   * fulfilled with it, or rejected with what a queued write threw (the session stays loaded).
   */
  private loadedNow(session: SessionHandle): Promise<SessionHandle> {
    this.handle = session;
    try {
      this.applyQueued(session);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve(session);
  }

  private applyQueued(session: SessionHandle): void {
    const queued = this.queued;
    // Most loads have nothing queued: no array taken out for them.
    if (queued !== undefined) for (const write of queued.splice(0)) write(session);
  }

  /** Loads ahead of the app's middleware; a failure is kept for whoever needs the session. */
  async preload(): Promise<void> {
    try {
      await this.load();
    } catch (error) {
      this.preloadError = error;
    }
  }

  /**
   * Applies a synchronous write now if the session is loaded, or once it is: `req.session.x = 1`
   * before anything loaded the session is kept, not lost.
   */
  write(change: (session: SessionHandle) => void): void {
    if (this.handle !== undefined) return change(this.handle);
    (this.queued ??= []).push(change);
    // Started now so that the commit before the response finds it loaded, or fails loudly.
    this.load().catch(() => undefined);
  }

  /**
   * The interceptor's commit, when the handler's result is ready: as {@link flush}, and after a
   * failure the hooks before the headers stand back (the error is the request's answer now).
   */
  commitResult(): Promise<void> {
    const saving = this.flush();
    // Saved already: nothing can fail any more, and the interceptor passes the result on at once.
    if (saving === COMMITTED) return saving;
    return saving.catch((error: unknown) => {
      this.failedInPipeline = true;
      throw error;
    });
  }

  /** The hooks' commit before the headers leave: what is left, unless the interceptor's commit failed. */
  flushLeft(): Promise<void> {
    this.sending = true;
    return this.failedInPipeline ? Promise.resolve() : this.flush();
  }

  /**
   * True when a commit now would write nothing: nothing used the session, or it is loaded, no
   * commit is running and nothing changed since the last one. The callers then go on at once
   * rather than through a commit that resolves a tick later (most responses of a session app).
   */
  get settled(): boolean {
    if (!this.started) return this.inFlight === 0;
    const session = this.handle;
    return session !== undefined && this.inFlight === 0 && this.lock === undefined && this.host.settled(session);
  }

  /** {@link flushLeft} without waiting, when it would have nothing to do: true if the response may go now. */
  settleLeft(): boolean {
    if (!this.failedInPipeline && !this.settled) return false;
    this.sending = true;
    return true;
  }

  /** True once the hooks before the headers took over: the interceptor then leaves the commit to them. */
  get answering(): boolean {
    return this.sending;
  }

  /**
   * Writes what the request changed, before the response headers leave: waits for a load in
   * progress (or one that queued writes need), then commits once more for anything changed since
   * the last commit. Rejects with the store's failure. Writes nothing once the request's lock was
   * refused.
   */
  flush(): Promise<void> {
    const session = this.handle;
    if (session !== undefined && this.inFlight === 0 && this.lock === undefined) {
      // Nothing to wait for (loaded, no commit running, no lock to check): a commit the runtime
      // can do at once is settled when it returns, so there is nothing to queue or count.
      const done = this.host.commitNow?.(session);
      if (done !== undefined) return done;
    }
    const next = (this.committing ?? Promise.resolve()).then(async () => {
      // A refused lock: the request never ran (its answer is the refusal); writing now would
      // race the holder, and the cookie the browser has stays as it is.
      if (!this.started || this.lock?.refused) return;
      const session = await this.load();
      await this.lock?.fence();
      await this.host.commit(session);
    });
    this.inFlight++;
    const done = (): void => {
      this.inFlight--;
    };
    // A failed commit must not block a later one (e.g. save() failed, the response commit retries).
    const committing = next.then(done, done);
    this.committing = committing;
    if (this.lock !== undefined) void committing.then(() => this.lock?.flushed());
    return next;
  }
}
