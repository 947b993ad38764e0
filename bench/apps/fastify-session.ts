import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import { Controller, Get, HttpCode, Module, Post, Req } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import type { CartItem } from '../common.js';
import { BENCH_SECRET, typicalSession } from '../common.js';

declare module 'fastify' {
  interface Session {
    userId?: number;
    role?: string;
    cart?: CartItem[];
    n?: number;
  }
}

/** The same routes with @fastify/session, as its users write them. */
@Controller()
class FastifySessionController {
  @Get('setup')
  setup(@Req() req: FastifyRequest) {
    const data = typicalSession();
    req.session.set('userId', data.userId);
    req.session.set('role', data.role);
    req.session.set('cart', data.cart);
    return { ok: true };
  }

  @Get('read')
  read(@Req() req: FastifyRequest) {
    return { n: req.session.get('n') ?? 0 };
  }

  @Post('change')
  @HttpCode(200)
  change(@Req() req: FastifyRequest) {
    const n = (req.session.get('n') ?? 0) + 1;
    req.session.set('n', n);
    return { n };
  }

  @Get('first')
  first(@Req() req: FastifyRequest) {
    req.session.set('n', 1);
    return { n: 1 };
  }

  @Get('none')
  none() {
    return { ok: true };
  }
}

@Module({ controllers: [FastifySessionController] })
export class FastifySessionAppModule {}

/** The fair configuration: no empty sessions saved, no rolling cookie, plain HTTP, its memory store. */
export async function useFastifySession(app: NestFastifyApplication): Promise<void> {
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: BENCH_SECRET,
    saveUninitialized: false,
    rolling: false,
    cookie: { secure: false },
  });
}
