// Fails fast, with one line, when a service the suites need is down, instead of letting every
// suite time out. Run first by `npm test`, and as Jest's globalSetup for runs of single files.
// Run by `npm test`, it also makes sure Chromium is there for the sample's browser test: on this
// project's machines (root, Debian) it installs Debian's package, saying so; elsewhere it stops
// with the command to run. Plain JavaScript so Node runs it before anything is compiled.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

const TIMEOUT_MS = 3000;

/** Sends PING to the Redis at `url`; PONG or a Redis error (say NOAUTH) means a Redis answers. */
function pingRedis(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 6379) });
    const fail = (reason) => {
      socket.destroy();
      reject(new Error(reason));
    };
    socket.setTimeout(TIMEOUT_MS, () => fail(`no answer within ${TIMEOUT_MS} ms`));
    socket.once('error', (error) => fail(error.code ?? error.message));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (reply) => {
      socket.destroy();
      if (/^[+-]/.test(reply.toString('latin1'))) resolve();
      else reject(new Error('something that is not Redis answered'));
    });
  });
}

async function queryPostgres(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(error.code ?? error.message, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** True when some suite under lib/ or test/ uses a database: its file matches `uses` (an import of its client, its URL variable). */
function needed(root, uses) {
  const scan = (dir) =>
    readdirSync(dir, { withFileTypes: true }).some((entry) => {
      if (entry.name === 'node_modules' || entry.name === 'consumers') return false;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return scan(path);
      return /\.(spec|e2e-spec|fixture)\.ts$|support\/.*\.ts$/.test(path) && uses.test(readFileSync(path, 'utf8'));
    });
  return scan(join(root, 'lib')) || scan(join(root, 'test'));
}

async function queryMysql(url) {
  const { createConnection } = await import('mysql2/promise');
  let connection;
  try {
    connection = await createConnection({ uri: url, connectTimeout: TIMEOUT_MS });
    await connection.query('SELECT 1');
  } catch (error) {
    throw new Error(error.code ?? error.message, { cause: error });
  } finally {
    await connection?.end().catch(() => undefined);
  }
}

/** The Chromium test/sample/browser.e2e-spec.ts drives: CHROMIUM_PATH, or Debian's package. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const INSTALL_CHROMIUM = 'apt-get update -qq && apt-get install -y -qq chromium';

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(command) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && executable(join(dir, command)));
}

/**
 * Makes sure {@link CHROMIUM} exists: installs Debian's `chromium` when running as root where
 * apt-get is, saying so in one line; otherwise throws one line that says what to run.
 */
function ensureChromium() {
  if (executable(CHROMIUM)) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (process.env.CHROMIUM_PATH !== undefined || !root || !onPath('apt-get')) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM} (the sample's browser test needs it): run \`sudo sh -c '${INSTALL_CHROMIUM}'\` (Debian), or set CHROMIUM_PATH to a Chromium binary.`,
    );
  }
  console.error(`Chromium is missing at ${CHROMIUM}: installing Debian's chromium package (${INSTALL_CHROMIUM})...`);
  const run = spawnSync('sh', ['-c', `${INSTALL_CHROMIUM} >/dev/null`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (run.status !== 0 || !executable(CHROMIUM)) {
    const reason = (run.stderr ?? '').trim().split('\n').pop() || `exit code ${run.status}`;
    throw new Error(`Installing Chromium failed (${reason}); run \`${INSTALL_CHROMIUM}\` yourself, or set CHROMIUM_PATH.`);
  }
}

const START_SERVICES = 'sudo bash test/support/start-services.sh';

/**
 * Checks Redis, and PostgreSQL and MariaDB when a suite uses them; with `chromium`, also makes sure
 * Chromium is installed. Stops at once with one line that says what is down and what to run.
 */
export default async function checkServices(_globalConfig, _projectConfig, { chromium = false } = {}) {
  const root = new URL('../..', import.meta.url).pathname;
  const servers = [['Redis', 'REDIS_URL', 'redis://127.0.0.1:6379', pingRedis]];
  if (needed(root, /from 'pg'|DATABASE_URL/)) servers.push(['PostgreSQL', 'DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test', queryPostgres]);
  if (needed(root, /from 'mysql2(\/promise)?'|MYSQL_URL/)) servers.push(['MariaDB/MySQL', 'MYSQL_URL', 'mysql://root@127.0.0.1:3306/test', queryMysql]);
  const results = await Promise.all(
    servers.map(async ([name, variable, fallback, check]) => {
      const url = process.env[variable] ?? fallback;
      try {
        await check(url);
        return undefined;
      } catch (error) {
        return { name, variable, url, reason: error.message };
      }
    }),
  );
  const down = results.filter((result) => result !== undefined);
  if (down.length > 0) {
    console.error(
      `${down.map((d) => `${d.name} at ${d.url} (${d.reason})`).join(', ')} ${down.length === 1 ? 'does' : 'do'} not answer: run \`${START_SERVICES}\` (installs and starts Redis, PostgreSQL and MariaDB from Debian's packages), or set ${down.map((d) => d.variable).join(', ')} to ${down.length === 1 ? 'a server that runs' : 'servers that run'}.`,
    );
    process.exit(1);
  }
  // After the network checks: the install blocks, which would trip their timeouts.
  if (chromium) {
    try {
      ensureChromium();
    } catch (reason) {
      console.error(reason.message);
      process.exit(1);
    }
  }
}

// As Jest's globalSetup (single files) it leaves Chromium alone: the browser test says itself what is missing.
if (import.meta.url === `file://${process.argv[1]}`) await checkServices(undefined, undefined, { chromium: true });
