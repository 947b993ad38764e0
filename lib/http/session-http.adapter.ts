import type { IncomingHttpHeaders } from 'node:http';

/** What the core needs of a request: its headers (Express `Request` and Fastify `FastifyRequest` both qualify). */
export interface SessionHttpRequest {
  headers: IncomingHttpHeaders;
}

/** What the core needs of a response: Express `Response` or Fastify `FastifyReply`. */
export type SessionHttpResponse = object;

interface ExpressLikeResponse {
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: string | string[]): unknown;
  headersSent: boolean;
}

interface FastifyLikeReply {
  raw: { headersSent: boolean };
  getHeader(name: string): number | string | string[] | undefined;
  header(name: string, value: string): unknown;
}

function isFastifyReply(res: object): res is FastifyLikeReply {
  return 'raw' in res && typeof (res as { header?: unknown }).header === 'function';
}

/**
 * The one place that knows how Express and Fastify differ: everything else in the library
 * reads and writes headers through these functions.
 */
export const sessionHttp = {
  cookieHeader(req: SessionHttpRequest): string | undefined {
    return req.headers.cookie;
  },

  headersSent(res: SessionHttpResponse): boolean {
    return isFastifyReply(res) ? res.raw.headersSent : (res as ExpressLikeResponse).headersSent;
  },

  getHeader(res: SessionHttpResponse, name: string): string | undefined {
    const value = (res as ExpressLikeResponse | FastifyLikeReply).getHeader(name);
    return value === undefined ? undefined : Array.isArray(value) ? value.join(', ') : String(value);
  },

  setHeader(res: SessionHttpResponse, name: string, value: string): void {
    if (isFastifyReply(res)) res.header(name, value);
    else (res as ExpressLikeResponse).setHeader(name, value);
  },

  /** Adds a `Set-Cookie` header, keeping any the application set itself. */
  appendSetCookie(res: SessionHttpResponse, value: string): void {
    if (isFastifyReply(res)) {
      // Fastify collects repeated set-cookie headers into a list by itself.
      res.header('set-cookie', value);
      return;
    }
    const r = res as ExpressLikeResponse;
    const prev = r.getHeader('set-cookie');
    r.setHeader('set-cookie', prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value]);
  },
};
