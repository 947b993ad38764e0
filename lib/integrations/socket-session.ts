import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { HttpException, UseInterceptors } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { SessionContext, type SessionContextHost } from '../core/session.context.js';
import { SessionContextError, SessionError, SessionStatelessError } from '../core/session.errors.js';
import type { SessionHandle } from '../core/session.handle.js';
import type { SessionRuntime } from '../core/session.runtime.js';
import type { SessionHttpRequest } from '../http/session-http.adapter.js';

/**
 * A socket message changed a session that is not in the store (the socket's cookie names none,
 * or it ended): a socket cannot hand the client a new cookie, so the change is refused.
 */
export class SessionSocketError extends SessionError {}

const NO_SESSION =
  'This socket has no session to save the change in: its handshake brought no session cookie, or the session ended (logged out or expired). A socket cannot set a cookie, so it cannot start a session: log in over HTTP, then reconnect the socket.';

const STATELESS =
  'A socket message changed the session, and CookieStore keeps the session in its cookie, which a socket cannot send: the change cannot be saved. Change the session over HTTP, or use a server-side store (RedisStore, PostgresStore, MysqlStore, MemoryStore).';

const NO_HANDSHAKE =
  'nestjs-sessionkit found no handshake request for this WebSocket, so it cannot read its session cookie. With @nestjs/platform-ws the gateway must share the application\'s HTTP server (`@WebSocketGateway()` without a port of its own); @nestjs/platform-socket.io works on any port.';

const NO_MESSAGE =
  '@Session() found no session for this socket message. Import SessionModule.forRoot() in the root module, and put @Session() on the @SubscribeMessage() handler itself.';

/** Nest's mark on `@SubscribeMessage()` handlers (`MESSAGE_MAPPING_METADATA` of @nestjs/websockets). */
const MESSAGE_MAPPING = 'websockets:message_mapping';

/**
 * Stands in for the response of a socket message: a socket cannot receive cookies, so the
 * session's cookie headers (a rotated secret, a cleared cookie) are dropped.
 */
const socketResponse = Object.freeze({
  headersSent: false,
  getHeader: (): undefined => undefined,
  setHeader: (): void => undefined,
});

/** Upgrade requests of `ws` sockets, by their TCP socket. */
const handshakes = new WeakMap<Socket, IncomingMessage>();

/** The session context of each message being handled, by the message's handler arguments. */
const messages = new WeakMap<unknown[], SessionContext>();

/** A message whose handler runs under the session interceptor. */
interface RunningMessage {
  /** The handler's arguments, as its guards and interceptors have them. */
  readonly args: unknown[];
  readonly runtime: SessionRuntime;
}

/**
 * The message whose handler is running: `@Session()` gets a copy of the arguments, not them, and
 * `SessionService.current()` gets none.
 */
const current = new AsyncLocalStorage<RunningMessage>();

/** Methods already given the saving interceptor. */
const bound = new WeakSet<object>();

/** HTTP servers whose upgrades are recorded. */
const watched = new WeakSet<Server>();

/** Loads like HTTP, but refuses to create a session: nothing could carry its cookie to the client. */
class SocketSessionHost implements SessionContextHost {
  constructor(private readonly runtime: SessionRuntime) {}

  read(context: SessionContext): Promise<SessionHandle> {
    // No move from express-session here: the socket could not carry the new cookie.
    return this.runtime.read(context, false);
  }

  commit(session: SessionHandle): Promise<void> {
    if (!session.inStore) {
      for (const _ in session.data) return Promise.reject(new SessionSocketError(NO_SESSION));
    }
    if (this.runtime.stateless) {
      // The session lives in the cookie, and a socket cannot send one: refuse changes, skip touches.
      return this.runtime.hasChanges(session) ? Promise.reject(new SessionStatelessError(STATELESS)) : Promise.resolve();
    }
    return this.runtime.commit(session);
  }

  settled(session: SessionHandle): boolean {
    return this.runtime.settled(session);
  }
}

const hosts = new WeakMap<SessionRuntime, SocketSessionHost>();

type WsExceptionClass = new (error: string | object) => Error;
let wsExceptionClass: Promise<WsExceptionClass> | undefined;

