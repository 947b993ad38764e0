import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { SessionContextError } from '../core/session.errors.js';
import { graphqlFailure, sessionSource, sessionSourceIf } from './session-transport.js';

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
