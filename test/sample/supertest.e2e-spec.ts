import { Controller, Get, HttpCode, Module, Post, UseGuards } from '@nestjs/common';
import request from 'supertest';
import { Session, SessionGuard, SessionModule } from 'nestjs-sessionkit';
import { SECRET, adapters, startApp } from '../support/app.js';
import { setCookieValue } from '../support/cookies.js';
import { type SampleApp, startSample } from './sample-app.js';

// The README's "Testing" section, for real: supertest's request.agent() keeps the cookie
// between requests, as a browser does, provided the cookie is not `Secure` over plain HTTP.
describe.each(adapters)('the sample with supertest request.agent (%s)', (adapter) => {
  let sample: SampleApp;

  beforeAll(async () => {
    sample = await startSample(adapter);
  });
  afterAll(() => sample.app.close());

  it('logs in, keeps the session across requests, and logs out', async () => {
    const agent = request.agent(sample.app.getHttpServer());
    await agent.get('/profile').expect(401);

    await agent.post('/cart').send({ sku: 'book-1', qty: 2 }).expect(201);
    const login = await agent.post('/login').send({ username: 'alice', password: 'wonderland' }).expect(200);
    const sid = setCookieValue(login.get('Set-Cookie') ?? [])!;
    expect((await sample.record(sid))?.data).toMatchObject({ userId: 1, cart: [{ sku: 'book-1', qty: 2 }] });

    const profile = await agent.get('/profile').expect(200);
    expect(profile.body).toEqual({ user: { id: 1, username: 'alice', name: 'Alice' }, visits: 1, flash: ['Welcome back, Alice.'] });
    await agent.get('/cart').expect(200, { items: [{ sku: 'book-1', qty: 2 }] });
    expect((await sample.record(sid))?.data).toMatchObject({ userId: 1, visits: 1 });

    await agent.post('/logout').expect(200, { ok: true });
    expect(await sample.record(sid)).toBeUndefined();
    await agent.get('/flash').expect(200, { info: ['You are logged out.'] });
    await agent.get('/profile').expect(401);
  });

  it('answers a posted form with a redirect and the JSON API with JSON', async () => {
    const agent = request.agent(sample.app.getHttpServer());
    await agent.post('/login').type('form').send({ username: 'alice', password: 'wrong' }).expect(303).expect('Location', '/login');
    await agent.post('/login').type('form').send({ username: 'alice', password: 'wonderland' }).expect(303).expect('Location', '/profile');
    const page = await agent.get('/profile').set('Accept', 'text/html').expect(200).expect('Content-Type', /text\/html/);
    expect(page.text).toContain('Welcome back, Alice.');
    expect(page.text).toMatch(/data-testid="visits">1</);
    await agent.get('/profile').expect(200).expect((res) => expect(res.body.visits).toBe(2));
  });
});

@Controller()
class SecureDefaultController {
  @Post('login')
  @HttpCode(200)
  login(@Session() session: Session) {
    session.set('userId', 1);
    return { ok: true };
  }

  @Get('me')
  @UseGuards(SessionGuard)
  me(@Session('userId') userId: number) {
    return { userId };
  }
}

@Module({ imports: [SessionModule.forRoot({ secret: SECRET })], controllers: [SecureDefaultController] })
class SecureDefaultModule {}

// What the Troubleshooting section says: with the default `Secure` cookie, a client on plain
// HTTP stores the cookie but never sends it back, so the next request has no session.
describe.each(adapters)('the Secure default over plain HTTP (%s)', (adapter) => {
  it('loses the session in supertest, although the server set the cookie', async () => {
    const app = await startApp(SecureDefaultModule, adapter);
    try {
      const agent = request.agent(app.getHttpServer());
      const login = await agent.post('/login').expect(200);
      expect(login.get('Set-Cookie')?.[0]).toMatch(/; Secure/);
      await agent.get('/me').expect(401);
      // The same cookie sent by hand works: the session is there, only the client held it back.
      await request(app.getHttpServer()).get('/me').set('Cookie', `sid=${setCookieValue(login.get('Set-Cookie')!)}`).expect(200, { userId: 1 });
    } finally {
      await app.close();
    }
  });
});
