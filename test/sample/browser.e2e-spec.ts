import { existsSync, mkdirSync } from 'node:fs';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { adapters } from '../support/app.js';
import { type SampleApp, startSample } from './sample-app.js';

/** Debian's `chromium` package; `npm test` (test/support/check-services.mjs) installs it when it is missing. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** With UPDATE_SCREENSHOTS=1, the Express run saves the profile page as docs/sample-profile.png for the README. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS === '1' ? new URL('../../docs/sample-profile.png', import.meta.url) : undefined;

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: run \`node test/support/check-services.mjs\` (as root on Debian it installs it), or set CHROMIUM_PATH.`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM });
}, 60_000);
afterAll(() => browser?.close());

describe.each(adapters)('the sample in a real browser (%s)', (adapter) => {
  let sample: SampleApp;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    sample = await startSample(adapter);
  });
  afterAll(() => sample.app.close());

  beforeEach(async () => {
    context = await browser.newContext({ baseURL: sample.base });
    page = await context.newPage();
  });
  afterEach(() => context.close());

  async function sid(ctx: BrowserContext = context): Promise<string | undefined> {
    return (await ctx.cookies()).find((c) => c.name === 'sid')?.value;
  }

  /** Clicks a button that posts a form, and waits for the page the redirect leads to. */
  async function submit(target: Page, button: string, landing: string): Promise<void> {
    await Promise.all([target.waitForURL((url) => url.pathname === landing), target.getByRole('button', { name: button, exact: true }).click()]);
  }

  async function logIn(target: Page, username: string, password: string, landing = '/profile'): Promise<void> {
    await target.goto('/login');
    await target.getByLabel('User name').fill(username);
    await target.getByLabel('Password').fill(password);
    await submit(target, 'Log in', landing);
  }

  it('logs in through the form, stays logged in on reload, logs out and is refused', async () => {
    await page.goto('/profile');
    expect(new URL(page.url()).pathname).toBe('/login');
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Log in first');
    expect(await sid()).toBeUndefined(); // a refused visitor leaves nothing in the store or the browser

    await logIn(page, 'alice', 'wonderland');
    expect(new URL(page.url()).pathname).toBe('/profile');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Profile');
    await expect(page.getByRole('status').textContent()).resolves.toBe('Welcome back, Alice.');
    await expect(page.getByTestId('visits').textContent()).resolves.toBe('1');
    const cookie = (await context.cookies()).find((c) => c.name === 'sid')!;
    expect(cookie).toMatchObject({ httpOnly: true, secure: false, sameSite: 'Lax' });
    const stored = await sample.record(cookie.value);
    expect(stored?.data).toMatchObject({ userId: 1, visits: 1 });

    if (SCREENSHOT && adapter === 'express') {
      mkdirSync(new URL('.', SCREENSHOT), { recursive: true });
      await page.setViewportSize({ width: 900, height: 640 });
      await page.screenshot({ path: SCREENSHOT.pathname });
    }

    await page.reload();
    await expect(page.getByTestId('visits').textContent()).resolves.toBe('2');
    expect(await page.getByRole('status').count()).toBe(0); // the welcome message showed once
    expect((await sample.record(cookie.value))?.data).toMatchObject({ userId: 1, visits: 2 });

    await submit(page, 'Log out', '/login');
    expect(new URL(page.url()).pathname).toBe('/login');
    await expect(page.getByRole('status').textContent()).resolves.toBe('You are logged out.');
    expect(await sample.record(cookie.value)).toBeUndefined();

    await page.goto('/profile');
    expect(new URL(page.url()).pathname).toBe('/login');
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Log in first');
    // The old cookie, put back by hand, is refused too: its session is gone from the store.
    await context.addCookies([{ ...cookie }]);
    await page.goto('/profile');
    expect(new URL(page.url()).pathname).toBe('/login');
  });

  it('shows a wrong password on the form, and escapes what users type', async () => {
    await logIn(page, '<b>mallory</b>', 'guess', '/login');
    expect(new URL(page.url()).pathname).toBe('/login');
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Unknown user or wrong password');

    // Any SKU can come through the JSON API; the page shows it as text.
    await page.request.post('/cart', { data: { sku: '<img src=x onerror=alert(1)>', qty: 1 } });
    await page.goto('/cart');
    await expect(page.locator('td').first().textContent()).resolves.toBe('<img src=x onerror=alert(1)>');
    expect(await page.locator('main img').count()).toBe(0);
  });

  it('keeps the cart through the login, and logs out the other devices', async () => {
    await page.goto('/cart');
    await page.getByLabel('Product').selectOption('mug-1');
    await page.getByLabel('Quantity').fill('3');
    await submit(page, 'Add to cart', '/cart');
    await expect(page.locator('tbody tr').allTextContents()).resolves.toEqual(['mug-13']);
    expect((await sample.record((await sid())!))?.data).toEqual({ cart: [{ sku: 'mug-1', qty: 3 }] });

    await logIn(page, 'bob', 'builder');
    await expect(page.locator('main').textContent()).resolves.toContain('holds 3 item(s)');

    // A second browser logs in as the same user, then logs out the first one.
    const other = await browser.newContext({ baseURL: sample.base });
    try {
      const otherPage = await other.newPage();
      await logIn(otherPage, 'bob', 'builder');
      expect(await otherPage.locator('tbody tr').count()).toBe(2);
      await submit(otherPage, 'Log out other devices', '/profile');
      await expect(otherPage.getByRole('status').textContent()).resolves.toBe('Logged out 1 other session(s).');
      expect(await otherPage.locator('tbody tr').count()).toBe(1);
      expect(await sample.record((await sid())!)).toBeUndefined();
      expect((await sample.record((await sid(other))!))?.data).toMatchObject({ userId: 2 });
    } finally {
      await other.close();
    }

    await page.goto('/profile');
    expect(new URL(page.url()).pathname).toBe('/login');
  });
});
