import { type ExecutionContext, UseInterceptors, createParamDecorator } from '@nestjs/common';
import { SESSION_BOUND_METADATA, SESSION_USED_METADATA } from './session.constants.js';
import { SessionInterceptor } from './session.interceptor.js';
import { loadedSession } from './core/session.runtime.js';
import type { SessionData, SessionHandleApi } from './core/session.interface.js';

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
    if (propertyKey !== undefined) {
      const descriptor = Object.getOwnPropertyDescriptor(target, propertyKey);
      if (descriptor?.value !== undefined) {
        // Marks the handler so the interceptor loads the session before it runs.
        Reflect.defineMetadata(SESSION_USED_METADATA, true, descriptor.value);
        bindInterceptor(target, propertyKey, descriptor);
      }
    }
    param(target, propertyKey, index);
  };
}

/**
 * Binds SessionInterceptor to one handler, once. The interceptor is bound per handler rather
 * than globally because Nest runs its interceptor pipeline on every route of the app as soon as
 * one global interceptor exists, and that costs routes that never use the session.
 */
function bindInterceptor(target: object, propertyKey: string | symbol | undefined, descriptor?: PropertyDescriptor): void {
  const holder: object = descriptor ? (descriptor.value as object) : target;
  if (Reflect.getMetadata(SESSION_BOUND_METADATA, holder) === true) return;
  Reflect.defineMetadata(SESSION_BOUND_METADATA, true, holder);
  if (descriptor) UseInterceptors(SessionInterceptor)(target, propertyKey!, descriptor);
  else UseInterceptors(SessionInterceptor)(target as Function);
}

/**
 * Saves the session on every route of a controller, or on one handler, without a `@Session()`
 * parameter. Needed only where the session is loaded in another way and changed: by your own
 * guard through `SessionService.load()`, or by `SessionService.load()` in an interceptor.
 * (Handlers with `@Session()` are covered already.)
 */
export function UseSession(): ClassDecorator & MethodDecorator {
  return (target: object, propertyKey?: string | symbol, descriptor?: PropertyDescriptor) => {
    bindInterceptor(target, propertyKey, descriptor);
  };
}

/** True when SessionInterceptor is bound to the handler or its controller (internal). */
export function isSessionBound(handler: object, controller: object): boolean {
  return Reflect.getMetadata(SESSION_BOUND_METADATA, handler) === true || Reflect.getMetadata(SESSION_BOUND_METADATA, controller) === true;
}
