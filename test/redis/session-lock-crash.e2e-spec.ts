import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import { RedisStore } from 'nestjs-sessionkit';
import { sessionLockAppModule } from '../fixtures/session-lock.fixture.js';
import { adapters, baseUrl, delay, startApp } from '../support/app.js';
import { Client } from '../support/client.js';
import { deleteKeys, freePort, newRedis, testPrefix, waitUntil } from '../support/redis.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Short, so the test waits little; renewed every third of it while a request runs. */
const TTL_MS = 1_500;

describe.each(adapters)('a Redis session lock held by a process that is killed (%s)', (adapter) => {
  const redis = newRedis();
  const prefix = testPrefix('lock-crash');
  let child: ChildProcess | undefined;
  let app: INestApplication | undefined;
  let output = '';

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await app?.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it(`is free again within ttlMs + 1 s, and the killed request saved nothing`, async () => {
    const port = await freePort();
    const { NODE_OPTIONS: _jestOptions, ...environment } = process.env;
    child = spawn(process.execPath, ['--import', `${root}test/readme/ts-register.mjs`, `${root}test/fixtures/session-lock-child.ts`], {
      cwd: root,
      env: { ...environment, PORT: String(port), LOCK_PREFIX: prefix, LOCK_TTL_MS: String(TTL_MS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const childBase = `http://127.0.0.1:${port}`;
    await waitUntil(
      'the child app to answer',
      async () => {
        if (child!.exitCode !== null) throw new Error(`The child app exited with ${child!.exitCode}:\n${output}`);
        return (await fetch(`${childBase}/cart`)).ok;
      },
      60_000,
      100,
    ).catch((error: unknown) => Promise.reject(new Error(`${String(error)}\n${output}`)));

    const browser = new Client(childBase);
    const { handle } = (await browser.post('/start')).body as { handle: string };
    // A request that holds the lock for a minute, renewing it, until its process dies.
    void browser.post('/locked/never?ms=60000').catch(() => undefined);
    const lockKey = `{${prefix}${handle}}:lock`;
    await waitUntil('the child to hold the lock', async () => (await redis.exists(lockKey)) === 1, 10_000, 10);
    // Another instance of the app, on the same Redis, with the same secret.
    app = await startApp(sessionLockAppModule(new RedisStore({ client: redis, prefix }), { ttlMs: TTL_MS }), adapter);
    const next = new Client(await baseUrl(app));
    next.jar.set('sid', browser.jar.get('sid')!);
    // Past a renewal, so the lock's life now comes from a renewal, not from the first SET.
    await delay(TTL_MS / 2);
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();

    // The dead process's lock still holds for a while: a request that cannot wait is refused.
    expect((await next.post('/impatient/early')).status).toBe(409);
    const res = await next.post('/locked/after?ms=1');
    const waited = Date.now() - killedAt;
    expect(res.status).toBe(200);
    expect(waited).toBeLessThanOrEqual(TTL_MS + 1_000);
    expect((await new RedisStore({ client: redis, prefix }).get(handle))!.data.cart).toEqual(['after']);
    // Freed by its holder: no lock is left behind.
    expect(await redis.exists(lockKey)).toBe(0);
  }, 90_000);
});
