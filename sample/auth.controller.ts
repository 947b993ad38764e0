import { Body, Controller, Get, HttpCode, Post, Query, Req, Res, UnauthorizedException, UseFilters, UseGuards } from '@nestjs/common';
import { Session, SessionGuard, SessionService } from 'nestjs-sessionkit';
import { type Flashes, type PageRequest, type PageResponse, html, isForm, page, seeOther, wantsHtml } from './html.js';
import { LoginRedirectFilter } from './login-redirect.filter.js';
import type { AppSession } from './session-data.js';
import { UsersService } from './users.service.js';

/**
 * Login, profile and logout. Each route answers a browser with a page (or, for a posted form,
 * a redirect) and anything else with JSON.
 */
@Controller()
@UseFilters(LoginRedirectFilter)
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
  ) {}

  @Get('login')
  loginPage(@Session() session: AppSession, @Query('refused') refused: string | undefined, @Res({ passthrough: true }) res: PageResponse) {
    const user = this.users.byId(session.get('userId') ?? 0);
    const flash: Flashes = { info: session.flash('info'), error: session.flash('error') };
    if (refused && !user) flash.error!.push('Log in first: that page needs a session.');
    const body = user
      ? html`<p>You are logged in as ${user.name}. <a href="/profile">Your profile</a></p>`
      : html`<form class="stack" method="post" action="/login">
  <label>User name <input name="username" autocomplete="username" required autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button>Log in</button>
</form>
<p>Try <code>alice</code> / <code>wonderland</code> or <code>bob</code> / <code>builder</code>.</p>`;
    return page(res, 'Log in', body, { user: user?.name, flash });
  }

  @Post('login')
  @HttpCode(200)
  async login(
    @Session() session: AppSession,
    @Body() body: { username?: string; password?: string },
    @Req() req: PageRequest,
    @Res({ passthrough: true }) res: PageResponse,
  ) {
    const user = this.users.check(body?.username, body?.password);
    if (!user) {
      if (!isForm(req)) throw new UnauthorizedException('Unknown user or wrong password (try alice / wonderland).');
      session.flash('error', 'Unknown user or wrong password (try alice / wonderland).');
      return seeOther(res, '/login');
    }
    await session.regenerate(); // new id, same data: no session fixation
    session.set('userId', user.id);
    session.flash('info', `Welcome back, ${user.name}.`);
    return isForm(req) ? seeOther(res, '/profile') : { ok: true, user };
  }

  @Post('logout')
  @HttpCode(200)
  async logout(@Session() session: AppSession, @Req() req: PageRequest, @Res({ passthrough: true }) res: PageResponse) {
    await session.destroy();
    session.flash('info', 'You are logged out.'); // survives: the handle goes on as a new session
    return isForm(req) ? seeOther(res, '/login') : { ok: true };
  }

  @Get('profile')
  @UseGuards(SessionGuard)
  async profile(@Session() session: AppSession, @Req() req: PageRequest, @Res({ passthrough: true }) res: PageResponse) {
    const user = this.users.byId(session.get('userId')!);
    const visits = session.increment('visits');
    const info = session.flash('info');
    if (!wantsHtml(req)) return { user, visits, flash: info };
    const devices = await this.sessions.listByUser(user?.id, { current: session.handle });
    const rows = devices.map(
      (d) => html`<tr><td><code>${d.handle.slice(0, 12)}…</code></td><td>${new Date(d.createdAt).toISOString()}</td><td>${d.current ? 'this browser' : ''}</td></tr>`,
    );
    const cart = session.get('cart') ?? [];
    return page(
      res,
      'Profile',
      html`<p>Hello, <b>${user?.name}</b>. This is visit <b data-testid="visits">${visits}</b> to this page in this session.</p>
<p>Your <a href="/cart">cart</a> holds ${cart.reduce((n, item) => n + item.qty, 0)} item(s).</p>
<h2>Your sessions</h2>
<table><thead><tr><th>handle</th><th>started</th><th></th></tr></thead><tbody>${rows}</tbody></table>
<p><form method="post" action="/sessions/logout-others"><button>Log out other devices</button></form></p>`,
      { user: user?.name, flash: { info, error: session.flash('error') } },
    );
  }

  @Get('flash')
  flash(@Session() session: AppSession) {
    return { info: session.flash('info') };
  }

  @Get('sessions')
  @UseGuards(SessionGuard)
  list(@Session() session: AppSession) {
    return this.sessions.listByUser(session.get('userId'), { current: session.handle });
  }

  @Post('sessions/logout-others')
  @HttpCode(200)
  @UseGuards(SessionGuard)
  async logoutOthers(@Session() session: AppSession, @Req() req: PageRequest, @Res({ passthrough: true }) res: PageResponse) {
    const destroyed = await this.sessions.destroyByUser(session.get('userId'), { except: session.handle });
    if (!isForm(req)) return { destroyed };
    session.flash('info', `Logged out ${destroyed} other session(s).`);
    return seeOther(res, '/profile');
  }
}
