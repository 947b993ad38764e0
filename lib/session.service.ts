import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { isSessionHandle, isSessionId, sessionHandle } from './session-cookie.js';
import type { Session } from './session.decorator.js';
import type { SessionHttpRequest, SessionHttpResponse } from './session-http.adapter.js';
import { SessionRuntime } from './session.runtime.js';

/**
 * Sessions from anywhere in the app: load the current request's session in your own guards and
 * interceptors, and revoke any session by id or handle.
 */
@Injectable()
export class SessionService {
  constructor(@Inject(SessionRuntime) private readonly runtime: SessionRuntime) {}

  /** The session key that marks a session as logged in (the `authKey` option). */
  get authKey(): string {
    return this.runtime.options.authKey;
  }

  /**
   * The current request's session: the same handle the handler's `@Session()` gets, loaded at
   * most once per request. Rejects with a 503 error when the store fails.
   */
  load(context: ExecutionContext): Promise<Session> {
    const { req, res } = this.getRequestResponse(context);
    // The handle is untyped inside; Session<T> is its public face.
    return this.runtime.load(req, res) as Promise<unknown> as Promise<Session>;
  }

  /**
   * Deletes a session from the store: by its id, or by the handle that `session.handle` and
   * `listByUser` report. Its cookie stops working at once.
   */
  async destroy(idOrHandle: string): Promise<void> {
    const handle = isSessionHandle(idOrHandle) ? idOrHandle : isSessionId(idOrHandle) ? sessionHandle(idOrHandle) : undefined;
    if (handle === undefined) {
      throw new TypeError('SessionService.destroy() takes a session id (session.id) or a session handle (session.handle).');
    }
    await this.runtime.destroyInStore(handle);
  }

  /** Where the request and response are found; override for other transports. */
  protected getRequestResponse(context: ExecutionContext): { req: SessionHttpRequest; res: SessionHttpResponse } {
    const http = context.switchToHttp();
    return { req: http.getRequest<SessionHttpRequest>(), res: http.getResponse<SessionHttpResponse>() };
  }
}
