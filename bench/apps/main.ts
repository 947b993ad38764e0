/**
 * Starts one benchmark app: `node bench-dist/bench/apps/main.js <app-name> [port]`.
 * Prints one JSON line (`ReadyMessage`) with its port once it listens; exits on SIGTERM/SIGINT.
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import session from 'express-session';
import expressMysqlSession from 'express-mysql-session';
import { Redis } from 'ioredis';
import { createPool as createMysqlPool, type Pool as MysqlPool } from 'mysql2/promise';
import { CookieStore, ExpressSessionStore, MemoryStore, MysqlStore, PostgresStore, RedisStore, type SessionStore } from 'nestjs-sessionkit';
import { Pool } from 'pg';
import { createClient } from 'redis';
import { type AppSpec, BENCH_MAX_SESSIONS, DATABASE_URL, MYSQL_URL, PG_SCHEMA, REDIS_URL, type ReadyMessage, appSpec, mysqlTableOf, pgTableOf, redisPrefixOf } from '../common.js';
import { BareAppModule, BareInterceptedAppModule } from './bare.js';
import { MinimalCopyAppModule, MinimalSessionAppModule } from './minimal.js';
import { minimalPostgresModule, minimalPostgresTable } from './minimal-postgres.js';
import { MinimalSameWorkAppModule } from './minimal-same.js';
import { minimalSameRedisModule } from './minimal-same-redis.js';
import { minimalRedisModule } from './minimal-redis.js';
import { ExpressSessionAppModule, useExpressSession } from './express-session.js';
import { FastifySessionAppModule, useFastifySession } from './fastify-session.js';
import { sessionKitModule } from './sessionkit.js';

/** Things to close on shutdown (Redis and PostgreSQL connections the app opened). */
const closers: Array<() => Promise<unknown>> = [];

/** A pool of pg's default size (10), ended on shutdown. */
function newPool(): Pool {
  const pool = new Pool({ connectionString: DATABASE_URL });
  pool.on('error', (error) => process.stderr.write(`pg pool: ${error.message}\n`));
  closers.push(() => pool.end());
  return pool;
}

/** A mysql2 pool of 10 connections (pg's default, so both SQL stores get as many), ended on shutdown. */
function newMysqlPool(): MysqlPool {
  const pool = createMysqlPool({ uri: MYSQL_URL, connectionLimit: 10 });
  closers.push(() => pool.end());
  return pool;
}

/** Commands the app's ioredis client sent, by name (what Redis counts also includes the commands scripts run). */
const sentCommands: Record<string, number> = {};

/** Counts every command `client` sends (ioredis sends each through `sendCommand`). */
function countCommands(client: Redis): void {
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    sentCommands[command.name] = (sentCommands[command.name] ?? 0) + 1;
    return (send as (...a: unknown[]) => unknown)(command, ...rest);
  }) as Redis['sendCommand'];
}

/** The harness asks over the IPC channel for the commands sent so far. */
process.on('message', (message: unknown) => {
  if (message === 'sent-commands') process.send?.({ sentCommands });
});

/** The store of a nestjs-sessionkit app: one case per {@link StoreKind}. */
async function sessionKitStore(spec: AppSpec): Promise<SessionStore> {
  switch (spec.store) {
    case 'redis': {
      if (spec.wraps === 'connect-redis') {
        // connect-redis works with the `redis` client package (not ioredis).
        const wrapped = createClient({ url: REDIS_URL });
        await wrapped.connect();
        closers.push(() => wrapped.quit());
        return new ExpressSessionStore(new ConnectRedisStore({ client: wrapped, prefix: redisPrefixOf(spec.name) }));
      }
      // The client stays the app's: RedisStore never quits it.
      const client = new Redis(REDIS_URL);
      closers.push(() => client.quit());
      countCommands(client);
      return new RedisStore({ client, prefix: redisPrefixOf(spec.name) });
    }
    case 'postgres':
      // The pool stays the app's: PostgresStore never ends it.
      return new PostgresStore({ pool: newPool(), schema: PG_SCHEMA, table: pgTableOf(spec.name), createTable: true });
    case 'mysql':
      // The pool stays the app's: MysqlStore never ends it.
      return new MysqlStore({ pool: newMysqlPool(), table: mysqlTableOf(spec.name), createTable: true });
    case 'cookie':
      return new CookieStore();
    case 'memory':
    case 'none':
      return new MemoryStore({ maxSessions: BENCH_MAX_SESSIONS });
  }
}

