import { type ArgumentsHost, HttpException } from '@nestjs/common';
import { SessionContextError, SessionError } from '../core/session.errors.js';
import type { SessionHandle } from '../core/session.handle.js';
import type { SessionRuntime } from '../core/session.runtime.js';
import { sessionHttp } from '../http/session-http.adapter.js';
import { socketSessions } from './socket-session.js';

/**
 * Where the session of a handler comes from (internal): an HTTP request (controllers, and GraphQL
 * operations, which are HTTP requests too), or one message of a WebSocket.
 */
export type SessionSource =
  | { readonly transport: 'http' | 'graphql'; readonly req: object; readonly res: object }
  | {
      readonly transport: 'ws';
      /** The arguments of the message's handler: guards and interceptors of one message share them. */
      readonly message: unknown[];
      /** The socket (a Socket.IO `Socket` or a `ws` `WebSocket`). */
      readonly client: object;
    };

/** What a GraphQL context may carry: `{ req, res }` as documented, or the drivers' own defaults. */
interface GraphqlContextLike {
  req?: { res?: object };
  res?: object;
  /** Mercurius puts the Fastify reply in every context. */
  reply?: { request?: object };
}

const GRAPHQL_CONTEXT_HELP =
  'The GraphQL context has no HTTP request and response, so the session cannot be found. Pass them in GraphQLModule.forRoot(): `context: ({ req, res }) => ({ req, res })` with Apollo, `context: (request, reply) => ({ req: request, res: reply })` with Mercurius. (Subscriptions over a WebSocket have no session.)';

/** Node requests of GraphQL operations: a failed save answers them with a GraphQL response. */
const graphqlRequests = new WeakSet<object>();

/**
 * The one place that tells the transports apart: the request and response of an HTTP handler or
 * a GraphQL resolver, or the message of a WebSocket handler. A string says why a handler has no
 * session (another transport, a GraphQL context without the HTTP request).
 */
function findSource(host: ArgumentsHost): SessionSource | string {
  const type = host.getType<string>();
  // Checked first: HTTP handlers are the hot path of the global interceptor.
  if (type === 'http') return { transport: 'http', req: host.getArgByIndex<object>(0), res: host.getArgByIndex<object>(1) };
  if (type === 'graphql') {
    // Resolver arguments are (root, args, context, info).
    const context = (host.getArgByIndex(2) ?? {}) as GraphqlContextLike;
    const req = context.req ?? context.reply?.request;
    // Apollo's default context holds only `req`; Express requests know their response.
    const res = context.res ?? context.reply ?? context.req?.res;
    if (req === undefined || res === undefined) return GRAPHQL_CONTEXT_HELP;
    // Every resolver that reaches the session passes here, so the operation's save knows it
    // answers GraphQL if it fails.
    graphqlRequests.add(sessionHttp.nodeRequest(req));
    return { transport: 'graphql', req, res };
  }
  if (type === 'ws') {
    return { transport: 'ws', message: host.getArgs(), client: host.getArgByIndex(0) as object };
  }
  return `Sessions live in cookies, and a "${type}" handler has none: use @Session(), SessionGuard and SessionService.load() in HTTP controllers, GraphQL resolvers and WebSocket gateways.`;
}

/** Where the session of a handler comes from; a {@link SessionContextError} says why there is none. */
export function sessionSource(host: ArgumentsHost): SessionSource {
  const source = findSource(host);
  if (typeof source === 'string') throw new SessionContextError(source);
  return source;
}

/** As {@link sessionSource}, for the interceptor: `undefined` where a handler has no session to commit. */
export function sessionSourceIf(host: ArgumentsHost): SessionSource | undefined {
  const source = findSource(host);
  return typeof source === 'string' ? undefined : source;
}

/**
 * The answer to a GraphQL operation whose session could not be saved, as both drivers shape an
 * error: `errors[0].extensions` carries the code (`SERVICE_UNAVAILABLE` for a store failure) and
 * the status. `undefined` for requests that are not GraphQL operations.
 */
export function graphqlFailure(request: object, status: number, message: string): object | undefined {
  if (!graphqlRequests.has(sessionHttp.nodeRequest(request))) return undefined;
  return { data: null, errors: [{ message, extensions: { code: GRAPHQL_CODES[status] ?? 'INTERNAL_SERVER_ERROR', status } }] };
}

/**
 * The session of a source, loaded once per HTTP request or once per socket message. `runtime`
 * is the module's (guards and services have it); the decorator, which has none, finds it from
 * the request or the message.
 */
export function loadSession(source: SessionSource, runtime?: SessionRuntime): Promise<SessionHandle> {
  if (source.transport === 'ws') return socketSessions.load(source.message, source.client, runtime);
  const loading = ownerOf(source, runtime).load(source.req, source.res);
  return source.transport === 'graphql' ? loading.catch((error: unknown) => Promise.reject(graphqlError(error))) : loading;
}

/**
 * {@link loadSession} for `@Session()`: the session itself where it is loaded by the time this
 * returns (read at once from MemoryStore or a sealed cookie, a first visit, or loaded earlier in
 * the request), a promise of it otherwise. Nest hands a parameter that is not a promise to the
 * handler at once; a promise costs the handler an async step through Nest's pipes.
 */
export function sessionParam(source: SessionSource, runtime?: SessionRuntime): SessionHandle | Promise<SessionHandle> {
  if (source.transport !== 'http') return loadSession(source, runtime);
  const context = ownerOf(source, runtime).contextOf(source.req, source.res);
  const loading = context.load();
  return context.loaded ?? loading;
}

/** The runtime of the app an HTTP request or GraphQL operation belongs to. */
function ownerOf(source: Exclude<SessionSource, { transport: 'ws' }>, runtime: SessionRuntime | undefined): SessionRuntime {
  const owner = runtime ?? sessionHttp.hostOf<SessionRuntime>(source.req);
  if (owner === undefined) {
    throw new SessionError(
      '@Session() found no session support on this request. Import SessionModule.forRoot() in the root module. (Nest\'s own @Session() from @nestjs/common is a different decorator: import Session from nestjs-sessionkit.)',
    );
  }
  return owner;
}

/**
 * The error a handler of `source` throws for an HTTP error (or a session error): as it is over HTTP; with its status
 * in GraphQL `extensions`; a `WsException` over a socket, which the client receives as its
 * standard `exception` event.
 */
export function refusal(source: SessionSource, exception: unknown): Promise<unknown> {
  if (source.transport === 'ws') return socketSessions.wsError(exception);
  return Promise.resolve(source.transport === 'graphql' ? graphqlError(exception) : exception);
}

const GRAPHQL_CODES: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN', 409: 'CONFLICT', 503: 'SERVICE_UNAVAILABLE' };

/**
 * graphql-js copies the `extensions` of an error thrown by a resolver into the GraphQL error,
 * whichever server sends it; Apollo's driver adds `originalError` to them.
 */
function graphqlError(error: unknown): unknown {
  if (!(error instanceof HttpException)) return error;
  const status = error.getStatus();
  Object.defineProperty(error, 'extensions', {
    configurable: true,
    value: { code: GRAPHQL_CODES[status] ?? 'INTERNAL_SERVER_ERROR', status },
  });
  return error;
}
