// A client that identifies itself with a client ID metadata document (CIMD,
// MCP 2025-11-25 "Client ID Metadata Documents"; MCP A6-A8): its client id is
// the URL of a JSON document it serves itself, here on loopback over http.
//
// latchkey accepts http document URLs on loopback only with
// `[cimd] danger_allow_loopback_http_documents = true` (tests only):
//   - by default the person is shown an error page at /authorize, the document
//     is never fetched and nothing reaches the client's redirect listener;
//   - with the setting, the whole flow of typescript-sdk.test.js completes,
//     without dynamic registration, and the consent page shows the document's
//     client name, the redirect host and the loopback-only warning (A8).
//
// The SDK's own CIMD support (`clientMetadataUrl` on the provider) takes https
// URLs only, which a loopback test cannot offer (the server's fetcher trusts
// only the public web PKI). So the application hands the SDK the document URL
// as its client id, which is what the SDK itself stores when it uses
// `clientMetadataUrl` (`{ client_id: <url> }`); the first test pins that
// limitation so this file is revisited if it goes away.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { launchChromium, openErrorPage } from '../lib/chromium.js';
import { connectThroughOAuth } from '../lib/flow.js';
import { serveMetadataDocument } from '../lib/metadata-document.js';
import { startRedirectListener } from '../lib/redirect-listener.js';
import { Store, TestOAuthProvider, recordingFetch, sdkVersion, show, steps } from '../lib/sdk-client.js';
import { startLatchkey } from '../lib/server.js';

const PASSWORD = `e2e-${randomBytes(12).toString('hex')}`;
const CLIENT_NAME = `Latchkey e2e CIMD client (TypeScript SDK ${sdkVersion})`;
const DANGER_CONFIG = '[cimd]\ndanger_allow_loopback_http_documents = true\n';

let browser;
before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

/** A server, the client's redirect listener and its metadata document. */
async function setUp(t, config) {
  const server = await startLatchkey({ password: PASSWORD, config });
  t.after(() => server.stop());
  const listener = await startRedirectListener();
  t.after(() => listener.close());
  const doc = await serveMetadataDocument({
    client_name: CLIENT_NAME,
    redirect_uris: [listener.redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  t.after(() => doc.close());
  const metadata = await (await fetch(`${server.base}/.well-known/oauth-authorization-server`)).json();
  assert.equal(metadata.client_id_metadata_document_supported, true, 'CIMD is advertised (A6)');
  return { server, listener, doc };
}

async function withTrail(t, server, trail, body) {
  try {
    await body();
  } catch (err) {
    show(t, 'request trail:', trail.join('\n'));
    show(t, 'server log:', server.log());
    throw err;
  }
  show(t, 'request trail:', trail.join('\n'));
}

test(`MCP TypeScript SDK ${sdkVersion}: clientMetadataUrl takes https URLs only`, async (t) => {
  const { server, listener, doc } = await setUp(t);
  const provider = new TestOAuthProvider(new Store(), {
    redirectUrl: listener.redirectUrl,
    clientName: CLIENT_NAME,
    onRedirect: async () => { throw new Error('no authorization expected'); },
  });
  Object.defineProperty(provider, 'clientMetadataUrl', { value: doc.url });
  const client = new Client({ name: 'latchkey-e2e-ts', version: '0.0.0' });
  await assert.rejects(
    client.connect(new StreamableHTTPClientTransport(server.mcpUrl, { authProvider: provider })),
    /clientMetadataUrl must be a valid HTTPS URL/,
  );
  assert.equal(doc.requests.length, 0);
});

test('a loopback http metadata document is refused by default, with an error page', async (t) => {
  const { server, listener, doc } = await setUp(t);
  const trail = [];
  await withTrail(t, server, trail, async () => {
    const store = new Store();
    store.clientInformation = { client_id: doc.url };
    const provider = new TestOAuthProvider(store, {
      redirectUrl: listener.redirectUrl,
      clientName: CLIENT_NAME,
      onRedirect: async (url, p) => {
        assert.equal(url.searchParams.get('client_id'), doc.url);
        p.browsing = openErrorPage(browser, url, { trail });
        p.browsing.catch(() => {});
      },
    });
    const client = new Client({ name: 'latchkey-e2e-ts', version: '0.0.0' });
    await assert.rejects(
      client.connect(new StreamableHTTPClientTransport(server.mcpUrl, { authProvider: provider, fetch: recordingFetch(trail) })),
      UnauthorizedError,
    );
    assert.equal(provider.redirects.length, 1);
    const page = await provider.browsing;

    // OAuth 2.1 section 4.1.2.1: the person is told, the client is not redirected to.
    assert.equal(page.status, 400, page.text);
    assert.equal(page.url, `${server.base}/authorize`, 'the browser stays on the authorization server');
    assert.equal(page.title, 'Authorization error');
    assert.match(page.text, /invalid_client: client id metadata url is not https/);
    assert.equal(doc.requests.length, 0, 'the document was never fetched');
    assert.equal(listener.received.length, 0, 'nothing reached the redirect listener');
    const flow = steps(trail);
    assert.ok(!flow.some((l) => /\/(register|token)\b/.test(l)), flow.join('\n'));
    assert.equal(store.tokens, undefined);
  });
});

test('with danger_allow_loopback_http_documents, a CIMD client completes the flow in Chromium', async (t) => {
  const { server, listener, doc } = await setUp(t, DANGER_CONFIG);
  const trail = [];
  await withTrail(t, server, trail, async () => {
    const store = new Store();
    store.clientInformation = { client_id: doc.url };
    const { who, who2, pages } = await connectThroughOAuth({
      server, browser, listener, store, clientName: CLIENT_NAME, password: PASSWORD, trail,
    });

    // No registration: the document URL is the client id all the way.
    const flow = steps(trail);
    assert.ok(!flow.some((l) => l.includes('/register')), `no registration:\n${flow.join('\n')}`);
    assert.equal(who.client_id, doc.url);
    assert.equal(who2.client_id, doc.url);

    // The server fetched the document (A7), as JSON, with no redirect following.
    assert.ok(doc.requests.length >= 1, 'the document was fetched');
    for (const r of doc.requests) {
      assert.deepEqual([r.method, r.path], ['GET', '/oauth/client-metadata.json']);
      assert.match(r.accept, /application\/json/);
    }

    // The consent page names the client from the document, its id and the
    // redirect host, and warns that it only sends the person back to this
    // computer (CIMD draft section 6, MCP A8).
    assert.ok(pages.loginText.includes(`Sign in to let ${CLIENT_NAME} use your account.`), pages.loginText);
    assert.ok(pages.consentText.includes(`${CLIENT_NAME} wants to use your account.`), pages.consentText);
    assert.ok(pages.consentText.includes(doc.url), 'the consent page shows the document URL');
    assert.match(pages.consentText, /Will send you back to\s+127\.0\.0\.1\b/);
    assert.ok(pages.consentWarning?.includes('Check this application.'), `warning: ${pages.consentWarning}`);
    assert.ok(pages.consentWarning.includes('localhost'), pages.consentWarning);
    show(t, 'whoami:', JSON.stringify(who));
  });
});
