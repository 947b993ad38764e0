import { Controller, Get } from '@nestjs/common';

@Controller()
export class HomeController {
  /** No session used here: this route never reads a cookie or touches the store. */
  @Get()
  home() {
    const base = `http://localhost:${process.env.PORT ?? 3000}`;
    return {
      app: 'nestjs-sessionkit sample',
      store: process.env.REDIS_URL ? 'redis' : 'memory',
      try: [
        `curl -c jar -b jar -X POST ${base}/cart -H 'content-type: application/json' -d '{"sku":"book-1","qty":2}'`,
        `curl -c jar -b jar ${base}/cart`,
        `curl -c jar -b jar ${base}/profile                      # 401: not logged in`,
        `curl -c jar -b jar -X POST ${base}/login -H 'content-type: application/json' -d '{"username":"alice","password":"wonderland"}'`,
        `curl -c jar -b jar ${base}/profile                      # the user, a visit counter and a one-time flash message`,
        `curl -c jar -b jar ${base}/cart                         # the cart survived the login`,
        `curl -c jar -b jar ${base}/sessions                     # this user's sessions, the current one marked`,
        `curl -c jar -b jar -X POST ${base}/logout`,
        `curl -c jar -b jar ${base}/flash                        # the logout message, once`,
      ],
    };
  }
}