async function build(spec: AppSpec): Promise<INestApplication> {
  const adapter = spec.adapter === 'express' ? new ExpressAdapter() : new FastifyAdapter();
  const options = { logger: false as const };
  switch (spec.library) {
    case 'bare':
      if (spec.store === 'redis') {
        // The Redis floor, or the same work on Redis.
        const client = new Redis(REDIS_URL);
        closers.push(() => client.quit());
        const module = spec.floor ? minimalRedisModule : minimalSameRedisModule;
        return NestFactory.create(module(client, redisPrefixOf(spec.name)), adapter, options);
      }
      if (spec.floor && spec.store === 'postgres') {
        const pool = newPool();
        const table = `${PG_SCHEMA}."${pgTableOf(spec.name)}"`;
        await pool.query(minimalPostgresTable(table));
        return NestFactory.create(minimalPostgresModule(pool, table), adapter, options);
      }
      if (spec.option === 'jsonCopy') return NestFactory.create(MinimalCopyAppModule, adapter, options);
      if (spec.option === 'sameWork') return NestFactory.create(MinimalSameWorkAppModule, adapter, options);
      return NestFactory.create(spec.floor ? MinimalSessionAppModule : spec.option === 'noopInterceptor' ? BareInterceptedAppModule : BareAppModule, adapter, options);

    case 'nestjs-sessionkit':
      // `globalInterceptor` names an option turned off (it is on by default), the others options turned on.
      return NestFactory.create(sessionKitModule(await sessionKitStore(spec), spec.option === undefined ? {} : { [spec.option]: spec.option !== 'globalInterceptor' }), adapter, options);

    case 'express-session': {
      const app = await NestFactory.create<NestExpressApplication>(ExpressSessionAppModule, adapter as ExpressAdapter, options);
      let store;
      if (spec.store === 'redis') {
        // connect-redis works with the `redis` client package (not ioredis).
        const client = createClient({ url: REDIS_URL });
        await client.connect();
        closers.push(() => client.quit());
        store = new ConnectRedisStore({ client, prefix: redisPrefixOf(spec.name) });
      } else if (spec.store === 'postgres') {
        const PgStore = connectPgSimple(session);
        const pg = new PgStore({ pool: newPool(), schemaName: PG_SCHEMA, tableName: pgTableOf(spec.name), createTableIfMissing: true });
        closers.unshift(() => pg.close());
        store = pg;
      } else if (spec.store === 'mysql') {
        const MysqlSessionStore = expressMysqlSession(session);
        // Given a pool, it does not end it on close(); expiry from the session cookie, as express-session writes it.
        const mysql = new MysqlSessionStore({ createDatabaseTable: true, schema: { tableName: mysqlTableOf(spec.name) } }, newMysqlPool());
        await mysql.onReady();
        closers.unshift(() => mysql.close());
        store = mysql;
      }
      useExpressSession(app, store);
      return app;
    }

    case '@fastify/session': {
      const app = await NestFactory.create<NestFastifyApplication>(FastifySessionAppModule, adapter as FastifyAdapter, options);
      await useFastifySession(app);
      return app;
    }
  }
}

async function main(): Promise<void> {
  const name = process.argv[2];
  if (name === undefined) throw new Error('usage: node bench-dist/bench/apps/main.js <app-name> [port]');
  const spec = appSpec(name);
  const app = await build(spec);
  await app.listen(Number(process.argv[3] ?? 0), '127.0.0.1');
  const address = (app.getHttpServer() as { address(): AddressInfo }).address();
  const ready: ReadyMessage = { ready: true, app: spec.name, port: address.port, pid: process.pid };
  process.stdout.write(`${JSON.stringify(ready)}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // Never hang the harness: exit after a second whatever happens.
    setTimeout(() => process.exit(0), 1000).unref();
    void app
      .close()
      .then(() => Promise.allSettled(closers.map((close) => close())))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
