import { Controller, Get, HttpCode, Module, Post } from '@nestjs/common';

/** The ceiling: the same routes with no sessions, answering constants. */
@Controller()
class BareController {
  @Get('setup')
  setup() {
    return { ok: true };
  }

  @Get('read')
  read() {
    return { n: 0 };
  }

  @Post('change')
  @HttpCode(200)
  change() {
    return { n: 1 };
  }

  @Post('change-lock')
  @HttpCode(200)
  changeLocked() {
    return { n: 1 };
  }

  @Get('first')
  first() {
    return { n: 1 };
  }

  @Get('none')
  none() {
    return { ok: true };
  }
}

@Module({ controllers: [BareController] })
export class BareAppModule {}
