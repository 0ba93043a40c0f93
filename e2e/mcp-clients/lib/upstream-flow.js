// Sign-in through an upstream identity provider (issue 10) as an application
// on the MCP TypeScript SDK lives it, with a person in headless Chromium:
//
//   connect -> 401 -> discovery -> registration -> the application opens the
//   browser on Latchkey's /authorize -> "Continue with {provider}" -> the
//   provider (`atProvider` plays the person there) -> back at
//   /latchkey/callback/{id} -> Latchkey's consent page -> Allow -> the
//   client's loopback listener -> finishAuth (token) -> connect again and
//   tools/call whoami.
//
// Shared by the tests of each provider; each brings its own provider and
// what the person does there.
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { TestOAuthProvider, whoamiOf } from './sdk-client.js';

/**
 * Opens `url` (Latchkey's /authorize) in a fresh browser context, clicks
 * `button`, runs `atProvider(page)`, then runs `after(page)` on wherever the
 * browser ended. A failure shows the page and `diagnostics()`.
 */
async function inBrowser(browser, url, button, atProvider, after, diagnostics, onPage = () => {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  onPage(page);
  try {
    await page.goto(url.href);
    await page.getByRole('button', { name: button }).click();
    await atProvider(page);
    return await after(page);
  } catch (error) {
    const body = await page.content().catch(() => '');
    throw new Error(`${error.message}\nat ${page.url()}\n${body}\n${diagnostics()}`);
  } finally {
    await context.close();
  }
}

function sdkParts(server, store, listener, clientName, onRedirect) {
  const clientInfo = { name: 'latchkey-e2e-ts-upstream', version: '0.0.0' };
  const transport = (p) => new StreamableHTTPClientTransport(server.mcpUrl, { authProvider: p });
  const oauth = new TestOAuthProvider(store, { redirectUrl: listener.redirectUrl, clientName, onRedirect });
  return { clientInfo, transport, oauth };
}

/**
 * The whole chain, ending in `whoami`. Resolves to
 * `{ who, consentText, callback }`: the whoami answer, the text of
 * Latchkey's consent page, and the parameters the listener received.
 */
export async function signInUpstream({
  browser, server, listener, store, clientName, button, atProvider, diagnostics = () => '',
}) {
  let consentText = '';
  const { clientInfo, transport, oauth } = sdkParts(server, store, listener, clientName, async (url, p) => {
    p.browsing = inBrowser(browser, url, button, atProvider, async (page) => {
      await page.waitForURL((u) => u.href.startsWith(`${server.base}/latchkey/consent`));
      consentText = await page.locator('body').innerText();
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL((u) => u.href.startsWith(listener.redirectUrl));
    }, diagnostics);
    p.browsing.catch(() => {});
  });
  const first = transport(oauth);
  await assert.rejects(new Client(clientInfo).connect(first), UnauthorizedError);
  const [callback] = await Promise.all([listener.next(), oauth.browsing]);
  assert.equal(callback.get('error'), null);
  assert.equal(callback.get('state'), oauth.lastState);
  assert.equal(callback.get('iss'), server.base);
  await first.finishAuth(callback.get('code'));
  await first.close();

  const client = new Client(clientInfo);
  await client.connect(transport(oauth));
  const who = whoamiOf(await client.callTool({ name: 'whoami', arguments: {} }));
  await client.close();
  // No token passthrough: the client holds Latchkey's own token, issued by
  // Latchkey for the federated subject.
  const claims = JSON.parse(Buffer.from(store.tokens.access_token.split('.')[1], 'base64url'));
  assert.equal(claims.iss, server.base);
  assert.equal(claims.sub, who.subject);
  return { who, consentText, callback };
}

/**
 * The chain up to a refusal: the browser comes back from the provider to
 * Latchkey's callback and stays on its error page. Resolves to
 * `{ status, text, url }` of that page, after checking that nothing reached
 * the client's listener.
 */
export async function refusedUpstream({
  browser, server, listener, store, clientName, button, atProvider, diagnostics = () => '',
}) {
  const page = {};
  let answered;
  const { clientInfo, transport, oauth } = sdkParts(server, store, listener, clientName, async (url, p) => {
    p.browsing = inBrowser(browser, url, button, atProvider, async (tab) => {
      page.status = (await answered).status();
      await tab.waitForURL((u) => u.href.startsWith(`${server.base}/latchkey/callback/`));
      await tab.waitForLoadState();
      page.url = tab.url();
      page.text = await tab.locator('body').innerText();
    }, diagnostics, (tab) => {
      answered = tab.waitForResponse((r) => r.url().startsWith(`${server.base}/latchkey/callback/`));
    });
    p.browsing.catch(() => {});
  });
  const before = listener.received.length;
  await assert.rejects(new Client(clientInfo).connect(transport(oauth)), UnauthorizedError);
  await oauth.browsing;
  assert.equal(listener.received.length, before, 'nothing reached the client');
  return page;
}
