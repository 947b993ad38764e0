import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** The Redis the tests share: `REDIS_URL`, or the local default. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A client for tests. Connection errors are expected in outage tests, so they are swallowed here
 * (an app should log them); every other failure still reaches the caller as a rejection.
 */
export function newRedis(target: string | number = REDIS_URL, extra: RedisOptions = {}): Redis {
  // ioredis keeps a 2 s timer after disconnect() of a client whose server is gone; tests need not wait for it.
  const options: RedisOptions = { disconnectTimeout: 100, ...extra };
  const client = typeof target === 'number' ? new Redis(target, '127.0.0.1', options) : new Redis(target, options);
  client.on('error', () => {});
  return client;
}

/** A key prefix of its own for one suite: `test:<suite>:<random>:`. */
export function testPrefix(suite: string): string {
  return `test:${suite}:${randomBytes(4).toString('hex')}:`;
}

function masters(client: Redis | Cluster): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** Every key under `prefix`, on every master. */
export async function scanKeys(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of masters(client)) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 500);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}

/** Deletes every key under `prefix` (a suite's cleanup). */
export async function deleteKeys(client: Redis | Cluster, prefix: string): Promise<void> {
  for (const key of await scanKeys(client, prefix)) await client.del(key);
}

/** Quits a client, or drops its connection if quitting cannot complete (server gone). */
export async function closeClient(client: Redis | Cluster | undefined): Promise<void> {
  if (client === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([client.quit(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('quit timed out')), 1_000)))]);
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/** A loopback TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** True if nothing listens on `port` of the loopback interface. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true, failing after `timeoutMs`. */
export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await sleep(everyMs);
  }
}