/** The request that opened a socket: Socket.IO keeps it; for `ws`, the upgrade listener recorded it. */
function handshakeOf(client: object): SessionHttpRequest {
  const request = (client as { request?: unknown }).request;
  if (request !== null && typeof request === 'object' && 'headers' in request) return request as SessionHttpRequest;
  // `ws` keeps the TCP socket of the upgrade in `_socket`: the only link from a WebSocket to its handshake.
  const socket = (client as { _socket?: Socket })._socket;
  const upgrade = socket === undefined ? undefined : handshakes.get(socket);
  if (upgrade === undefined) throw new SessionContextError(NO_HANDSHAKE);
  return upgrade;
}

/** Sessions of WebSocket messages (internal): one load per message, from the handshake's cookie. */
export const socketSessions = {
  /**
   * The session context of a message, created on first use: by the guard, the interceptor, or
   * whoever loads first. Needs `runtime` to create one; `@Session()` finds the interceptor's.
   */
  contextOf(message: unknown[], client: object, runtime?: SessionRuntime): SessionContext {
    let context = messages.get(message);
    if (context !== undefined) return context;
    const running = current.getStore();
    if (running !== undefined && running.args !== message) {
      // A copy of the arguments (`@Session()`), or none: the context is the running message's.
      context = messages.get(running.args);
      if (context !== undefined) return context;
      message = running.args;
      client = running.args[0] as object;
      runtime ??= running.runtime;
    }
    if (runtime === undefined) throw new SessionContextError(NO_MESSAGE);
    let host = hosts.get(runtime);
    if (host === undefined) hosts.set(runtime, (host = new SocketSessionHost(runtime)));
    context = new SessionContext(host, handshakeOf(client), socketResponse);
    messages.set(message, context);
    return context;
  },

  /** The message whose handler is running under the session interceptor, if any. */
  running(): RunningMessage | undefined {
    return current.getStore();
  },

  /** The message's session; failures become a `WsException`, which the client receives. */
  async load(message: unknown[], client: object, runtime?: SessionRuntime): Promise<SessionHandle> {
    try {
      return await this.contextOf(message, client, runtime).load();
    } catch (error) {
      throw await this.wsError(error);
    }
  },

  /**
   * Runs a message's handler with the message at hand for `@Session()` and
   * `SessionService.current()`; its session is still loaded only if something asks for it.
   */
  run<T>(args: unknown[], runtime: SessionRuntime, handler: () => T): T {
    return current.run({ args, runtime }, handler);
  },

  /**
   * Saves what the message's handler changed, if it used the session at all (`undefined` if
   * not); a failure becomes a `WsException`, which the client receives.
   */
  commit(args: unknown[]): Promise<void> | undefined {
    const context = messages.get(args);
    if (context === undefined || !context.started) return undefined;
    return context.flush().catch(async (error: unknown) => {
      throw await this.wsError(error);
    });
  },

  /**
   * The error a socket client can see: Nest sends a `WsException` as the `exception` event and
   * hides everything else as "Internal server error". Loaded only when a gateway needs it, so
   * apps without WebSockets need not install @nestjs/websockets.
   */
  async wsError(error: unknown): Promise<unknown> {
    if (!(error instanceof HttpException) && !(error instanceof SessionError)) return error;
    wsExceptionClass ??= import('@nestjs/websockets').then((m) => (m as { WsException: WsExceptionClass }).WsException);
    const WsException = await wsExceptionClass;
    return new WsException(error.message);
  },

  /**
   * Gives a `@SubscribeMessage()` handler that uses `@Session()` the interceptor that saves its
   * session before the reply is emitted, for apps without the global one (`globalInterceptor:
   * false`); with it, this binding passes through. Parameter decorators run before the method's own
   * decorators, so the check waits until the class is fully decorated; controllers and
   * resolvers get nothing, and keep Nest's plain path.
   */
  bindSaving(target: object, key: string | symbol, interceptor: new (...args: never[]) => unknown): void {
    queueMicrotask(() => {
      const method = (target as Record<string | symbol, unknown>)[key];
      if (typeof method !== 'function' || bound.has(method)) return;
      if (new Reflector().get<boolean | undefined>(MESSAGE_MAPPING, method) !== true) return;
      bound.add(method);
      UseInterceptors(interceptor)(target, key, { value: method });
    });
  },

  /**
   * Records the upgrade request of every WebSocket the HTTP server accepts, so that `ws`
   * sockets (which do not keep it) find their handshake's cookie. First in line, so it is
   * recorded before any gateway sees the socket.
   */
  watch(server: Server): void {
    if (watched.has(server)) return;
    watched.add(server);
    server.prependListener('upgrade', (request: IncomingMessage, socket: Socket) => {
      handshakes.set(socket, request);
    });
  },
};
