/**
 * A minimal HTTP/1.1 keep-alive client for the many-sessions scenarios, where each request must
 * carry another session's cookie. autocannon can only vary a request by rebuilding it per request
 * (a deep clone and a new buffer each time), which costs the load generator more CPU than the
 * request it sends; here every request is a buffer built once, sent as is.
 *
 * Only what the benchmark apps answer is understood: `Content-Length` bodies (no chunked
 * encoding), one response per request, no pipelining.
 */
import { Socket } from 'node:net';

const CRLF2 = Buffer.from('\r\n\r\n');

/** One request line plus headers, ready to write; `cookie` may be undefined. */
export function requestBuffer(method: string, path: string, host: string, cookie: string | undefined): Buffer {
  const body = method === 'POST' ? 'content-length: 0\r\n' : '';
  return Buffer.from(`${method} ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n${body}${cookie === undefined ? '' : `cookie: ${cookie}\r\n`}\r\n`, 'latin1');
}

interface Response {
  status: number;
  /** The first `Set-Cookie` value up to its first `;`, when asked for. */
  setCookie: string | undefined;
}

/**
 * One keep-alive connection that sends a request, waits for its response, and so on: calls
 * `next()` for the request to send (undefined: stop) and `done()` with each response.
 */
function connection(
  port: number,
  next: () => Buffer | undefined,
  done: (response: Response, latencyMs: number) => void,
  wantCookie: boolean,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const socket = new Socket();
    socket.setNoDelay(true);
    let pending: Buffer = Buffer.alloc(0);
    let started = 0;
    let bodyLeft = -1;
    let current: Response | undefined;
    const send = (): void => {
      const request = next();
      if (request === undefined) {
        socket.end();
        return;
      }
      started = performance.now();
      socket.write(request);
    };
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        if (bodyLeft < 0) {
          const end = pending.indexOf(CRLF2);
          if (end === -1) return;
          const head = pending.toString('latin1', 0, end);
          pending = pending.subarray(end + 4);
          const status = Number(head.slice(9, 12));
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          if (length === null) {
            socket.destroy();
            reject(new Error(`response without content-length (status ${status}): the many-sessions client reads only those`));
            return;
          }
          bodyLeft = Number(length[1]);
          let setCookie: string | undefined;
          if (wantCookie) {
            const m = /\r\nset-cookie:\s*([^;\r\n]*)/i.exec(head);
            setCookie = m?.[1];
          }
          current = { status, setCookie };
        }
        if (pending.length < bodyLeft) return;
        pending = pending.subarray(bodyLeft);
        bodyLeft = -1;
        done(current!, performance.now() - started);
        current = undefined;
        send();
        if (pending.length === 0) return;
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolvePromise());
    socket.connect(port, '127.0.0.1', send);
  });
}

/**
 * Makes `count` sessions: GET `path` (with `?user=<i>`, so that each has its own user id) over
 * `concurrency` connections; resolves the cookies (`name=value`) in request order.
 */
export async function seedSessions(port: number, path: string, count: number, concurrency: number): Promise<{ cookies: string[]; ms: number }> {
  const started = performance.now();
  const cookies: string[] = new Array<string>(count);
  let issued = 0;
  let failed = 0;
  const host = `127.0.0.1:${port}`;
  const workers = Array.from({ length: Math.min(concurrency, count) }, () => {
    let mine = -1;
    return connection(
      port,
      () => {
        if (issued >= count) return undefined;
        mine = issued++;
        return requestBuffer('GET', `${path}?user=${mine + 1}`, host, undefined);
      },
      (response) => {
        if (response.status !== 200 || response.setCookie === undefined) failed++;
        else cookies[mine] = response.setCookie;
      },
      true,
    );
  });
  await Promise.all(workers);
  if (failed > 0) throw new Error(`seeding: ${failed} of ${count} GET ${path} requests gave no session cookie`);
  return { cookies, ms: performance.now() - started };
}

export interface ManyLoadResult {
  requests: number;
  seconds: number;
  latenciesMs: Float64Array;
  status2xx: number;
  non2xx: number;
}

/**
 * Drives `connections` keep-alive connections for `seconds`, each request carrying the next
 * cookie of `cookies` (in turn, shared over the connections), and returns the counts and latencies.
 */
export async function loadMany(
  port: number,
  method: 'GET' | 'POST',
  path: string,
  cookies: readonly string[],
  connections: number,
  seconds: number,
): Promise<ManyLoadResult> {
  const host = `127.0.0.1:${port}`;
  const buffers = cookies.map((c) => requestBuffer(method, path, host, c));
  let index = 0;
  const latencies: number[] = [];
  let status2xx = 0;
  let non2xx = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, () =>
      connection(
        port,
        () => {
          if (performance.now() >= deadline) return undefined;
          const b = buffers[index]!;
          index = index + 1 === buffers.length ? 0 : index + 1;
          return b;
        },
        (response, latency) => {
          latencies.push(latency);
          if (response.status >= 200 && response.status < 300) status2xx++;
          else non2xx++;
        },
        false,
      ),
    ),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { requests: latencies.length, seconds: elapsed, latenciesMs: Float64Array.from(latencies), status2xx, non2xx };
}

/** The p-quantile of `values` (sorted in place), nearest rank. */
export function percentile(values: Float64Array, p: number): number {
  if (values.length === 0) return NaN;
  values.sort();
  return values[Math.min(values.length - 1, Math.floor(p * values.length))]!;
}
