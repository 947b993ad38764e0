import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { SESSION_STORE } from './session.constants.js';
import type { SessionStore } from './stores/session-store.interface.js';
import { SessionError } from './core/session.errors.js';

/** How often the store's `cleanup()` runs when the store does not say (milliseconds). */
const DEFAULT_CLEANUP_INTERVAL = 300_000;

const HOW_TO_GIVE_A_STORE =
  'Give the store to SessionModule instead: SessionModule.forRoot({ secret, store: MyStore }) (a class Nest builds, its dependencies from global modules), ' +
  'or SessionModule.forRootAsync({ imports: [DbModule], inject: [Pool], useFactory: (pool) => ({ secret, store: new MyStore(pool) }) }); ' +
  'then @Inject(SESSION_STORE) anywhere gives that very store.';

/**
 * Fails startup when a module other than `SessionModule` provides `SESSION_STORE`. Such a
 * provider would be silently ignored: `SessionModule` is global, so its own `SESSION_STORE` is
 * the one sessions use, while the module that declared the other one would inject its own
 * store, a different instance that sessions never touch.
 */
export function assertNoForeignStoreProvider(modules: ModulesContainer, sessionModule: Type<unknown>): void {
  for (const module of modules.values()) {
    if (module.metatype === sessionModule || !module.providers.has(SESSION_STORE)) continue;
    const wrapper = module.providers.get(SESSION_STORE)!;
    const what = typeof wrapper.metatype === 'function' && wrapper.metatype.name !== '' && wrapper.metatype.name !== 'useFactory' ? ` (${wrapper.metatype.name})` : '';
    throw new SessionError(`${module.name} provides SESSION_STORE${what}, but sessions would not use it: SessionModule provides that token itself. ${HOW_TO_GIVE_A_STORE}`);
  }
}

/**
 * Adds a hint to the error Nest gives when it cannot build a store class inside `SessionModule`:
 * the class's dependencies must be visible there.
 */
export function storeClassError(store: Type<unknown>, error: unknown): SessionError {
  const message = error instanceof Error ? error.message : String(error);
  return new SessionError(
    `SessionModule could not build the store class ${store.name}: ${message}\n` +
      `SessionModule builds it in its own scope, which sees global modules and the imports given to SessionModule.forRootAsync({ imports }), not the providers of your own modules. ` +
      `Export the dependency from a module and list that module in forRootAsync({ imports: [...] }), or build the store in forRootAsync's useFactory.`,
    { cause: error },
  );
}

/**
 * Runs the store's optional startup and upkeep (internal): `init()` before the app serves
 * requests, `cleanup()` every `cleanupInterval` on a timer that never keeps the process alive,
 * stopped before the store is closed.
 */
@Injectable()
export class SessionStoreLifecycle implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('SessionModule');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(@Inject(SESSION_STORE) private readonly store: SessionStore) {}

  async onModuleInit(): Promise<void> {
    await this.store.init?.();
  }

  onApplicationBootstrap(): void {
    if (typeof this.store.cleanup !== 'function') return;
    const interval = this.store.cleanupInterval ?? DEFAULT_CLEANUP_INTERVAL;
    if (!(interval > 0)) return;
    this.timer = setInterval(() => {
      // One cleanup at a time: a slow one is not stacked on.
      this.running ??= this.store
        .cleanup!()
        .then(
          () => undefined,
          (error: unknown) => this.logger.warn(`Deleting expired sessions failed (retried in ${interval} ms): ${error instanceof Error ? error.message : String(error)}`),
        )
        .finally(() => (this.running = undefined));
    }, interval);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
