import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type SessionFlushable, type SessionHttpHost, sessionHttp } from './session-http.adapter.js';
import { COMMITTED } from '../core/session.context.js';

/** A request's session context whose save the test settles by hand. */
class ManualContext implements SessionFlushable {
  readonly started = true;
  /** What is left to save: `settleLeft()` is true only once nothing is. */
  pending = true;
  flushes = 0;
  /** The save is over before `flushLeft()` returns (a store that writes at once). */
  atOnce = false;
  private settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  constructor(
    readonly request: object,
    readonly response: object,
  ) {}
  flushLeft(): Promise<void> {
    this.flushes++;
    if (this.atOnce) {
      this.pending = false;
      return COMMITTED;
    }
    return new Promise((resolve, reject) => {
      this.settle = {
        resolve: () => {
          this.pending = false;
          resolve();
        },
        reject,
      };
    });
  }
  settleLeft(): boolean {
    return !this.pending;
  }
  save(): void {
    this.settle!.resolve();
  }
  fail(error: unknown): void {
    this.settle!.reject(error);
  }
}

const host: SessionHttpHost = {
  requestSession: () => ({}),
  onRequest: undefined,
  contextIf: () => undefined,
  failure: () => ({ status: 503, body: { statusCode: 503, message: 'store down' } }),
  logLate: () => undefined,
  sessionID: () => '',
};

/** Serves each request with `handle`, after guarding its response for the given context. */
async function serve(handle: (context: ManualContext, res: ServerResponse) => void): Promise<{ server: Server; url: string; contexts: ManualContext[] }> {
  const contexts: ManualContext[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const context = new ManualContext(req, res);
    contexts.push(context);
    sessionHttp.commitBeforeHeaders(context, host);
    handle(context, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, contexts };
}

describe('sessionHttp.commitBeforeHeaders on a Node response that is not an Express app response', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it('holds the first end until the save, and the headers set before it go out with the body', async () => {
    const served = await serve((context, res) => {
      res.setHeader('set-cookie', 'sid=1');
      res.end('body');
      // The end is held: nothing has gone out yet.
      expect(res.headersSent).toBe(false);
      setTimeout(() => context.save(), 20);
    });
    server = served.server;
    const reply = await fetch(served.url);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('set-cookie')).toBe('sid=1');
    expect(await reply.text()).toBe('body');
    expect(served.contexts[0]!.flushes).toBe(1);
  });

  it('lets the response go at once, with no save, when nothing is left to save', async () => {
    const served = await serve((context, res) => {
      context.pending = false;
      res.end('now');
      expect(res.headersSent).toBe(true);
    });
    server = served.server;
    const reply = await fetch(served.url);
    expect(await reply.text()).toBe('now');
    expect(served.contexts[0]!.flushes).toBe(0);
  });

  it('holds writes in order behind writeHead and delivers them after the save', async () => {
    const served = await serve((context, res) => {
      res.writeHead(201, { 'content-type': 'text/plain' });
      expect(res.write('a')).toBe(false);
      res.write('b');
      res.end('c');
      setTimeout(() => context.save(), 10);
    });
    server = served.server;
    const reply = await fetch(served.url);
    expect(reply.status).toBe(201);
    expect(await reply.text()).toBe('abc');
    expect(served.contexts[0]!.flushes).toBe(1);
  });

  it('answers the failure instead of the held response when the save fails', async () => {
    const served = await serve((context, res) => {
      res.setHeader('content-type', 'text/html');
      res.end('<p>done</p>');
      setTimeout(() => context.fail(new Error('down')), 10);
    });
    server = served.server;
    const reply = await fetch(served.url);
    expect(reply.status).toBe(503);
    expect(reply.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await reply.json()).toEqual({ statusCode: 503, message: 'store down' });
  });

  it('after the headers left, saves what changed since before the end', async () => {
    const served = await serve((context, res) => {
      context.pending = false;
      res.write('head ');
      expect(res.headersSent).toBe(true);
      // The handler changes the session while the body streams.
      context.pending = true;
      res.end('tail');
      expect(res.writableEnded).toBe(false);
      setTimeout(() => context.save(), 10);
    });
    server = served.server;
    const reply = await fetch(served.url);
    expect(await reply.text()).toBe('head tail');
    expect(served.contexts[0]!.flushes).toBe(1);
  });

  it('lets writes go at once, in order, when the save was over before it returned', async () => {
    const served = await serve((context, res) => {
      context.atOnce = true;
      res.writeHead(201, { 'content-type': 'text/plain' });
      expect(res.headersSent).toBe(true);
      expect(res.write('a')).toBe(true);
      // Changed while the body streams: saved again before the end, at once as well.
      context.pending = true;
      res.end('b');
      expect(res.writableEnded).toBe(true);
    });
    server = served.server;
    const reply = await fetch(served.url);
    expect(reply.status).toBe(201);
    expect(await reply.text()).toBe('ab');
    expect(served.contexts[0]!.flushes).toBe(2);
  });
});

describe('sessionHttp.headersSent', () => {
  it("reads a Node (Express) response's own flag", () => {
    expect(sessionHttp.headersSent({ headersSent: false })).toBe(false);
    expect(sessionHttp.headersSent({ headersSent: true })).toBe(true);
  });

  it("reads a Fastify reply's Node response, the reply having no flag of its own", () => {
    const reply = (sent: boolean) => ({ raw: { headersSent: sent }, header: () => undefined });
    expect(sessionHttp.headersSent(reply(false))).toBe(false);
    expect(sessionHttp.headersSent(reply(true))).toBe(true);
  });
});
