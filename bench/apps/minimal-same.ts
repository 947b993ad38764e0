import { type CallHandler, Controller, type ExecutionContext, Get, HttpCode, Injectable, Module, type NestInterceptor, Post, type Type, createParamDecorator } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { type Observable, map } from 'rxjs';
import { typicalSession } from '../common.js';
import { type Reply, idOf, newSessionId } from './minimal.js';

/**
 * The floor's session work (bench/apps/minimal.ts: the same cookie, HMAC check and new id) done in
 * the shape nestjs-sessionkit's MemoryStore app does it, by hand and nothing more: the session is
 * loaded only where a handler asks for it, through a parameter decorator, as a private copy parsed
 * from JSON and held on the request; a global interceptor saves it after the handler and before
 * the response is written, as JSON again, only if the handler changed it, and sets the signed
 * cookie of a new one. It exists to tell what that shape costs in Nest (the interceptor pipeline,
 * the parameter decorator, the JSON copy) from what the library adds on top, when a MemoryStore
 * target "floor + N µs" is missed. Like the floor it has no expiry, no size or value checks, no
 * eviction, no store interface and no save on the exits the interceptor does not see.
 */

/** Each session as JSON, so no object is shared between the map and a request (MemoryStore's guarantee). */
const stored = new Map<string, string>();

/** One request's session: its own copy of the data, and whether the handler changed it. */
class HandSession {
  dirty = false;

  constructor(
    /** Undefined for a session the request did not bring (it gets an id and a cookie when saved). */
    public id: string | undefined,
    private readonly data: Record<string, unknown>,
  ) {}

  get(key: string): unknown {
    return this.data[key];
  }

  set(key: string, value: unknown): void {
    this.data[key] = value;
    this.dirty = true;
  }

  /** Writes the session back as JSON if it changed; a new one gets its id and signed cookie on `res`. */
  save(res: Reply): void {
    if (!this.dirty) return;
    this.id ??= newSessionId(res);
    stored.set(this.id, JSON.stringify(this.data));
  }
}

/** Where the session of a request is held, once a handler asked for it. */
const kSession = Symbol('bench.handSession');
type WithSession = { [kSession]?: HandSession; headers: { cookie?: string } };

/** The session of a cookie: its stored JSON parsed, or a new empty one (no cookie, bad signature, unknown id). */
function load(cookie: string | undefined): HandSession {
  const id = idOf(cookie);
  const json = id === undefined ? undefined : stored.get(id);
  return json === undefined ? new HandSession(undefined, {}) : new HandSession(id, JSON.parse(json) as Record<string, unknown>);
}

/** `@HandSessionParam() session`: loads the request's session on first use, only on the routes that ask for it. */
const HandSessionParam = createParamDecorator((_key: unknown, context: ExecutionContext): HandSession => {
  const req = context.switchToHttp().getRequest<WithSession>();
  return (req[kSession] ??= load(req.headers.cookie));
});

/** Saves the request's session, if a handler loaded and changed it, when the handler's result is ready (before Nest writes it). */
@Injectable()
class SaveInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      map((result: unknown) => {
        const http = context.switchToHttp();
        http.getRequest<WithSession>()[kSession]?.save(http.getResponse<Reply>());
        return result;
      }),
    );
  }
}

/** What the same-work routes need of a hand-made session. */
export interface SameWorkSession {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

/** The routes of the other apps, written against a hand-made session that `SessionParam()` hands over. */
export function sameWorkController(SessionParam: () => ParameterDecorator): Type {
  @Controller()
  class SameWorkController {
    @Get('setup')
    setup(@SessionParam() session: SameWorkSession) {
      const data = typicalSession();
      session.set('userId', data.userId);
      session.set('role', data.role);
      session.set('cart', data.cart);
      return { ok: true };
    }

    @Get('read')
    read(@SessionParam() session: SameWorkSession) {
      return { n: session.get('n') ?? 0 };
    }

    @Post('change')
    @HttpCode(200)
    change(@SessionParam() session: SameWorkSession) {
      const n = ((session.get('n') as number | undefined) ?? 0) + 1;
      session.set('n', n);
      return { n };
    }

    @Get('first')
    first(@SessionParam() session: SameWorkSession) {
      session.set('n', 1);
      return { n: 1 };
    }

    /** No decorator: nothing is loaded or parsed; the interceptor finds no session and passes. */
    @Get('none')
    none() {
      return { ok: true };
    }
  }
  return SameWorkController;
}

/** The same-work app. */
@Module({ controllers: [sameWorkController(HandSessionParam)], providers: [{ provide: APP_INTERCEPTOR, useClass: SaveInterceptor }] })
export class MinimalSameWorkAppModule {}
