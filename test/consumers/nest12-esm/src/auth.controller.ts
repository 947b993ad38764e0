import { Body, Controller, Get, Post, UseGuards } from '@nestjs/common';
import { Session, SessionGuard } from 'nestjs-sessionkit';

@Controller()
export class AuthController {
  @Post('login')
  async login(@Session() session: Session, @Body() body: { userId: number }) {
    await session.regenerate();
    session.set('userId', body.userId);
    return { ok: true };
  }

  @Get('me')
  @UseGuards(SessionGuard)
  me(@Session('userId') userId: number) {
    return { userId };
  }

  @Post('logout')
  async logout(@Session() session: Session) {
    await session.destroy();
    return { ok: true };
  }
}
