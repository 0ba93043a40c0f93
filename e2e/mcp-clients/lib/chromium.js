// The user's browser: headless Debian Chromium (/usr/bin/chromium, or
// CHROMIUM_PATH) driven by playwright-core, which never downloads a browser.
// Given the authorization URL an MCP client wants opened, it shows the login
// page, signs in by the labelled fields, and clicks Allow on the consent page;
// the server then redirects the browser to the client's own loopback listener
// (the redirect_uri), which is what hands the code to the client.
import { chromium } from 'playwright-core';

/** Headless Chromium with the same flags as e2e/browser. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** `GET /authorize -> 200`: method, path and status only (queries carry codes). */
function recordNavigations(page, trail) {
  page.on('response', (response) => {
    const request = response.request();
    if (!request.isNavigationRequest()) return;
    const url = new URL(response.url());
    trail.push(`browser ${request.method()} ${url.host}${url.pathname} -> ${response.status()}`);
  });
}

function fail(message, page) {
  return new Error(`${message} (browser at ${new URL(page.url()).pathname})`);
}

/**
 * Signs in as `username` and allows the client, in a new browser context (no
 * cookies from an earlier run). Resolves once the browser has loaded the
 * client's redirect_uri, with what the pages said:
 * `{ loginText, consentText, consentWarning, landedOn }` (`landedOn` is the
 * redirect_uri without its query, which carries the code).
 */
export async function authorizeInChromium(browser, authorizationUrl, { username, password, trail = [] }) {
  const redirectUri = new URL(authorizationUrl).searchParams.get('redirect_uri');
  if (!redirectUri) throw new Error('the authorization URL has no redirect_uri');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    recordNavigations(page, trail);

    const login = await page.goto(String(authorizationUrl));
    if (login?.status() !== 200) {
      throw fail(`the login page answered ${login?.status()}: ${await page.locator('body').innerText()}`, page);
    }
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const loginText = await page.locator('main').innerText();
    await page.getByLabel('User name').fill(username);
    await page.getByLabel('Password').fill(password);
    const [consent] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    if (consent?.status() !== 200 || new URL(page.url()).pathname !== '/latchkey/consent') {
      throw fail(`signing in did not reach the consent page (${consent?.status()}): ` +
        `${await page.locator('body').innerText()}`, page);
    }
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    const consentText = await page.locator('main').innerText();
    const warning = page.locator('.warning[role=alert]');
    const consentWarning = (await warning.count()) ? await warning.innerText() : null;

    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(`${redirectUri}?`), { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    const landed = new URL(page.url());
    return { loginText, consentText, consentWarning, landedOn: `${landed.origin}${landed.pathname}` };
  } finally {
    await context.close();
  }
}

/**
 * Opens an authorization URL the server should refuse with an error page
 * (OAuth 2.1 section 4.1.2.1: no redirect to an unverified client).
 * Resolves to `{ status, title, text, url }` of what the browser shows.
 */
export async function openErrorPage(browser, authorizationUrl, { trail = [] } = {}) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    recordNavigations(page, trail);
    const response = await page.goto(String(authorizationUrl));
    const url = new URL(page.url());
    return {
      status: response?.status(),
      title: await page.title(),
      text: await page.locator('body').innerText(),
      url: `${url.origin}${url.pathname}`,
    };
  } finally {
    await context.close();
  }
}
