import type { INestApplication } from '@nestjs/common';
import { AuthAppModule } from './fixtures/auth.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';

describe.each(adapters)('login, me, logout (%s)', (adapter) => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await startApp(AuthAppModule, adapter);
    base = await baseUrl(app);
  });
  afterAll(() => app.close());

  it('guards /me until login, then after logout even with the old cookie', async () => {
    const client = new Client(base);
    expect((await client.get('/me')).status).toBe(401);

    const login = await client.post('/login', { userId: 7 });
    expect(login.status).toBe(200);
    expect(login.setCookies).toHaveLength(1);
    const me = await client.get('/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ userId: 7 });
    const oldCookie = client.jar.get('sid')!;

    const logout = await client.post('/logout');
    expect(logout.status).toBe(200);
    expect(logout.setCookies[0]).toMatch(/^sid=;/);
    expect(client.jar.has('sid')).toBe(false);
    expect((await client.get('/me')).status).toBe(401);

    client.jar.set('sid', oldCookie);
    expect((await client.get('/me')).status).toBe(401);
  });

  it('sets no cookie on routes and sessions nothing wrote to', async () => {
    const client = new Client(base);
    const plain = await client.get('/plain');
    expect(plain.status).toBe(200);
    expect(plain.setCookies).toEqual([]);
    const me = await client.get('/me');
    expect(me.status).toBe(401);
    expect(me.setCookies).toEqual([]);
  });
});
