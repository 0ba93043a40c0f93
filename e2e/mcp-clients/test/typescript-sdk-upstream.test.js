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
import { after, before, test } from 'node:test';

import {
  signInAtUpstreamProvider,
  startUpstreamProvider,
} from '../../foreign-issuer/start-upstream-provider.mjs';
import { launchChromium } from '../lib/chromium.js';
import { startRedirectListener } from '../lib/redirect-listener.js';
import { Store, sdkVersion } from '../lib/sdk-client.js';
import { freePort, startLatchkey } from '../lib/server.js';
import { signInUpstream } from '../lib/upstream-flow.js';

const DEMO_PASSWORD = `e2e-${randomBytes(12).toString('hex')}`;

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
  try {
    const { who, consentText } = await signInUpstream({
      browser,
      server,
      listener,
      store,
      clientName: 'Latchkey e2e (upstream sign-in)',
      button: 'Continue with Corp SSO',
      atProvider: (page) => signInAtUpstreamProvider(page, provider.issuer, 'alice'),
      diagnostics: () => `provider:\n${provider.output()}`,
    });
    assert.match(consentText, /Signed in with Corp SSO as Alice Example \(alice@example\.com\)/, consentText);
    assert.equal(who.subject, 'corp:alice');
    assert.equal(who.client_id, store.clientInformation.client_id);
    assert.ok(!JSON.stringify(store.tokens).includes(provider.issuer), 'nothing from the provider');
  } catch (error) {
    t.diagnostic(`server log:\n${server.log()}`);
    throw error;
  }
});
