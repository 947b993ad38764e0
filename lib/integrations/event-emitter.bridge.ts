import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { SessionRuntime } from '../core/session.runtime.js';

/** The part of `EventEmitter2` the bridge uses. */
interface EventEmitterLike {
  emit(event: string, ...values: unknown[]): boolean;
}

/**
 * Re-emits session events as `session.<type>` on the app's `EventEmitter2` when the app has
 * `@nestjs/event-emitter` set up (internal). The package is an optional peer dependency: it is
 * imported only here, at startup, and an app without it (or without `EventEmitterModule`) just
 * gets no bridge.
 */
@Injectable()
export class SessionEventEmitterBridge implements OnModuleInit {
  constructor(
    @Inject(SessionRuntime) private readonly runtime: SessionRuntime,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
  ) {}

  async onModuleInit(): Promise<void> {
    let emitter: EventEmitterLike;
    try {
      const { EventEmitter2 } = await import('@nestjs/event-emitter');
      emitter = this.moduleRef.get(EventEmitter2, { strict: false });
    } catch {
      return; // Not installed, or EventEmitterModule not imported: events$ only.
    }
    this.runtime.events.forward((event) => emitter.emit(`session.${event.type}`, event));
  }
}
