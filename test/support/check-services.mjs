// Fails fast, with one line, when a service the suites need is down, instead of letting every
// suite time out. Run first by `npm test`, and as Jest's globalSetup for runs of single files.
// Plain JavaScript so Node runs it before anything is compiled.
import { readdirSync, readFileSync } from 'node:fs';
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

export default async function checkServices() {
  const root = new URL('../..', import.meta.url).pathname;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const checks = [
    pingRedis(redisUrl).catch((error) => {
      throw new Error(`Redis is not reachable at ${redisUrl} (${error.message}); start it with \`redis-server --daemonize yes\`, or set REDIS_URL.`);
    }),
  ];
  if (needed(root, /from 'pg'|DATABASE_URL/)) {
    const pgUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    checks.push(
      queryPostgres(pgUrl).catch((error) => {
        throw new Error(`PostgreSQL is not reachable at ${pgUrl} (${error.message}); start it (e.g. \`service postgresql start\`), or set DATABASE_URL.`);
      }),
    );
  }
  if (needed(root, /from 'mysql2(\/promise)?'|MYSQL_URL/)) {
    const mysqlUrl = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
    checks.push(
      queryMysql(mysqlUrl).catch((error) => {
        throw new Error(
          `MariaDB/MySQL is not reachable at ${mysqlUrl} (${error.message}); start it (e.g. \`start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd\`), or set MYSQL_URL.`,
        );
      }),
    );
  }
  const failures = (await Promise.allSettled(checks)).filter((result) => result.status === 'rejected');
  if (failures.length > 0) {
    for (const failure of failures) console.error(failure.reason.message);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await checkServices();
