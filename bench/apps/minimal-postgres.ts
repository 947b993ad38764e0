import { Controller, type DynamicModule, Get, Headers, HttpCode, Module, Post, Res } from '@nestjs/common';
import type { Pool } from 'pg';
import { typicalSession } from '../common.js';
import { type Reply, idOf, newSessionId } from './minimal.js';

/**
 * The PostgreSQL floor: the floor app of bench/apps/minimal.ts (same cookie, same checks) with the
 * session in a table `(id text primary key, data jsonb)`, one query per request through pg: a read
 * is one `SELECT`, a change one `UPDATE ... RETURNING` (the increment done by the database), a
 * first visit one `INSERT`. No expiry, no transaction, no prepared-statement names: what one
 * query per request costs a hand-written app. `table` is already quoted and schema-qualified.
 */
export function minimalPostgresModule(pool: Pool, table: string): DynamicModule {
  const insert = `INSERT INTO ${table} (id, data) VALUES ($1, $2)`;
  const select = `SELECT data FROM ${table} WHERE id = $1`;
  const increment = `UPDATE ${table} SET data = jsonb_set(data, '{n}', to_jsonb(COALESCE((data->>'n')::int, 0) + 1)) WHERE id = $1 RETURNING (data->>'n')::int AS n`;

  @Controller()
  class MinimalPostgresController {
    @Get('setup')
    async setup(@Res({ passthrough: true }) res: Reply) {
      await pool.query(insert, [newSessionId(res), JSON.stringify(typicalSession())]);
      return { ok: true };
    }

    @Get('read')
    async read(@Headers('cookie') cookie: string | undefined) {
      const id = idOf(cookie);
      if (id === undefined) return { n: 0 };
      const { rows } = await pool.query<{ data: Record<string, unknown> }>(select, [id]);
      return { n: (rows[0]?.data['n'] as number | undefined) ?? 0 };
    }

    @Post('change')
    @HttpCode(200)
    async change(@Headers('cookie') cookie: string | undefined) {
      const id = idOf(cookie);
      if (id === undefined) return { n: 0 };
      const { rows } = await pool.query<{ n: number }>(increment, [id]);
      return { n: rows[0]?.n ?? 0 };
    }

    @Get('first')
    async first(@Res({ passthrough: true }) res: Reply) {
      await pool.query(insert, [newSessionId(res), '{"n":1}']);
      return { n: 1 };
    }

    @Get('none')
    none() {
      return { ok: true };
    }
  }

  @Module({})
  class MinimalPostgresAppModule {}
  return { module: MinimalPostgresAppModule, controllers: [MinimalPostgresController] };
}

/** The table of the PostgreSQL floor (`table` quoted and schema-qualified). */
export function minimalPostgresTable(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (id text PRIMARY KEY, data jsonb NOT NULL)`;
}
