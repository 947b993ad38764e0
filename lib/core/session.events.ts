import { Logger } from '@nestjs/common';
import { type Observable, Subject } from 'rxjs';

/** The names of the session lifecycle events. */
export type SessionEventType = 'created' | 'regenerated' | 'destroyed' | 'expired' | 'revoked' | 'store-error';

/** What every session event carries. */
interface SessionEventBase<K extends SessionEventType> {
  /** The event's name. */
  type: K;
  /** The session's handle: the one-way hash of its id (never the id itself). */
  handle: string;
  /** The user key (the `authKey` value as stores index it), when known. */
  user?: string;
  /** When it happened, epoch milliseconds. */
  at: number;
}

/** A session was first stored. */
export type SessionCreatedEvent = SessionEventBase<'created'>;
/** A session moved to a new id (`regenerate()`); `handle` is the new handle. */
export interface SessionRegeneratedEvent extends SessionEventBase<'regenerated'> {
  /** The handle the session had before. */
  previousHandle: string;
}
/** A request destroyed its own session (`session.destroy()`, logout). */
export type SessionDestroyedEvent = SessionEventBase<'destroyed'>;
/** A request brought a session that had expired (seen when loading it). */
export type SessionExpiredEvent = SessionEventBase<'expired'>;
/** `SessionService.destroy()` or `destroyByUser()` revoked a session: one event per session. */
export type SessionRevokedEvent = SessionEventBase<'revoked'>;
/** The store failed (the request got a 503). */
export interface SessionStoreErrorEvent extends Omit<SessionEventBase<'store-error'>, 'handle'> {
  /** The session concerned; `undefined` for an operation on no single session (`listByUser`). */
  handle: string | undefined;
  /** Whether reading or writing failed. */
  operation: 'read' | 'write';
  /** What the store rejected with. */
  error: unknown;
}

/** A session lifecycle event, as `SessionService.events$` and `@nestjs/event-emitter` deliver it. */
export type SessionEvent =
  | SessionCreatedEvent
  | SessionRegeneratedEvent
  | SessionDestroyedEvent
  | SessionExpiredEvent
  | SessionRevokedEvent
  | SessionStoreErrorEvent;

/** Distributive `Omit`, so each member of the union keeps its own fields. */
type WithoutAt<E> = E extends unknown ? Omit<E, 'at'> : never;

/**
 * The session event stream (internal; one per runtime). Events are queued and delivered on a
 * later turn of the event loop (`setImmediate`), so no listener, slow or throwing, runs inside a
 * request's own work: a request never waits for one, nor fails because of one. Nothing is queued
 * while nobody listens.
 */
export class SessionEvents {
  private readonly logger = new Logger('SessionModule');
  private readonly subject = new Subject<SessionEvent>();
  private readonly queue: SessionEvent[] = [];
  private scheduled = false;
  /** The events, for `SessionService.events$`. */
  readonly events$: Observable<SessionEvent> = this.subject.asObservable();

  emit(event: WithoutAt<SessionEvent>): void {
    if (!this.subject.observed) return;
    this.queue.push({ ...event, at: Date.now() } as SessionEvent);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.deliver());
    }
  }

  /**
   * Forwards every event to `listener` (the `@nestjs/event-emitter` bridge); what it throws is
   * logged, never passed on.
   */
  forward(listener: (event: SessionEvent) => void): void {
    this.subject.subscribe((event) => {
      try {
        listener(event);
      } catch (error) {
        this.logger.error(`A session ${event.type} event listener failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  }

  private deliver(): void {
    this.scheduled = false;
    for (const event of this.queue.splice(0)) this.subject.next(event);
  }
}
