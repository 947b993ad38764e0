import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import { SESSION_USED_METADATA } from './session.constants.js';
import { loadedSession } from './session.runtime.js';
import type { SessionData, SessionHandleApi } from './session.interface.js';

const SessionParam = createParamDecorator((key: string | undefined, context: ExecutionContext) => {
  const req = context.switchToHttp().getRequest<object>();
  const session = loadedSession(req);
  if (session === undefined) {
    throw new Error('@Session() found no session on this request. Import SessionModule.forRoot() in the root module; @Session() works in HTTP controllers only.');
  }
  return key === undefined ? session : session.get(key);
});

/**
 * The session of the current request (a {@link SessionHandleApi}). `@Session() session: Session`
 * injects the handle; `@Session('userId') userId: number` injects one value.
 * Use `Session<{ cart: Item[] }>` to type one handler's data without declaring `SessionData`.
 */
export type Session<T extends object = SessionData> = SessionHandleApi<T>;

/**
 * Parameter decorator injecting the current request's session, or with `key`, one of its values.
 * The session is loaded before the handler runs, only for handlers that use it.
 */
export function Session(key?: string): ParameterDecorator {
  const param = SessionParam(key);
  return (target, propertyKey, index) => {
    // Marks the handler so the interceptor loads the session before it runs.
    if (propertyKey !== undefined) {
      const handler = (target as Record<string | symbol, object>)[propertyKey];
      if (handler !== undefined) Reflect.defineMetadata(SESSION_USED_METADATA, true, handler);
    }
    param(target, propertyKey, index);
  };
}
