import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import {
  ConfigurableModuleBuilder,
  Global,
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type Type,
} from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost, ModuleRef, ModulesContainer } from '@nestjs/core';
import { MemoryStore } from './stores/memory.store.js';
import { SESSION_RESOLVED_OPTIONS, SESSION_STORE } from './session.constants.js';
import type { SessionModuleOptions } from './session-module-options.interface.js';
import { type ResolvedSessionOptions, resolveSessionOptions } from './session-options.js';
import { sessionHttp } from './http/session-http.adapter.js';
import { socketSessions } from './integrations/socket-session.js';
import { SessionInterceptor } from './session.interceptor.js';
import { SessionRuntime } from './core/session.runtime.js';
import { SessionService } from './session.service.js';
import { SessionStoreLifecycle, assertNoForeignStoreProvider, storeClassError } from './session-store.lifecycle.js';
import type { SessionStore } from './stores/session-store.interface.js';
import { SessionEventEmitterBridge } from './integrations/event-emitter.bridge.js';
import { SessionTelemetryShutdown, instrumentedRuntime } from './integrations/opentelemetry.instrumentation.js';
import { SessionLockGuard, lockedHandlerIn } from './session-lock.guard.js';

const builder = new ConfigurableModuleBuilder<SessionModuleOptions>()
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createSessionOptions')
  .build();
const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = builder;

/**
 * Options of `SessionModule.forRootAsync()`: `imports`, `inject` and one of `useFactory`,
 * `useClass` (a class with `createSessionOptions()`) or `useExisting`.
 */
export type SessionModuleAsyncOptions = (typeof builder)['ASYNC_OPTIONS_TYPE'];

/** A class that `forRootAsync({ useClass })` instantiates to get the options. */
export interface SessionOptionsFactory {
  createSessionOptions(): SessionModuleOptions | Promise<SessionModuleOptions>;
}

/** The store in use, and whether the module made it and so must close it (internal). */
class StoreOwnership {
  constructor(
    readonly store: SessionStore,
    readonly owned: boolean,
  ) {}
}

function isStoreClass(store: SessionStore | Type<SessionStore>): store is Type<SessionStore> {
  return typeof store === 'function';
}

/** Wires the app's HTTP adapter as soon as Nest knows it (internal). */
class SessionHttpWiring implements OnApplicationBootstrap {
  constructor(
    runtime: SessionRuntime,
    private readonly adapterHost: HttpAdapterHost | undefined,
  ) {
    // Nest sets the adapter before it builds providers (NestFactory) or when the testing module
    // creates the app; init$ replays it. An app without HTTP (a standalone context) has none.
    adapterHost?.init$.subscribe(() => {
      const adapter = adapterHost.httpAdapter;
      if (adapter) sessionHttp.install(adapter, runtime);
    });
  }

  /** The HTTP server exists now: `ws` gateways on it find their handshake's cookie through this. */
  onApplicationBootstrap(): void {
    const server: unknown = this.adapterHost?.httpAdapter?.getHttpServer();
    if (server instanceof EventEmitter) socketSessions.watch(server as Server);
  }
}

/**
 * Server-side sessions for the whole app. Import once, in the root module:
 * `SessionModule.forRoot({ secret })` or `SessionModule.forRootAsync({ useFactory })`.
 * Global: `SessionService`, `SessionGuard` and `SESSION_STORE` work in every module. Nothing else
 * to register: every request can use its session (`@Session()`, `req.session`, guards, filters,
 * middleware, services), and whatever it changed is saved before the response headers leave.
 * Registers {@link SessionInterceptor} as a global interceptor (unless `globalInterceptor: false`).
 */
@Global()
@Module({
  providers: [
    {
      provide: SESSION_RESOLVED_OPTIONS,
      inject: [MODULE_OPTIONS_TOKEN],
      useFactory: (options: SessionModuleOptions) => resolveSessionOptions(options),
    },
    {
      provide: StoreOwnership,
      inject: [SESSION_RESOLVED_OPTIONS, ModuleRef, ModulesContainer],
      useFactory: async (options: ResolvedSessionOptions, moduleRef: ModuleRef, modules: ModulesContainer) => {
        // A SESSION_STORE provided elsewhere would be silently ignored: refuse it.
        assertNoForeignStoreProvider(modules, SessionModule);
        const { store } = options;
        if (store === undefined) return new StoreOwnership(new MemoryStore(), true);
        if (isStoreClass(store)) return new StoreOwnership(await moduleRef.create(store).catch((error: unknown) => Promise.reject(storeClassError(store, error))), true);
        return new StoreOwnership(store, false);
      },
    },
    { provide: SESSION_STORE, inject: [StoreOwnership], useFactory: (o: StoreOwnership) => o.store },
    {
      provide: SessionRuntime,
      inject: [SESSION_RESOLVED_OPTIONS, SESSION_STORE],
      useFactory: (options: ResolvedSessionOptions, store: SessionStore) => instrumentedRuntime(options, store),
    },
    {
      provide: SessionHttpWiring,
      inject: [SessionRuntime, { token: HttpAdapterHost, optional: true }],
      useFactory: (runtime: SessionRuntime, adapterHost?: HttpAdapterHost) => new SessionHttpWiring(runtime, adapterHost),
    },
    SessionService,
    SessionEventEmitterBridge,
    SessionStoreLifecycle,
    SessionTelemetryShutdown,
    {
      // Takes the lock of @SessionLock() handlers, before the app's controller and handler guards;
      // none (null: Nest skips it) in an app without such a handler, whose routes then run no guard of ours.
      provide: APP_GUARD,
      inject: [SessionRuntime, ModulesContainer],
      useFactory: (runtime: SessionRuntime, modules: ModulesContainer) => {
        const where = lockedHandlerIn(modules);
        return where === undefined ? null : new SessionLockGuard(runtime, where);
      },
    },
    SessionInterceptor,
    {
      provide: APP_INTERCEPTOR,
      inject: [SESSION_RESOLVED_OPTIONS, SessionInterceptor],
      // Nest skips a global enhancer whose factory returns null: no cost at all without it.
      useFactory: (options: ResolvedSessionOptions, interceptor: SessionInterceptor) => (options.globalInterceptor ? interceptor : null),
    },
  ],
  exports: [SessionService, SESSION_STORE, SessionRuntime, SessionInterceptor],
})
export class SessionModule extends ConfigurableModuleClass implements OnApplicationShutdown {
  constructor(@Inject(StoreOwnership) private readonly ownership: StoreOwnership) {
    super();
  }

  /** Closes the store if the module created it (the default `MemoryStore` or a store class). */
  async onApplicationShutdown(): Promise<void> {
    if (this.ownership.owned) await this.ownership.store.close?.();
  }
}
