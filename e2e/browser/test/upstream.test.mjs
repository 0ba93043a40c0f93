// Upstream sign-in (issue 10) in headless Chromium, with node-oidc-provider
// (e2e/foreign-issuer, a test peer nobody here wrote) as the identity
// provider: a scripted MCP client's /authorize -> "Continue with Corp SSO"
// -> the provider's own login and consent pages -> Latchkey's consent page,
// which says who signed in -> the client's redirect -> the token -> tools/call
// whoami on the demo MCP server answering with the federated subject.
//
//   LATCHKEY_BIN=/path/to/latchkey node --test test/upstream.test.mjs
//
// Needs `npm ci` in ../foreign-issuer (oidc-provider).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  authorizationRequest,
  freePort,
  launchChromium,
  registerClient,
  startCallbackServer,
  startLatchkey,
} from './harness.mjs';
import {
  signInAtUpstreamProvider,
  startUpstreamProvider,
} from '../../foreign-issuer/start-upstream-provider.mjs';

let provider;
let server;
let callback;
let browser;

before(async () => {
  const latchkeyPort = await freePort();
  const latchkeyIssuer = `http://127.0.0.1:${latchkeyPort}`;
  provider = await startUpstreamProvider(await freePort(), `${latchkeyIssuer}/latchkey/callback/corp`);
  server = await startLatchkey({
    port: latchkeyPort,
    config: `
[login]
passwords = true

[[identity_providers]]
id = "corp"
kind = "oidc"
display_name = "Corp SSO"
issuer = "${provider.issuer}"
client_id = "latchkey"
scopes = ["openid", "email", "profile"]
allowed_email_domains = ["example.com"]
`,
    env: { LATCHKEY_IDP_CORP_CLIENT_SECRET: 'latchkey-upstream-secret' },
  });
  callback = await startCallbackServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await callback?.close();
  await server?.stop();
  provider?.stop();
});

test('issue 10: sign in through node-oidc-provider, consent, and whoami answers corp:alice', async () => {
  const { issuer } = server;
  const resource = `${issuer}/mcp`;
  const { client_id: clientId } = await registerClient(issuer, callback.redirectUri, 'Upstream Test Client');
  const request = authorizationRequest({
    issuer, clientId, redirectUri: callback.redirectUri, resource, scope: 'mcp:tools',
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(request.url);
    await page.getByRole('button', { name: 'Continue with Corp SSO' }).click();

    // node-oidc-provider's own development login and consent pages.
    await signInAtUpstreamProvider(page, provider.issuer, 'alice');

    // Back at Latchkey: the consent page says who signed in.
    await page.waitForURL((url) => url.href.startsWith(`${issuer}/latchkey/consent`), { timeout: 15_000 });
    const text = await page.locator('main, body').first().innerText();
    assert.match(text, /Signed in with Corp SSO as Alice Example \(alice@example\.com\)/, text);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.href.startsWith(callback.redirectUri));
  } catch (error) {
    const body = await page.content().catch(() => '');
    throw new Error(`${error.message}\nat ${page.url()}\n${body}\nprovider:\n${provider.output()}\nlatchkey:\n${server.output()}`);
  } finally {
    await context.close();
  }

  const hit = callback.hits.at(-1);
  assert.equal(hit.searchParams.get('state'), request.state);
  assert.equal(hit.searchParams.get('iss'), issuer);
  const tokenResponse = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: hit.searchParams.get('code'),
      redirect_uri: callback.redirectUri,
      client_id: clientId,
      code_verifier: request.verifier,
      resource,
    }),
  });
  assert.equal(tokenResponse.status, 200);
  const tokens = await tokenResponse.json();

  const who = await fetch(resource, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${tokens.access_token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} },
    }),
  });
  const answer = await who.text();
  assert.equal(who.status, 200, answer);
  assert.match(answer, /corp:alice/, answer);
});
