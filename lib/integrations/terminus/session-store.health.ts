import { Inject, Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { SESSION_STORE } from '../../session.constants.js';
import type { SessionStore } from '../../stores/session-store.interface.js';
import { SessionError } from '../../core/session.errors.js';

/** Options of {@link SessionStoreHealthIndicator.isHealthy}. */
export interface SessionStoreHealthOptions {
  /** Milliseconds the store may take to answer before it counts as down. @defaultValue `1000` */
  timeout?: number;
}

/** A handle no session has (not 64 hex digits), read when a store has no `ping()`. */
const PROBE_HANDLE = 'health-probe';

/**
 * `@nestjs/terminus` health indicator of the session store `SessionModule` uses: Redis answers
 * `PING`, `MemoryStore` is always up, a custom store answers its `ping()` (or, without one, a
 * `get` of a session that does not exist). Down when the store rejects or takes longer than
 * `timeout`.
 *
 * ```ts
 * import { SessionStoreHealthIndicator } from 'nestjs-sessionkit/terminus';
 *
 * @Module({ imports: [TerminusModule], providers: [SessionStoreHealthIndicator], controllers: [HealthController] })
 * // in HealthController: this.health.check([() => this.sessionStore.isHealthy('session-store')])
 * ```
 */
@Injectable()
export class SessionStoreHealthIndicator {
  constructor(
    @Inject(HealthIndicatorService) private readonly health: HealthIndicatorService,
    @Inject(SESSION_STORE) private readonly store: SessionStore,
  ) {}

  /** Pings the store under `key`: `{ [key]: { status: 'up' } }`, or `'down'` with a `message`. */
  async isHealthy<const Key extends string>(key: Key, options: SessionStoreHealthOptions = {}): Promise<HealthIndicatorResult<Key>> {
    const indicator = this.health.check(key);
    const timeout = options.timeout ?? 1_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const ping = this.store.ping ? this.store.ping() : this.store.get(PROBE_HANDLE);
      await Promise.race([
        ping,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new SessionError(`The session store did not answer within ${timeout} ms.`)), timeout);
        }),
      ]);
      return indicator.up();
    } catch (error) {
      return indicator.down({ message: error instanceof Error ? error.message : String(error) });
    } finally {
      clearTimeout(timer);
    }
  }
}
