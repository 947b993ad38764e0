import { type CallHandler, type DynamicModule, type ExecutionContext, Injectable, Module, type NestInterceptor, createParamDecorator } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { type Observable, mergeMap } from 'rxjs';
import { type Reply, idOf, newSessionId } from './minimal.js';
import { sameWorkController } from './minimal-same.js';

/**
 * The same-work app (bench/apps/minimal-same.ts) with its sessions in Redis, written the way
 * RedisStore lays them out, by hand: what a Redis session costs in the library's shape, to tell it
 * from what RedisStore and the library add. The session is a hash: `@c` created and `@t` touched
 * (epoch ms), `@u` the user, and one field `.key` per value holding its JSON, a value longer than
 * 64 characters cut into `.key`, `+1.key`, ... (RedisStore cuts at 64 bytes, on character
 * boundaries; the benchmark's values are ASCII, where both cuts agree). A read is RedisStore's
 * read script (`HGETALL` sent back as one JSON string), every value parsed; a save is one script
 * (`HSET` of what changed and `@t`, then `PEXPIRE`), run by a global interceptor after the handler
 * and before the response, only if the handler changed
 * the session. No expiry check on read, no user index, no size or value checks, no deadline on a
 * command, no save on the exits the interceptor does not see: less than RedisStore does, never more.
 */

/** The longest value kept in one field: Redis's `hash-max-listpack-value` default. */
const PIECE = 64;
const TTL_MS = 24 * 60 * 60 * 1000;
const SAVE_SCRIPT = "redis.call('HSET', KEYS[1], unpack(ARGV, 2)); return redis.call('PEXPIRE', KEYS[1], ARGV[1])";
/** RedisStore's read: the hash as one JSON array, one reply string (see READ_LUA in lib/stores/redis.scripts.ts). */
const READ_SCRIPT = "local h = redis.call('HGETALL', KEYS[1]) if #h == 0 then return false end return cjson.encode(h)";

type SavingClient = Redis & {
  benchSessionSave(key: string, ttlMs: number, ...fieldsAndValues: string[]): Promise<number>;
  benchSessionRead(key: string): Promise<string | null>;
};

/** Appends the fields holding `json` under `.key`: one, or one per piece of {@link PIECE} characters. */
function pushValue(out: string[], key: string, json: string): void {
  out.push(`.${key}`, json.length <= PIECE ? json : json.slice(0, PIECE));
  for (let piece = 1; piece * PIECE < json.length; piece++) out.push(`+${piece}.${key}`, json.slice(piece * PIECE, (piece + 1) * PIECE));
}

/** One request's session: its own data, read from the hash, and what the handler changed. */
class RedisHandSession {
  private changed: string[] | undefined;

  constructor(
    private readonly client: SavingClient,
    private readonly prefix: string,
    /** Undefined for a session the request did not bring (it gets an id and a cookie when saved). */
    private id: string | undefined,
    private readonly data: Record<string, unknown>,
  ) {}

  get(key: string): unknown {
    return this.data[key];
  }

  set(key: string, value: unknown): void {
    this.data[key] = value;
    (this.changed ??= []).push(key);
  }

  /** Writes what changed, if anything did; a new session gets its id and signed cookie on `res`. */
  save(res: Reply): Promise<number> | undefined {
    if (this.changed === undefined) return undefined;
    const now = String(Date.now());
    const fields: string[] = [];
    if (this.id === undefined) {
      this.id = newSessionId(res);
      fields.push('@c', now);
      const user = this.data['userId'];
      if (user !== undefined) fields.push('@u', String(user));
    }
    fields.push('@t', now);
    for (const key of this.changed) pushValue(fields, key, JSON.stringify(this.data[key]));
    this.changed = undefined;
    return this.client.benchSessionSave(this.prefix + this.id, TTL_MS, ...fields);
  }

  /** The session a cookie names: its hash read and parsed, or a new empty one. */
  static async load(client: SavingClient, prefix: string, cookie: string | undefined): Promise<RedisHandSession> {
    const id = idOf(cookie);
    const reply = id === undefined ? null : await client.benchSessionRead(prefix + id);
    if (reply === null) return new RedisHandSession(client, prefix, undefined, {});
    const hash = JSON.parse(reply) as string[];
    let pieces: Map<string, string> | undefined;
    for (let i = 0; i < hash.length; i += 2) if (hash[i]!.charCodeAt(0) === 43) (pieces ??= new Map()).set(hash[i]!, hash[i + 1]!);
    const data: Record<string, unknown> = {};
    for (let i = 0; i < hash.length; i += 2) {
      const field = hash[i]!;
      if (field.charCodeAt(0) !== 46) continue;
      let json = hash[i + 1]!;
      for (let piece = 1, next = pieces?.get(`+1${field}`); next !== undefined; next = pieces!.get(`+${++piece}${field}`)) json += next;
      data[field.slice(1)] = JSON.parse(json) as unknown;
    }
    return new RedisHandSession(client, prefix, id, data);
  }
}

/** Where the session of a request is held, once a handler asked for it: while it loads, and once loaded. */
const kLoading = Symbol('bench.redisHandSession.loading');
const kSession = Symbol('bench.redisHandSession');
type WithSession = { [kLoading]?: Promise<RedisHandSession>; [kSession]?: RedisHandSession; headers: { cookie?: string } };

/** The same-work app on Redis, with `client` and the app's key `prefix`. */
export function minimalSameRedisModule(redis: Redis, prefix: string): DynamicModule {
  redis.defineCommand('benchSessionSave', { numberOfKeys: 1, lua: SAVE_SCRIPT });
  redis.defineCommand('benchSessionRead', { numberOfKeys: 1, lua: READ_SCRIPT });
  const client = redis as SavingClient;

  /** `@RedisSession() session`: loads the request's session on first use, only on the routes that ask for it. */
  const RedisSession = createParamDecorator((_key: unknown, context: ExecutionContext): Promise<RedisHandSession> => {
    const req = context.switchToHttp().getRequest<WithSession>();
    return (req[kLoading] ??= RedisHandSession.load(client, prefix, req.headers.cookie).then((session) => (req[kSession] = session)));
  });

  /** Saves the request's session, if a handler loaded and changed it, before Nest writes the result. */
  @Injectable()
  class SaveInterceptor implements NestInterceptor {
    intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
      const http = context.switchToHttp();
      return next.handle().pipe(
        mergeMap((result: unknown) => {
          const saving = http.getRequest<WithSession>()[kSession]?.save(http.getResponse<Reply>());
          return saving === undefined ? [result] : saving.then(() => result);
        }),
      );
    }
  }

  @Module({})
  class MinimalSameRedisAppModule {}
  return { module: MinimalSameRedisAppModule, controllers: [sameWorkController(RedisSession)], providers: [{ provide: APP_INTERCEPTOR, useClass: SaveInterceptor }] };
}
