import type { INestApplication } from '@nestjs/common';
import { ValuesAppModule } from './fixtures/values.fixture.js';
import { adapters, baseUrl, startApp } from './support/app.js';
import { Client } from './support/client.js';

describe.each(adapters)('session values (%s)', (adapter) => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await startApp(ValuesAppModule, adapter);
    base = await baseUrl(app);
  });
  afterAll(() => app.close());

  it.each([
    ['function', /"value".*is a function/],
    ['symbol', /"value".*is a symbol/],
    ['circular', /"value".*value\.self refers back to itself/],
    ['date', /"value".*is a Date.*toISOString/],
    ['bigint', /"value".*is a bigint/],
    ['undefined', /"value".*is undefined.*delete\(\)/],
    ['map', /"value".*is a Map/],
    ['nested-date', /"value".*value\.when\[0\] is a Date/],
  ])('set() of a %s throws a SessionValueError naming the key and changes nothing', async (kind, message) => {
    const client = new Client(base);
    await client.post('/set', { key: 'value', value: 'previous' });

    const res = await client.post(`/bad/${kind}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ thrown: true, isValueError: true, valueAfter: 'previous' });
    expect((res.body as { message: string }).message).toMatch(message);
    expect(res.setCookies).toEqual([]);

    expect((await client.get('/all')).body).toEqual({ value: 'previous' });
  });

  it('an uncaught refusal fails the request and leaves the stored session as it was', async () => {
    const client = new Client(base);
    await client.post('/set', { key: 'value', value: 'previous' });
    const res = await client.post('/bad-uncaught/map');
    expect(res.status).toBe(500);
    expect((await client.get('/all')).body).toEqual({ value: 'previous' });
  });

  it('saves objects read with get() and changed in place', async () => {
    const client = new Client(base);
    await client.post('/cart', { item: 'apple' });
    await client.post('/cart', { item: 'pear' });
    await client.post('/cart', { item: 'plum' });
    expect((await client.get('/all')).body).toEqual({ cart: { items: ['apple', 'pear', 'plum'], owner: { name: 'nobody' } } });

    // Also objects reached through all(), changed deep inside.
    await client.post('/cart/owner', { name: 'ann' });
    expect((await client.get('/all')).body).toEqual({ cart: { items: ['apple', 'pear', 'plum'], owner: { name: 'ann' } } });
  });

  it('a flash message is read once, by a later request', async () => {
    const client = new Client(base);
    expect((await client.post('/flash', { message: 'saved' })).status).toBe(200);
    expect((await client.post('/flash', { message: 'again' })).status).toBe(200);
    expect((await client.get('/flash')).body).toEqual({ info: ['saved', 'again'] });
    expect((await client.get('/flash')).body).toEqual({ info: [] });
    // Flash data is not part of all().
    await client.post('/flash', { message: 'hidden' });
    expect((await client.get('/all')).body).toEqual({});
    expect((await client.get('/flash')).body).toEqual({ info: ['hidden'] });
  });
});
