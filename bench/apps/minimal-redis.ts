import { Controller, type DynamicModule, Get, Headers, HttpCode, Module, Post, Res } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { typicalSession } from '../common.js';
import { type Reply, idOf, newSessionId } from './minimal.js';

/**
 * The Redis floor: the floor app of bench/apps/minimal.ts (same cookie, same checks) with the
 * session in a Redis hash, one field per value, each value JSON. A read is one `HGETALL` (every
 * field parsed, as loading a session does); a change is that `HGETALL` and one `HSET` of the
 * changed field; a first visit is one `HSET`. No expiry, no script, no pipelining: what one round
 * trip per read and per write costs a hand-written app, through ioredis.
 */
export function minimalRedisModule(client: Redis, prefix: string): DynamicModule {
  const load = async (id: string | undefined): Promise<Record<string, unknown> | undefined> => {
    if (id === undefined) return undefined;
    const fields = await client.hgetall(prefix + id);
    const data: Record<string, unknown> = {};
    let found = false;
    for (const name in fields) {
      data[name] = JSON.parse(fields[name]!) as unknown;
      found = true;
    }
    return found ? data : undefined;
  };
  const save = (id: string, values: Record<string, unknown>): Promise<number> => {
    const args: string[] = [];
    for (const name in values) args.push(name, JSON.stringify(values[name]));
    return client.hset(prefix + id, ...args);
  };

  @Controller()
  class MinimalRedisController {
    @Get('setup')
    async setup(@Res({ passthrough: true }) res: Reply) {
      await save(newSessionId(res), typicalSession());
      return { ok: true };
    }

    @Get('read')
    async read(@Headers('cookie') cookie: string | undefined) {
      const data = await load(idOf(cookie));
      return { n: (data?.['n'] as number | undefined) ?? 0 };
    }

    @Post('change')
    @HttpCode(200)
    async change(@Headers('cookie') cookie: string | undefined) {
      const id = idOf(cookie);
      const data = await load(id);
      if (data === undefined) return { n: 0 };
      const n = ((data['n'] as number | undefined) ?? 0) + 1;
      await save(id!, { n });
      return { n };
    }

    @Get('first')
    async first(@Res({ passthrough: true }) res: Reply) {
      await save(newSessionId(res), { n: 1 });
      return { n: 1 };
    }

    @Get('none')
    none() {
      return { ok: true };
    }
  }

  @Module({})
  class MinimalRedisAppModule {}
  return { module: MinimalRedisAppModule, controllers: [MinimalRedisController] };
}
