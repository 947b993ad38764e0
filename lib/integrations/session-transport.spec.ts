import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { SessionContextError } from '../core/session.errors.js';
import { resolveSessionOptions } from '../session-options.js';
import { SessionRuntime } from '../core/session.runtime.js';
import { MemoryStore } from '../stores/memory.store.js';
import type { SessionRecord, SessionStore } from '../stores/session-store.interface.js';
import { graphqlFailure, sessionParam, sessionSource, sessionSourceIf } from './session-transport.js';

function host(type: string, args: unknown[]): ExecutionContextHost {
  const context = new ExecutionContextHost(args);
  context.setType(type);
  return context;
}

describe('sessionSource', () => {
  const req = { headers: {} };
  const res = {};

  it('reads an HTTP handler’s request and response', () => {
    expect(sessionSource(host('http', [req, res]))).toEqual({ transport: 'http', req, res });
  });

  it('reads { req, res } from a GraphQL context, and the drivers’ defaults without it', () => {
    expect(sessionSource(host('graphql', [{}, {}, { req, res }, {}]))).toEqual({ transport: 'graphql', req, res });
    // Apollo on Express: only `req`, which knows its response.
    const express = { ...req, res };
    expect(sessionSource(host('graphql', [{}, {}, { req: express }, {}]))).toEqual({ transport: 'graphql', req: express, res });
    // Mercurius: the reply, which knows its request.
    const reply = { request: req };
    expect(sessionSource(host('graphql', [{}, {}, { reply }, {}]))).toEqual({ transport: 'graphql', req, res: reply });
  });

  it('says how to set up a GraphQL context that lacks the request', () => {
    expect(() => sessionSource(host('graphql', [{}, {}, {}, {}]))).toThrow(SessionContextError);
    expect(() => sessionSource(host('graphql', [{}, {}, { user: 1 }, {}]))).toThrow(/context: \(\{ req, res \}\) => \(\{ req, res \}\)/);
  });

  it('keeps the arguments of a socket message, shared by its guards and interceptors', () => {
    const client = {};
    const args = [client, { text: 'hi' }, 'chat'];
    const source = sessionSource(host('ws', args));
    expect(source).toEqual({ transport: 'ws', message: args, client });
    expect(source.transport === 'ws' && source.message).toBe(args);
  });

  it('refuses handlers without cookies (microservices)', () => {
    expect(() => sessionSource(host('rpc', [{}, {}]))).toThrow(/"rpc" handler has none/);
  });
});

describe('sessionSourceIf', () => {
  it('finds what sessionSource finds, and nothing where a handler has no session', () => {
    const req = { headers: {} };
    const res = {};
    expect(sessionSourceIf(host('http', [req, res]))).toEqual({ transport: 'http', req, res });
    expect(sessionSourceIf(host('rpc', [{}, {}]))).toBeUndefined();
    // A subscription over a WebSocket: a GraphQL context without the HTTP request.
    expect(sessionSourceIf(host('graphql', [{}, {}, {}, {}]))).toBeUndefined();
  });
});

describe('graphqlFailure', () => {
  it('answers the requests of GraphQL operations with a GraphQL error, and no other', () => {
    const operation = { headers: {} };
    sessionSource(host('graphql', [{}, {}, { req: operation, res: {} }, {}]));
    expect(graphqlFailure(operation, 503, 'store down')).toEqual({
      data: null,
      errors: [{ message: 'store down', extensions: { code: 'SERVICE_UNAVAILABLE', status: 503 } }],
    });
    expect(graphqlFailure(operation, 500, 'bad value')).toMatchObject({ errors: [{ extensions: { code: 'INTERNAL_SERVER_ERROR', status: 500 } }] });
    // Fastify requests are known by their Node request.
    const raw = { headers: {} };
    sessionSource(host('graphql', [{}, {}, { reply: { request: { raw } } }, {}]));
    expect(graphqlFailure({ raw }, 503, 'store down')).toEqual({
      data: null,
      errors: [{ message: 'store down', extensions: { code: 'SERVICE_UNAVAILABLE', status: 503 } }],
    });
    expect(graphqlFailure({ headers: {} }, 503, 'store down')).toBeUndefined();
  });
});

describe('sessionParam', () => {
  const SECRET = 'a-long-random-enough-test-secret-0123456789';

  /** An Express-like response: the header methods the core uses. */
  function response() {
    const headers = new Map<string, unknown>();
    return { headersSent: false, getHeader: (name: string) => headers.get(name), setHeader: (name: string, value: unknown) => void headers.set(name, value), headers };
  }

  /** A cookie of a session holding { n: 7 }, saved through `runtime`. */
  async function cookieOf(runtime: SessionRuntime): Promise<string> {
    const res = response();
    const session = await runtime.load({ headers: {} }, res);
    session.set('n', 7);
    await runtime.commit(session);
    return String(res.headers.get('set-cookie')).split(';')[0]!;
  }

  it('hands over a session read at once as it is, not as a promise', async () => {
    const runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET }), new MemoryStore());
    const cookie = await cookieOf(runtime);
    const req = { headers: { cookie } };
    const session = sessionParam({ transport: 'http', req, res: response() }, runtime);
    expect(session).not.toBeInstanceOf(Promise);
    expect((session as Exclude<typeof session, Promise<unknown>>).get('n')).toBe(7);
  });

  it('hands over a promise while the store still reads, and the session itself once it is loaded', async () => {
    // A store of the user's own, with no synchronous read: every read goes through get().
    const inner = new MemoryStore();
    const store: SessionStore = {
      get: (handle) => inner.get(handle),
      set: (handle: string, record: SessionRecord, ttl: number) => inner.set(handle, record, ttl),
      destroy: (handle) => inner.destroy(handle),
    };
    const runtime = new SessionRuntime(resolveSessionOptions({ secret: SECRET }), store);
    const cookie = await cookieOf(runtime);
    const source = { transport: 'http' as const, req: { headers: { cookie } }, res: response() };
    const loading = sessionParam(source, runtime);
    expect(loading).toBeInstanceOf(Promise);
    const session = await loading;
    expect(session.get('n')).toBe(7);
    // Loaded now: a second parameter of the same request gets the same session at once.
    expect(sessionParam(source, runtime)).toBe(session);
  });
});
