import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import type { SessionData, SessionHandleApi } from './core/session.interface.js';
import { sessionParam, sessionSource } from './integrations/session-transport.js';
import { socketSessions } from './integrations/socket-session.js';
import { SessionInterceptor } from './session.interceptor.js';

// Nest awaits what a parameter decorator returns before calling the handler, so the session is
// loaded here, on first use, for handlers that ask for it and no other. Loaded already, it is
// passed as it is: Nest calls the handler at once with a parameter that is not a promise.
const SessionParam = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const session = sessionParam(sessionSource(context));
  if (key === undefined) return session;
  return session instanceof Promise ? session.then((loaded) => loaded.get(key)) : session.get(key);
});

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
 * Works the same in GraphQL resolvers (once per operation, shared by all its fields) and in
 * `@SubscribeMessage()` handlers (loaded from the store for each message, saved before the
 * reply is emitted).
 */
export function Session(key?: string): ParameterDecorator {
  const param = SessionParam(key);
  return (target, propertyKey, index) => {
    param(target, propertyKey, index);
    // A socket message has no response to save before: its handler gets the interceptor, which
    // passes through where the global one runs already.
    if (propertyKey !== undefined) socketSessions.bindSaving(target, propertyKey, SessionInterceptor);
  };
}

/**
 * No longer needed, kept so existing code compiles: every request's session is saved before its
 * response is sent, whoever changed it (guard, interceptor, middleware, filter, handler).
 * @deprecated Remove it; it does nothing.
 */
export function UseSession(): ClassDecorator & MethodDecorator {
  return () => undefined;
}
