import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Headers, HttpCode, Module, Post, Res, type Type } from '@nestjs/common';
import { BENCH_SECRET, typicalSession } from '../common.js';

/**
 * The smallest Nest app that does a session's work by hand, with no library: it finds the signed
 * cookie in the Cookie header, checks its HMAC once (then a Map lookup), reads and writes one Map
 * entry, and on a first visit draws a random id, signs it and sets the cookie. No expiry, no
 * change tracking, no save-before-headers, no store abstraction: a floor for what any session
 * library in a Nest app can cost, against which the targets can be judged when "free" is out of reach.
 */
const verified = new Map<string, string>();

function sign(id: string): string {
  return createHmac('sha256', BENCH_SECRET).update(id).digest('base64url');
}

/** The session id of a `sid=<id>.<hmac>` cookie, verified (cached after the first time). */
export function idOf(header: string | undefined): string | undefined {
  const start = header?.indexOf('sid=') ?? -1;
  if (header === undefined || start === -1) return undefined;
  const end = header.indexOf(';', start);
  const value = header.slice(start + 4, end === -1 ? undefined : end);
  const cached = verified.get(value);
  if (cached !== undefined) return cached;
  const dot = value.indexOf('.');
  const id = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1));
  const expected = Buffer.from(sign(id));
  if (dot === -1 || given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  verified.set(value, id);
  return id;
}

/** What the floor apps need of Express's and Fastify's reply (`@Res({ passthrough: true })`). */
export interface Reply {
  header(name: string, value: string): unknown;
}

/** Draws a new id and sets its signed cookie on `res`; returns the id. */
export function newSessionId(res: Reply): string {
  const id = randomBytes(32).toString('base64url');
  res.header('set-cookie', `sid=${id}.${sign(id)}; Path=/; HttpOnly; SameSite=Lax`);
  return id;
}

/** Where a floor app keeps its sessions: by reference (the floor) or as JSON (the copy app). */
interface FloorSessions {
  get(id: string): Record<string, unknown> | undefined;
  set(id: string, data: Record<string, unknown>): void;
}

/** The floor: the `Map` entry itself, changed in place (its `set` after a change is a no-op write). */
const sessions: FloorSessions = new Map<string, Record<string, unknown>>();

/**
 * The floor's routes with one guarantee more, as nestjs-sessionkit's MemoryStore keeps it: no
 * object is shared between the store and a request, so each session is kept as JSON, parsed on
 * every read and parsed and written again on every change. What that copy costs, measured beside
 * the floor (`--apps=express-minimal-copy,fastify-minimal-copy`).
 */
const copies = new Map<string, string>();
const copied: FloorSessions = {
  get: (id) => {
    const json = copies.get(id);
    return json === undefined ? undefined : (JSON.parse(json) as Record<string, unknown>);
  },
  set: (id, data) => void copies.set(id, JSON.stringify(data)),
};

/** The floor app's module, keeping its sessions in `kept`. */
function floorModule(kept: FloorSessions): Type<unknown> {
  const read = (cookie: string | undefined): Record<string, unknown> | undefined => {
    const id = idOf(cookie);
    return id === undefined ? undefined : kept.get(id);
  };

  @Controller()
  class MinimalController {
    @Get('setup')
    setup(@Res({ passthrough: true }) res: Reply) {
      kept.set(newSessionId(res), typicalSession());
      return { ok: true };
    }

    @Get('read')
    read(@Headers('cookie') cookie: string | undefined) {
      return { n: read(cookie)?.['n'] ?? 0 };
    }

    @Post('change')
    @HttpCode(200)
    change(@Headers('cookie') cookie: string | undefined) {
      const id = idOf(cookie);
      const data = id === undefined ? undefined : kept.get(id);
      if (data === undefined) return { n: 0 };
      const n = ((data['n'] as number | undefined) ?? 0) + 1;
      data['n'] = n;
      kept.set(id!, data);
      return { n };
    }

    @Get('first')
    first(@Res({ passthrough: true }) res: Reply) {
      kept.set(newSessionId(res), { n: 1 });
      return { n: 1 };
    }

    @Get('none')
    none() {
      return { ok: true };
    }
  }

  @Module({ controllers: [MinimalController] })
  class MinimalSessionAppModule {}
  return MinimalSessionAppModule;
}

/** The floor app. */
export const MinimalSessionAppModule = floorModule(sessions);

/** The floor's routes with sessions kept as JSON (see `copies`). */
export const MinimalCopyAppModule = floorModule(copied);
