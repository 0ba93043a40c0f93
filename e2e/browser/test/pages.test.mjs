// Real-browser tests of the login and consent pages of `latchkey serve`:
// headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
//
//   LATCHKEY_BIN=/path/to/latchkey npm test
//
// With LATCHKEY_SCREENSHOTS=<dir>, the screenshots of the pages are written
// there (docs/screenshots is where the checked-in ones live).
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, beforeEach, afterEach, describe, test } from 'node:test';
import {
  DEMO_PASSWORD,
  authorizationRequest,
  launchChromium,
  registerClient,
  startCallbackServer,
  startLatchkey,
} from './harness.mjs';

const CLIENT_NAME = 'Browser Test Client';
const SCOPE = 'mcp:read mcp:tools';
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const SCREENSHOTS = process.env.LATCHKEY_SCREENSHOTS
  ? resolve(process.env.LATCHKEY_SCREENSHOTS)
  : null;

let server;
let callback;
let client;
let resource;
let browser;
let context;
let page;
let consoleErrors;

before(async () => {
  server = await startLatchkey();
  callback = await startCallbackServer();
  client = await registerClient(server.issuer, callback.redirectUri, CLIENT_NAME);
  resource = `${server.issuer}/mcp`;
  browser = await launchChromium();
  if (SCREENSHOTS) await mkdir(SCREENSHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  await callback?.close();
  await server?.stop();
});

beforeEach(async () => {
  // A new context per test: no cookies carried from one test to the next.
  context = await browser.newContext({ viewport: DESKTOP, colorScheme: 'light' });
  page = await context.newPage();
  consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // Chromium asks for /favicon.ico on its own; the server has none (it is
    // answered by the protected resource's 401). Not the pages' doing.
    if (new URL(message.location().url || 'about:blank').pathname === '/favicon.ico') return;
    consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  callback.hits.length = 0;
});

afterEach(async () => {
  await context?.close();
});

function newRequest() {
  return authorizationRequest({
    issuer: server.issuer,
    clientId: client.client_id,
    redirectUri: callback.redirectUri,
    resource,
    scope: SCOPE,
  });
}

/** The headers every page must carry (RFC 9700 section 4.4.1.9). */
async function assertPageHeaders(response, what) {
  assert.ok(response, `${what}: no response`);
  const headers = await response.allHeaders();
  const csp = headers['content-security-policy'];
  assert.ok(csp, `${what}: no Content-Security-Policy`);
  const directives = csp.split(';').map((d) => d.trim());
  assert.ok(directives.includes("frame-ancestors 'none'"), `${what}: CSP ${csp}`);
  assert.ok(directives.includes("default-src 'none'"), `${what}: CSP ${csp}`);
  assert.equal(headers['x-frame-options'], 'DENY', `${what}: X-Frame-Options`);
  assert.equal(headers['cache-control'], 'no-store', `${what}: Cache-Control`);
  assert.match(headers['content-type'], /^text\/html/, `${what}: Content-Type`);
}

/** The one session cookie of the issuer: HttpOnly, SameSite=Lax, host-only. */
async function sessionCookie() {
  const cookies = await context.cookies(server.issuer);
  assert.equal(cookies.length, 1, `one session cookie, got ${JSON.stringify(cookies)}`);
  const [cookie] = cookies;
  assert.equal(cookie.httpOnly, true, 'session cookie is HttpOnly');
  assert.equal(cookie.sameSite, 'Lax', 'session cookie is SameSite=Lax');
  assert.equal(cookie.path, '/');
  assert.equal(cookie.domain, '127.0.0.1', 'host-only cookie');
  // And the page's scripts cannot read it.
  assert.equal(await page.evaluate(() => document.cookie), '');
  return cookie;
}

/** Every visible form control has a <label> that names it. */
async function assertLabelled() {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
      .filter((el) => el.labels.length === 0 || !el.labels[0].textContent.trim())
      .map((el) => el.outerHTML),
  );
  assert.deepEqual(unlabelled, [], 'form controls without a label');
}

