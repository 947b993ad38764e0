import { Body, Controller, Get, HttpCode, Post, UnauthorizedException, UseGuards } from '@nestjs/common';
import { Session, SessionGuard, SessionService } from 'nestjs-sessionkit';
import './session-data.js';
import { UsersService } from './users.service.js';

@Controller()
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
  ) {}

  @Post('login')
  @HttpCode(200)
  async login(@Session() session: Session, @Body() body: { username?: string; password?: string }) {
    const user = this.users.check(body?.username, body?.password);
    if (!user) throw new UnauthorizedException('Unknown user or wrong password (try alice / wonderland).');
    await session.regenerate(); // new id, same data: no session fixation
    session.set('userId', user.id);
    session.flash('info', `Welcome back, ${user.name}.`);
    return { ok: true, user };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: Session) {
    await session.destroy();
    session.flash('info', 'You are logged out.'); // survives: the handle goes on as a new session
    return { ok: true };
  }

  @Get('profile')
  @UseGuards(SessionGuard)
  profile(@Session() session: Session) {
    const userId = session.get('userId')!;
    return { user: this.users.byId(userId), visits: session.increment('visits'), flash: session.flash('info') };
  }

  @Get('flash')
  flash(@Session() session: Session) {
    return { info: session.flash('info') };
  }

  @Get('sessions')
  @UseGuards(SessionGuard)
  list(@Session() session: Session) {
    return this.sessions.listByUser(session.get('userId'), { current: session });
  }

  @Post('sessions/logout-others')
  @HttpCode(200)
  @UseGuards(SessionGuard)
  async logoutOthers(@Session() session: Session) {
    return { destroyed: await this.sessions.destroyByUser(session.get('userId'), { except: session }) };
  }
}
