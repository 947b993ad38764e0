import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { SessionData, SessionHandleApi } from './core/session.interface.js';
import { sessionHttp } from './http/session-http.adapter.js';
import type { SessionRuntime } from './core/session.runtime.js';

// Nest awaits what a parameter decorator returns before calling the handler, so the session is
// loaded here, on first use, for handlers that ask for it and no other.
const SessionParam = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const { req, res } = requestOf(context);
  const runtime = sessionHttp.hostOf<SessionRuntime>(req);
  if (runtime === undefined) {
    throw new Error(
      '@Session() found no session support on this request. Import SessionModule.forRoot() in the root module. (Nest\'s own @Session() from @nestjs/common is a different decorator: import Session from nestjs-sessionkit.)',
    );
  }
  const loading = runtime.load(req, res);
  return key === undefined ? loading : loading.then((session) => session.get(key));
});

function requestOf(context: ExecutionContext): { req: object; res: object } {
  const http = context.switchToHttp();
  return { req: http.getRequest<object>(), res: http.getResponse<object>() };
}

/**
 * The session of the current request (a {@link SessionHandleApi}). `@Session() session: Session`
 * injects the handle; `@Session('userId') userId: number` injects one value.
 * Use `Session<{ cart: Item[] }>` to type one handler's data without declaring `SessionData`.
 */
export type Session<T extends object = SessionData> = SessionHandleApi<T>;

/**
 * Parameter decorator injecting the current request's session, or with `key`, one of its values.
 * The session is loaded before the handler runs (once per request, shared with guards,
 * middleware and services) and saved before the response is sent, whatever the handler does.
 */
export function Session(key?: string): ParameterDecorator {
  return SessionParam(key);
}

/**
 * No longer needed, kept so existing code compiles: every request's session is saved before its
 * response is sent, whoever changed it (guard, interceptor, middleware, filter, handler).
 * @deprecated Remove it; it does nothing.
 */
export function UseSession(): ClassDecorator & MethodDecorator {
  return () => undefined;
}