/** The stylesheet applied (the CSP allows it) and nothing is wider than the viewport. */
async function assertRendered(what) {
  const layout = await page.evaluate(() => {
    const card = document.querySelector('main.card');
    const style = getComputedStyle(card);
    const rect = card.getBoundingClientRect();
    return {
      radius: style.borderTopLeftRadius,
      maxWidth: style.maxWidth,
      cardLeft: rect.left,
      cardRight: rect.right,
      scrollWidth: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
    };
  });
  assert.equal(layout.radius, '12px', `${what}: stylesheet not applied`);
  assert.ok(layout.scrollWidth <= layout.viewport, `${what}: horizontal overflow ${JSON.stringify(layout)}`);
  assert.ok(layout.cardLeft >= 0 && layout.cardRight <= layout.viewport, `${what}: card off screen ${JSON.stringify(layout)}`);
  assert.deepEqual(consoleErrors, [], `${what}: console errors (CSP violations?)`);
}

async function screenshot(name) {
  const png = await page.screenshot({ fullPage: true, type: 'png' });
  assert.ok(png.length > 1000, 'screenshot is not empty');
  if (SCREENSHOTS) await writeFile(join(SCREENSHOTS, name), png);
}

/** Opens /authorize in the browser: the login page. */
async function openLogin(request) {
  const response = await page.goto(request.url);
  assert.equal(response.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/authorize');
  await assertPageHeaders(response, 'login page');
  await assert.doesNotReject(page.getByRole('heading', { name: 'Sign in' }).waitFor());
  return response;
}

/** Fills the login form by its labels and submits it; resolves to the response of the page shown next. */
async function signIn(password) {
  await page.getByLabel('User name').fill('demo');
  await page.getByLabel('Password').fill(password);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  return response;
}

/** Clicks a consent button; resolves to the URL the browser ends on (the redirect_uri). */
async function decide(button) {
  const hitsBefore = callback.hits.length;
  await Promise.all([
    page.waitForURL((url) => url.toString().startsWith(callback.redirectUri)),
    page.getByRole('button', { name: button }).click(),
  ]);
  assert.equal(callback.hits.length, hitsBefore + 1, 'the redirect_uri server got the request');
  const url = new URL(page.url());
  assert.equal(`${url.origin}${url.pathname}`, callback.redirectUri);
  assert.equal(await page.locator('p').textContent(), 'The client got the redirect.');
  return url;
}

describe('login and consent pages in Chromium', () => {
  test('sign in and Allow: the browser lands on the redirect_uri with code, state and iss', async () => {
    const request = newRequest();
    await openLogin(request);

    // The login page: names the client, labelled fields, a real password field.
    await assert.doesNotReject(page.getByText(`Sign in to let ${CLIENT_NAME} use your account.`).waitFor());
    const password = page.getByLabel('Password');
    assert.equal(await password.getAttribute('type'), 'password');
    assert.equal(await password.getAttribute('autocomplete'), 'current-password');
    const username = page.getByLabel('User name');
    assert.equal(await username.getAttribute('type'), 'text');
    assert.equal(await username.getAttribute('autocomplete'), 'username');
    assert.equal(await username.evaluate((el) => el === document.activeElement), true, 'user name has focus');
    await assertLabelled();
    assert.equal(await page.locator('script').count(), 0, 'no scripts on the page');
    assert.equal(await page.locator('input[type=hidden][name=csrf]').count(), 1);
    const loginCookie = await sessionCookie();
    await assertRendered('login page');
    await screenshot('login.png');

    // Sign in: a 303 to the consent page, with a new session id.
    const consent = await signIn(DEMO_PASSWORD);
    assert.equal(consent.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/latchkey/consent');
    const loginPost = consent.request().redirectedFrom();
    assert.ok(loginPost, 'the consent page came by a redirect');
    assert.equal(loginPost.method(), 'POST');
    assert.equal(new URL(loginPost.url()).pathname, '/latchkey/login');
    assert.equal((await loginPost.response()).status(), 303);
    await assertPageHeaders(consent, 'consent page');
    const consentCookie = await sessionCookie();
    assert.notEqual(consentCookie.value, loginCookie.value, 'the session id changes at sign-in');

    // The consent page names the user, the client, the redirect host, the resource and the scopes.
    await assert.doesNotReject(page.getByRole('heading', { name: 'Allow access?' }).waitFor());
    const main = page.locator('main');
    assert.match(await main.textContent(), /Signed in as demo\./);
    assert.match(await main.textContent(), new RegExp(`${CLIENT_NAME} wants to use your account\\.`));
    const dd = (term) => page.locator('dt', { hasText: term }).locator('xpath=following-sibling::dd[1]');
    assert.match(await dd('Application').textContent(), new RegExp(CLIENT_NAME));
    assert.equal(await dd('Application').locator('code').textContent(), client.client_id);
    assert.equal(await dd('Will send you back to').textContent(), '127.0.0.1');
    assert.deepEqual(await dd('Access to').locator('li').allTextContents(), [resource]);
    assert.deepEqual(
      (await dd('Permissions').locator('li').allTextContents()).sort(),
      SCOPE.split(' ').sort(),
    );
    assert.equal(await page.locator('.warning').count(), 0, 'no loopback warning for a registered client');
    assert.equal(await page.getByRole('button', { name: 'Allow' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Deny' }).count(), 1);
    await assertRendered('consent page');
    await screenshot('consent.png');
    await page.setViewportSize(PHONE);
    await assertRendered('consent page on a phone');
    await screenshot('consent-phone.png');
    await page.setViewportSize(DESKTOP);

    // Allow: the form's 303 to another origin is allowed by the CSP's form-action.
    const landed = await decide('Allow');
    assert.ok(landed.searchParams.get('code'), 'code in the redirect');
    assert.equal(landed.searchParams.get('state'), request.state);
    assert.equal(landed.searchParams.get('iss'), server.issuer);
    assert.equal(landed.searchParams.get('error'), null);

    // The code is real: the token endpoint takes it with the PKCE verifier.
    const token = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: landed.searchParams.get('code'),
        redirect_uri: callback.redirectUri,
        client_id: client.client_id,
        code_verifier: request.verifier,
        resource,
      }),
    });
    assert.equal(token.status, 200, await token.clone().text());
    const tokens = await token.json();
    assert.ok(tokens.access_token);
    assert.equal(tokens.scope.split(' ').sort().join(' '), SCOPE.split(' ').sort().join(' '));
  });

  test('Deny: the browser lands on the redirect_uri with error=access_denied, state and iss', async () => {
    const request = newRequest();
    await openLogin(request);
    const consent = await signIn(DEMO_PASSWORD);
    assert.equal(new URL(page.url()).pathname, '/latchkey/consent');
    await assertPageHeaders(consent, 'consent page');
    const landed = await decide('Deny');
    assert.equal(landed.searchParams.get('error'), 'access_denied');
    assert.equal(landed.searchParams.get('state'), request.state);
    assert.equal(landed.searchParams.get('iss'), server.issuer);
    assert.equal(landed.searchParams.get('code'), null, 'no code after Deny');
  });

  test('wrong password: the login page again with an error, no redirect', async () => {
    const request = newRequest();
    await openLogin(request);
    const response = await signIn('not the password at all');
    assert.equal(response.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/latchkey/login');
    assert.equal(response.request().method(), 'POST');
    await assertPageHeaders(response, 'login page after a wrong password');
    const alert = page.getByRole('alert');
    assert.equal(await alert.textContent(), 'The user name or the password is not right.');
    assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password is not echoed back');
    assert.equal(await page.getByLabel('Password').getAttribute('type'), 'password');
    await assertLabelled();
    await assertRendered('login page with an error');
    assert.equal(callback.hits.length, 0, 'no redirect to the client');
    assert.equal(await page.getByRole('heading', { name: 'Allow access?' }).count(), 0);

    // The same form, with the right password now, goes on to the consent page.
    await signIn(DEMO_PASSWORD);
    assert.equal(new URL(page.url()).pathname, '/latchkey/consent');
    assert.equal(callback.hits.length, 0);
  });

  test('forged CSRF token: 403 on the login form and on the consent form, no redirect', async () => {
    const request = newRequest();
    await openLogin(request);
    const forge = () =>
      page.evaluate(() => {
        const input = document.querySelector('input[name=csrf]');
        const original = input.value;
        input.value = 'forged-' + original.split('').reverse().join('');
        return original;
      });

    // Login form.
    const original = await forge();
    assert.ok(original.length >= 16, 'a CSRF token was on the page');
    const forbidden = await signIn(DEMO_PASSWORD);
    assert.equal(forbidden.status(), 403);
    await assertPageHeaders(forbidden, '403 page');
    await assert.doesNotReject(page.getByRole('heading', { name: 'This form was not sent from this site' }).waitFor());
    assert.equal(callback.hits.length, 0);

    // The forged post changed nothing: a fresh authorization signs in fine.
    await openLogin(newRequest());
    await signIn(DEMO_PASSWORD);
    assert.equal(new URL(page.url()).pathname, '/latchkey/consent');

    // Consent form.
    await forge();
    const [rejected] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Allow' }).click(),
    ]);
    assert.equal(rejected.status(), 403);
    assert.equal(new URL(page.url()).origin, server.issuer, 'still on the server, not the client');
    await assert.doesNotReject(page.getByRole('heading', { name: 'This form was not sent from this site' }).waitFor());
    assert.equal(callback.hits.length, 0, 'no redirect to the client');
  });

  test('security: the consent swap approves only the shown request', async () => {
    // The attacker's client A, with its own redirect_uri server.
    const attackerCallback = await startCallbackServer();
    try {
      const attacker = await registerClient(server.issuer, attackerCallback.redirectUri, 'Attacker Client');
      const attackerRequest = () =>
        authorizationRequest({
          issuer: server.issuer,
          clientId: attacker.client_id,
          redirectUri: attackerCallback.redirectUri,
          resource,
          scope: SCOPE,
        });

      // The victim signs in and has the consent page for X open.
      const request = newRequest();
      await openLogin(request);
      await signIn(DEMO_PASSWORD);
      assert.equal(new URL(page.url()).pathname, '/latchkey/consent');
      await assert.doesNotReject(page.getByText(`${CLIENT_NAME} wants to use your account.`).waitFor());

      // A page on another site opens a second window on /authorize for A: a
      // top-level navigation, so the SameSite=Lax cookie goes along.
      const second = await context.newPage();
      const swapped = await second.goto(attackerRequest().url);
      assert.equal(swapped.status(), 200);
      assert.equal(new URL(second.url()).pathname, '/latchkey/consent');
      await assert.doesNotReject(second.getByText('Attacker Client wants to use your account.').waitFor());
      assert.notEqual(
        new URL(second.url()).searchParams.get('request'),
        new URL(page.url()).searchParams.get('request'),
        'each request has its own id',
      );

      // The victim clicks Allow on X's page: X's redirect_uri gets a code for
      // X's request, A's gets nothing.
      const landed = await decide('Allow');
      assert.ok(landed.searchParams.get('code'), 'X got a code');
      assert.equal(landed.searchParams.get('state'), request.state);
      assert.equal(attackerCallback.hits.length, 0, 'A got no redirect');

      // Nothing was remembered for A: a new request for A shows the consent
      // page again instead of sending a code.
      const again = await second.goto(attackerRequest().url);
      assert.equal(again.status(), 200);
      assert.equal(new URL(second.url()).origin, server.issuer, 'still on the server, not at A');
      assert.equal(new URL(second.url()).pathname, '/latchkey/consent');
      await assert.doesNotReject(second.getByRole('heading', { name: 'Allow access?' }).waitFor());
      assert.equal(attackerCallback.hits.length, 0, 'A got no redirect');
      await second.close();
    } finally {
      await attackerCallback.close();
    }
  });

  test('the pages refuse to be framed', async () => {
    // A page on another origin (the redirect_uri server's) framing /authorize,
    // beside a control frame of a page that allows framing.
    const request = newRequest();
    const attr = (url) => url.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
    await page.route(`${callback.origin}/framer`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><iframe name="control" src="${callback.origin}/control"></iframe>` +
          `<iframe name="latchkey" src="${attr(request.url)}"></iframe>`,
      }),
    );
    const asked = page.waitForRequest((r) => r.url() === request.url);
    await page.goto(`${callback.origin}/framer`);
    assert.equal((await asked).frame().name(), 'latchkey', 'the frame asked for /authorize');

    const control = page.frame({ name: 'control' });
    await assert.doesNotReject(control.getByText('The client got the redirect.').waitFor());
    const deadline = Date.now() + 10_000;
    let framed = page.frame({ name: 'latchkey' });
    while (Date.now() < deadline && framed?.url() !== 'chrome-error://chromewebdata/') {
      await page.waitForTimeout(50);
      framed = page.frame({ name: 'latchkey' });
    }
    assert.equal(framed?.url(), 'chrome-error://chromewebdata/', 'Chromium blocked the framed page');
    assert.equal(await framed.locator('#password').count(), 0, 'the login form did not render in the frame');
  });
});
