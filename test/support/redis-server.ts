import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, portIsFree, waitUntil } from './redis.js';

const run = promisify(execFile);

/** Runs `redis-cli` against a loopback port; resolves its output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 15_000 });
  return stdout.trim();
}

/** True while process `pid` runs (an exited daemon not yet reaped by init counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Field 3 of /proc/<pid>/stat is the state; Z is a zombie.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** Starts a daemonized `redis-server` with `args` on `port`, its pid file in `dir`; resolves its pid once it answers PING. */
export async function startRedisProcess(port: number, dir: string, args: string[]): Promise<number> {
  const pidfile = join(dir, `redis-${port}.pid`);
  // A pid file left by an earlier run on this port would name a dead process, and the new server
  // would then never be stopped.
  rmSync(pidfile, { force: true });
  await run('redis-server', [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--daemonize', 'yes',
    '--pidfile', pidfile,
    '--logfile', join(dir, `redis-${port}.log`),
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    ...args,
  ]);
  let pid = 0;
  await waitUntil(`redis-server on port ${port}`, async () => {
    pid ||= Number(readFileSync(pidfile, 'utf8').trim());
    return (await redisCli(port, 'ping')) === 'PONG';
  });
  return pid;
}

/** Stops a `redis-server`: `SHUTDOWN SAVE|NOSAVE`, then SIGKILL if it is still there; waits until it is gone. */
export async function stopRedisProcess(port: number, pid: number, save: boolean): Promise<void> {
  try {
    await redisCli(port, 'shutdown', save ? 'save' : 'nosave');
  } catch {
    // redis-cli reports the dropped connection as an error on some versions; checked below.
  }
  try {
    await waitUntil(`redis-server ${pid} to exit`, () => !alive(pid), 5_000, 20);
  } catch {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    await waitUntil(`redis-server ${pid} to die`, () => !alive(pid), 5_000, 20);
  }
  await waitUntil(`port ${port} to be free`, () => portIsFree(port), 5_000, 20);
}

/**
 * A `redis-server` owned by one test file, on a free loopback port, with a dump file in its own
 * temporary directory so that data survives {@link TestRedisServer.stop} + {@link TestRedisServer.start}
 * (stop saves with `SHUTDOWN SAVE`; start loads `dump.rdb`; no automatic snapshots, no AOF).
 */
export class TestRedisServer {
  private pid = 0;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /** Creates the directory, picks a port and starts the server. */
  static async create(): Promise<TestRedisServer> {
    const server = new TestRedisServer(await freePort(), mkdtempSync(join(tmpdir(), 'sessionkit-redis-')));
    try {
      await server.start();
    } catch (error) {
      await server.dispose();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.pid !== 0 && alive(this.pid);
  }

  /** Starts (or restarts) the server on the same port, loading the last dump. */
  async start(): Promise<void> {
    if (this.running) return;
    this.pid = await startRedisProcess(this.port, this.dir, ['--dbfilename', 'dump.rdb']);
  }

  /** Stops the server, saving its data for the next start unless `save` is false. */
  async stop(save = true): Promise<void> {
    if (!this.running) return;
    await stopRedisProcess(this.port, this.pid, save);
    this.pid = 0;
  }

  /** Stops the server without saving and removes its directory. Safe to call in any state. */
  async dispose(): Promise<void> {
    try {
      await this.stop(false);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** A Redis Sentinel watching one master (`name`), for one test file; its config lives in `dir`. */
export interface TestSentinel {
  port: number;
  name: string;
  stop(): Promise<void>;
}

/**
 * Starts a daemonized `redis-server --sentinel` on a free port monitoring the master on
 * `masterPort` under `name`, and waits until it reports that master.
 */
export async function startSentinel(masterPort: number, dir: string, name = 'sessionkit'): Promise<TestSentinel> {
  const port = await freePort();
  const config = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 5000`,
      '',
    ].join('\n'),
  );
  const pidfile = join(dir, `sentinel-${port}.pid`);
  await run('redis-server', [config, '--sentinel', '--daemonize', 'yes', '--pidfile', pidfile, '--logfile', join(dir, `sentinel-${port}.log`)]);
  let pid = 0;
  const stop = async (): Promise<void> => {
    pid ||= Number(readFileSync(pidfile, 'utf8').trim());
    if (pid) await stopRedisProcess(port, pid, false);
  };
  try {
    await waitUntil(`sentinel on port ${port}`, async () => {
      pid ||= Number(readFileSync(pidfile, 'utf8').trim());
      return (await redisCli(port, 'sentinel', 'get-master-addr-by-name', name)).includes(String(masterPort));
    });
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return { port, name, stop };
}
