import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { type ReadmeBlock, sectionBlocks } from './readme/readme-blocks.js';
import { adapters, delay } from './support/app.js';
import { Client } from './support/client.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');

/** The Quick start's files as the README shows them: its four files, with the Fastify main.ts on Fastify. */
function quickStartFiles(adapter: (typeof adapters)[number]): ReadmeBlock[] {
  const files = sectionBlocks(readme, '## Quick start');
  expect(files.map((b) => b.name)).toEqual(['main.ts', 'app.module.ts', 'auth.controller.ts', 'users.service.ts']);
  if (adapter === 'express') return files;
  const fastify = sectionBlocks(readme, '### On Fastify');
  expect(fastify.map((b) => b.name)).toEqual(['main.ts']);
  return [...fastify, ...files.filter((b) => b.name !== 'main.ts')];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The README's Quick start, run as a newcomer runs it: its files written out as they appear, then
 * `node main.ts` (TypeScript compiled on load by test/readme/ts-register.mjs), with nothing but
 * PORT and SESSION_SECRET in the environment, driven over HTTP like a browser.
 */
describe.each(adapters)("the README's Quick start, run as written (%s)", (adapter) => {
  let app: ChildProcess;
  let output = '';
  let base: string;

  beforeAll(async () => {
    const dir = `${root}node_modules/.cache/readme-quick-start/${adapter}/`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const block of quickStartFiles(adapter)) writeFileSync(dir + block.name!, block.code);
    writeFileSync(`${dir}package.json`, JSON.stringify({ type: 'module' }));

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const { NODE_OPTIONS: _jestOptions, ...environment } = process.env;
    app = spawn(process.execPath, ['--import', `${root}test/readme/ts-register.mjs`, 'main.ts'], {
      cwd: dir,
      env: { ...environment, PORT: String(port), SESSION_SECRET: 'quick-start-secret-Zq8vN2xL5pR7tY1wK4mB' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    app.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Started when it answers; an app that exits first fails with what it printed.
    for (let waited = 0; ; waited += 100) {
      if (app.exitCode !== null) throw new Error(`The Quick start app exited with ${app.exitCode}:\n${output}`);
      if (waited > 60_000) throw new Error(`The Quick start app did not answer within 60 s:\n${output}`);
      const answered = await fetch(`${base}/me`).then(
        () => true,
        () => false,
      );
      if (answered) break;
      await delay(100);
    }
  }, 90_000);

  afterAll(async () => {
    if (app.exitCode !== null || app.signalCode !== null) return;
    const exited = new Promise((resolve) => app.once('exit', resolve));
    app.kill('SIGTERM'); // enableShutdownHooks(): Nest closes the app and the store, then exits
    const stuck = setTimeout(() => app.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(stuck);
  });

  it('logs in, reads the guarded route and logs out', async () => {
    const browser = new Client(base);
    const anonymous = await browser.get('/me');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ message: 'Log in first: this route needs a session.' });
    expect(anonymous.setCookies).toEqual([]);
    // The adapter is the one main.ts chose.
    expect(anonymous.headers.get('x-powered-by')).toBe(adapter === 'express' ? 'Express' : null);

    const wrong = await browser.post('/login', { username: 'alice', password: 'queen' });
    expect(wrong.status).toBe(401);
    expect(wrong.setCookies).toEqual([]);

    const login = await browser.post('/login', { username: 'alice', password: 'wonderland' });
    expect(login.status).toBe(200);
    expect(login.body).toEqual({ ok: true, returnTo: '/' });
    expect(login.setCookies).toHaveLength(1);
    expect(login.setCookies[0]).toMatch(/^sid=[\w-]{43}\.[\w-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/i);
    const cookie = browser.jar.get('sid')!;

    // The user id comes back from the server's store on later requests, to this cookie only.
    for (let i = 0; i < 2; i++) expect((await browser.get('/me')).body).toEqual({ userId: 1 });
    const copy = new Client(base);
    copy.jar.set('sid', cookie);
    expect((await copy.get('/me')).body).toEqual({ userId: 1 });
    const forged = new Client(base);
    forged.jar.set('sid', `${cookie.slice(0, -2)}xx`);
    expect((await forged.get('/me')).status).toBe(401);

    const logout = await browser.post('/logout');
    expect(logout.status).toBe(200);
    expect(logout.body).toEqual({ ok: true });
    expect(logout.setCookies.join()).toMatch(/^sid=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i);
    expect(browser.jar.has('sid')).toBe(false);
    expect((await browser.get('/me')).status).toBe(401);
    // The session is gone from the store: its cookie, replayed, logs nobody in.
    expect((await copy.get('/me')).status).toBe(401);

    expect(output).not.toMatch(/ERROR|Error:/);
  });
});
