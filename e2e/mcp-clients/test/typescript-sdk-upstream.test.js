// Issue 10, the whole chain with the official MCP TypeScript SDK client:
// the SDK's 401 -> discovery -> registration -> /authorize, opened in headless
// Chromium -> "Continue with Corp SSO" -> node-oidc-provider's own login and
// consent pages (e2e/foreign-issuer, a test peer) -> Latchkey's consent page,
// which names the provider, the person and their email -> the client's
// loopback redirect -> finishAuth (token) -> tools/call whoami answering with
// the federated subject `corp:alice`.
//
// Needs `npm ci` in ../foreign-issuer (oidc-provider) as well as here.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import {
  signInAtUpstreamProvider,
  startUpstreamProvider,
} from '../../foreign-issuer/start-upstream-provider.mjs';
import { launchChromium } from '../lib/chromium.js';
import { startRedirectListener } from '../lib/redirect-listener.js';
import { Store, TestOAuthProvider, sdkVersion, whoamiOf } from '../lib/sdk-client.js';
import { startLatchkey } from '../lib/server.js';

const DEMO_PASSWORD = `e2e-${randomBytes(12).toString('hex')}`;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let browser;
before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

test(`MCP TypeScript SDK ${sdkVersion}: sign-in through node-oidc-provider, whoami is corp:alice`, async (t) => {
  // Latchkey fetches nothing from the provider until the first sign-in, so
  // it can start first, with the provider's port chosen beforehand.
  const providerPort = await freePort();
  const providerIssuer = `http://127.0.0.1:${providerPort}`;
  process.env.LATCHKEY_IDP_CORP_CLIENT_SECRET = 'latchkey-upstream-secret';
  const server = await startLatchkey({
    password: DEMO_PASSWORD,
    config: `
[[identity_providers]]
id = "corp"
kind = "oidc"
display_name = "Corp SSO"
issuer = "${providerIssuer}"
client_id = "latchkey"
scopes = ["openid", "email", "profile"]
allowed_email_domains = ["example.com"]
`,
  });
  delete process.env.LATCHKEY_IDP_CORP_CLIENT_SECRET;
  t.after(() => server.stop());
  const provider = await startUpstreamProvider(providerPort, `${server.base}/latchkey/callback/corp`);
  t.after(() => provider.stop());
  const listener = await startRedirectListener();
  t.after(() => listener.close());

  const store = new Store();
  const clientInfo = { name: 'latchkey-e2e-ts-upstream', version: '0.0.0' };
  const transport = (p) => new StreamableHTTPClientTransport(server.mcpUrl, { authProvider: p });
  let consentText = '';
  const oauth = new TestOAuthProvider(store, {
    redirectUrl: listener.redirectUrl,
    clientName: 'Latchkey e2e (upstream sign-in)',
    onRedirect: async (url, p) => {
      p.browsing = (async () => {
        const context = await browser.newContext();
        const page = await context.newPage();
        try {
          await page.goto(url.href);
          await page.getByRole('button', { name: 'Continue with Corp SSO' }).click();
          await signInAtUpstreamProvider(page, provider.issuer, 'alice');
          await page.waitForURL((u) => u.href.startsWith(`${server.base}/latchkey/consent`));
          consentText = await page.locator('body').innerText();
          await page.getByRole('button', { name: 'Allow' }).click();
          await page.waitForURL((u) => u.href.startsWith(listener.redirectUrl));
        } catch (error) {
          const body = await page.content().catch(() => '');
          throw new Error(`${error.message}\nat ${page.url()}\n${body}\nprovider:\n${provider.output()}`);
        } finally {
          await context.close();
        }
      })();
      p.browsing.catch(() => {});
    },
  });
  try {
    const first = transport(oauth);
    await assert.rejects(new Client(clientInfo).connect(first), UnauthorizedError);
    const [callback] = await Promise.all([listener.next(), oauth.browsing]);
    assert.equal(callback.get('error'), null);
    assert.equal(callback.get('state'), oauth.lastState);
    assert.equal(callback.get('iss'), server.base);
    assert.match(consentText, /Signed in with Corp SSO as Alice Example \(alice@example\.com\)/, consentText);
    await first.finishAuth(callback.get('code'));
    await first.close();

    const client = new Client(clientInfo);
    await client.connect(transport(oauth));
    const who = whoamiOf(await client.callTool({ name: 'whoami', arguments: {} }));
    await client.close();
    assert.equal(who.subject, 'corp:alice');
    assert.equal(who.client_id, store.clientInformation.client_id);
    // No token passthrough: the client holds Latchkey's own token, issued by
    // Latchkey for the federated subject.
    const claims = JSON.parse(Buffer.from(store.tokens.access_token.split('.')[1], 'base64url'));
    assert.equal(claims.iss, server.base);
    assert.equal(claims.sub, 'corp:alice');
    assert.ok(!JSON.stringify(store.tokens).includes(provider.issuer), 'nothing from the provider');
  } catch (error) {
    t.diagnostic(`server log:\n${server.log()}`);
    throw error;
  }
});
