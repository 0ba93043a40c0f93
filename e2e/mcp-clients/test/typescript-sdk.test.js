// The official MCP TypeScript SDK (@modelcontextprotocol/sdk) against `latchkey serve`,
// with the login and consent pages completed in headless Chromium:
// 401 -> protected resource metadata -> authorization server metadata -> dynamic
// client registration -> authorization (PKCE S256; sign in and Allow in Chromium;
// the redirect reaches the client's own loopback listener) -> token ->
// tools/list and tools/call whoami on the demo MCP server at /mcp; then a second
// connection that reuses the stored tokens without a new authorization.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';

import { launchChromium } from '../lib/chromium.js';
import { connectThroughOAuth } from '../lib/flow.js';
import { startRedirectListener } from '../lib/redirect-listener.js';
import { Store, sdkVersion, show, steps } from '../lib/sdk-client.js';
import { startLatchkey } from '../lib/server.js';

const PASSWORD = `e2e-${randomBytes(12).toString('hex')}`;
const CLIENT_NAME = `Latchkey e2e (TypeScript SDK ${sdkVersion})`;

let browser;
before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

test(`MCP TypeScript SDK ${sdkVersion}: dynamic registration, sign-in and consent in Chromium`, async (t) => {
  const server = await startLatchkey({ password: PASSWORD });
  t.after(() => server.stop());
  const listener = await startRedirectListener();
  t.after(() => listener.close());
  const store = new Store();
  const trail = [];
  try {
    const { who, pages, authorizationUrl } = await connectThroughOAuth({
      server, browser, listener, store, clientName: CLIENT_NAME, password: PASSWORD, trail,
    });

    // Registered at /register, as a public client with the listener as its redirect_uri.
    const flow = steps(trail);
    assert.equal(flow.filter((l) => l.startsWith('sdk POST /register')).length, 1, 'one registration');
    assert.ok(flow.includes('sdk POST /register -> 201'), flow.join('\n'));
    assert.match(store.clientInformation.client_id, /^[0-9a-f]{32}$/, 'a server-issued client id');
    assert.deepEqual(store.clientInformation.redirect_uris, [listener.redirectUrl]);

    // What the person saw in Chromium.
    assert.ok(pages.loginText.includes(`Sign in to let ${CLIENT_NAME} use your account.`), pages.loginText);
    assert.ok(pages.consentText.includes('Signed in as demo.'), pages.consentText);
    assert.ok(pages.consentText.includes(`${CLIENT_NAME} wants to use your account.`), pages.consentText);
    assert.ok(pages.consentText.includes(store.clientInformation.client_id), 'the consent page shows the client id');
    assert.match(pages.consentText, /Will send you back to\s+127\.0\.0\.1\b/);
    assert.ok(pages.consentText.includes(server.mcpUrl.href), 'the consent page names the resource');
    for (const scope of authorizationUrl.searchParams.get('scope').split(' ')) {
      assert.ok(pages.consentText.includes(scope), `the consent page lists ${scope}`);
    }
    assert.equal(pages.consentWarning, null, 'no loopback warning for a registered client');

    // The browser went /authorize -> login -> consent -> the listener.
    const browserSteps = flow.filter((l) => l.startsWith('browser '));
    const host = new URL(server.base).host.replaceAll('.', '\\.');
    const callbackHost = new URL(listener.redirectUrl).host.replaceAll('.', '\\.');
    const expected = [
      `browser GET ${host}/authorize -> 200`,
      `browser POST ${host}/latchkey/login -> 30[23]`,
      `browser GET ${host}/latchkey/consent -> 200`,
      `browser POST ${host}/latchkey/consent -> 30[23]`,
      `browser GET ${callbackHost}/callback -> 200`,
    ];
    assert.equal(browserSteps.length, expected.length, browserSteps.join('\n'));
    expected.forEach((pattern, i) => assert.match(browserSteps[i], new RegExp(`^${pattern}$`)));
    show(t, 'whoami:', JSON.stringify(who));
  } catch (err) {
    show(t, 'request trail:', trail.join('\n'));
    show(t, 'server log:', server.log());
    throw err;
  }
  show(t, 'request trail:', trail.join('\n'));
});
