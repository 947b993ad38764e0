import { Controller, Get, Req, Res } from '@nestjs/common';
import { type PageRequest, type PageResponse, html, page, wantsHtml } from './html.js';

@Controller()
export class HomeController {
  /**
   * A page for browsers, the list of curl commands for everyone else. No session used here: this
   * route never reads a cookie or touches the store.
   */
  @Get()
  home(@Req() req: PageRequest, @Res({ passthrough: true }) res: PageResponse) {
    const base = `http://localhost:${process.env.PORT ?? 3000}`;
    const store = process.env.REDIS_URL ? 'redis' : 'memory';
    const curl = [
      `curl -c jar -b jar -X POST ${base}/cart -H 'content-type: application/json' -d '{"sku":"book-1","qty":2}'`,
      `curl -c jar -b jar ${base}/cart`,
      `curl -c jar -b jar ${base}/profile                      # 401: not logged in`,
      `curl -c jar -b jar -X POST ${base}/login -H 'content-type: application/json' -d '{"username":"alice","password":"wonderland"}'`,
      `curl -c jar -b jar ${base}/profile                      # the user, a visit counter and a one-time flash message`,
      `curl -c jar -b jar ${base}/cart                         # the cart survived the login`,
      `curl -c jar -b jar ${base}/sessions                     # this user's sessions, the current one marked`,
      `curl -c jar -b jar -X POST ${base}/logout`,
      `curl -c jar -b jar ${base}/flash                        # the logout message, once`,
    ];
    if (!wantsHtml(req)) return { app: 'nestjs-sessionkit sample', store, try: curl };
    return page(
      res,
      'nestjs-sessionkit sample',
      html`<p>Sessions in the <b>${store === 'redis' ? 'Redis' : 'in-memory'}</b> store.</p>
<ol>
  <li>Put something in the <a href="/cart">cart</a>: the cart lives in the session, before any login.</li>
  <li><a href="/login">Log in</a> as <code>alice</code> / <code>wonderland</code> (or <code>bob</code> / <code>builder</code>): the cart survives the login.</li>
  <li>Reload the <a href="/profile">profile</a>: the visit counter goes up, the welcome message shows once.</li>
  <li>Log in from a second browser (or a private window), then "Log out other devices" from one of them.</li>
  <li>Log out: the profile refuses you again.</li>
</ol>
<p>The same routes answer JSON to curl:</p>
<pre>${curl.join('\n')}</pre>`,
    );
  }
}
