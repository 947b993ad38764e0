import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { Observable, type Subscription } from 'rxjs';
import { sessionLockOf, takeSessionLock } from '../session-lock.guard.js';
import { SessionRuntime } from '../core/session.runtime.js';
import { socketSessions } from './socket-session.js';

/**
 * Saves the session of a socket message before the handler's reply is emitted, and after a
 * handler that replies nothing or throws (internal). `@Session()` binds it to the
 * `@SubscribeMessage()` handlers that use it, and to no other handler.
 */
@Injectable()
export class SocketSessionInterceptor implements NestInterceptor {
  constructor(@Inject(SessionRuntime) private readonly runtime: SessionRuntime) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const session = socketSessions.contextOf(context.getArgs(), context.getArgByIndex(0) as object, this.runtime);
    const save = (): Promise<void> =>
      session.flush().catch(async (error: unknown) => {
        throw await socketSessions.wsError(error);
      });
    const lock = sessionLockOf(context, this.runtime);
    return new Observable<unknown>((subscriber) => {
      // Each step waits for the save before it; a failed save ends the stream with its error.
      let queue = Promise.resolve();
      const after = (step: () => void, failed: (error: unknown) => void = (error) => subscriber.error(error)): void => {
        queue = queue.then(save).then(step, failed);
      };
      // The message is handled: its session lock (@SessionLock()), if any, goes after the last save.
      const end = (): void => void queue.then(() => session.end(true));
      let subscription: Subscription | undefined;
      let closed = false;
      const handle = (): void => {
        if (closed) return end();
        subscription = socketSessions.run(session, () => next.handle()).subscribe({
          next: (value) => after(() => subscriber.next(value)),
          complete: () => {
            after(() => subscriber.complete());
            end();
          },
          // The handler's own error wins over a failed save's, which is logged by the runtime.
          error: (error: unknown) => {
            after(() => subscriber.error(error), () => subscriber.error(error));
            end();
          },
        });
      };
      // @SessionLock(): taken here, after every guard, so a guard that refuses the message leaves no lock behind.
      if (lock === null) handle();
      else {
        takeSessionLock(this.runtime, session, lock).then(handle, async (error: unknown) => subscriber.error(await socketSessions.wsError(error)));
      }
      return () => {
        closed = true;
        subscription?.unsubscribe();
        end();
      };
    });
  }
}
