import { Controller, Get, HttpCode, Module, Post, Req } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Request } from 'express';
import session from 'express-session';
import type { CartItem } from '../common.js';
import { BENCH_SECRET, typicalSession } from '../common.js';

declare module 'express-session' {
  interface SessionData {
    userId: number;
    role: string;
    cart: CartItem[];
    n: number;
  }
}

/** The same routes with express-session, as its users write them. */
@Controller()
class ExpressSessionController {
  @Get('setup')
  setup(@Req() req: Request) {
    const data = typicalSession();
    req.session.userId = data.userId;
    req.session.role = data.role;
    req.session.cart = data.cart;
    return { ok: true };
  }

  @Get('read')
  read(@Req() req: Request) {
    return { n: req.session.n ?? 0 };
  }

  @Post('change')
  @HttpCode(200)
  change(@Req() req: Request) {
    req.session.n = (req.session.n ?? 0) + 1;
    return { n: req.session.n };
  }

  @Get('first')
  first(@Req() req: Request) {
    req.session.n = 1;
    return { n: 1 };
  }

  @Get('none')
  none() {
    return { ok: true };
  }
}

@Module({ controllers: [ExpressSessionController] })
export class ExpressSessionAppModule {}

/** The fair configuration: no resave, no empty sessions saved, no rolling cookie, plain HTTP. */
export function useExpressSession(app: NestExpressApplication, store: session.Store | undefined): void {
  app.use(
    session({
      secret: BENCH_SECRET,
      resave: false,
      saveUninitialized: false,
      rolling: false,
      cookie: { secure: false },
      ...(store === undefined ? {} : { store }),
    }),
  );
}
