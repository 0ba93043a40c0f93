// Issue 10 with a plain OAuth 2.0 provider (`kind = "oauth2"`: userinfo
// endpoint, no ID token used), the whole chain with the official MCP
// TypeScript SDK client: the SDK's 401 -> discovery -> registration ->
// /authorize, opened in headless Chromium -> "Continue with Plain OAuth" ->
// oauth2-mock-server (npm, pinned in package.json; a test peer nobody here
// wrote), whose authorization endpoint answers at once with a code and the
// state, checks PKCE S256 at its token endpoint, and answers its userinfo
// endpoint with `{"sub":"johndoe"}` -> Latchkey's consent page -> the
// client's loopback redirect -> finishAuth (token) -> tools/call whoami
// answering `plain:johndoe`. Then a refusal through the same provider: a
// subject outside `allowed_subjects` ends on Latchkey's error page, with no
// local user; and a token endpoint answering `invalid_grant` (RFC 6749
// section 5.2), which the page names.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { OAuth2Server } from 'oauth2-mock-server';

import { launchChromium } from '../lib/chromium.js';
import { startRedirectListener } from '../lib/redirect-listener.js';
import { Store, sdkVersion } from '../lib/sdk-client.js';
import { startLatchkey } from '../lib/server.js';
import { refusedUpstream, signInUpstream } from '../lib/upstream-flow.js';

const DEMO_PASSWORD = `e2e-${randomBytes(12).toString('hex')}`;
const mockVersion = JSON.parse(readFileSync(
  new URL('../node_modules/oauth2-mock-server/package.json', import.meta.url), 'utf8')).version;

let browser;
before(async () => { browser = await launchChromium(); });
after(async () => { await browser?.close(); });

/** oauth2-mock-server on 127.0.0.1, recording what Latchkey sent it. */
async function startMockProvider(t) {
  const op = new OAuth2Server();
  await op.issuer.keys.generate('RS256');
  await op.start(0, '127.0.0.1');
  t.after(() => op.stop());
  const base = `http://127.0.0.1:${op.address().port}`;
  const seen = { authorize: [], token: [], userinfo: [] };
  op.service.on('beforeAuthorizeRedirect', (_redirect, req) => {
    seen.authorize.push(new URL(req.url, base).searchParams);
  });
  op.service.on('beforeResponse', (_response, req) => {
    seen.token.push({ body: { ...req.body }, authorization: req.headers.authorization ?? null });
  });
  op.service.on('beforeUserinfo', (_response, req) => {
    seen.userinfo.push(req.headers.authorization ?? null);
  });
  return { base, seen, service: op.service };
}

function config(base, extra = '') {
  return `
[[identity_providers]]
id = "plain"
kind = "oauth2"
display_name = "Plain OAuth"
client_id = "latchkey"
scopes = ["profile"]
authorization_endpoint = "${base}/authorize"
token_endpoint = "${base}/token"
userinfo_endpoint = "${base}/userinfo"
subject_field = "sub"
${extra}
`;
}

async function start(t, base, extra) {
  process.env.LATCHKEY_IDP_PLAIN_CLIENT_SECRET = 'latchkey-plain-secret';
  const server = await startLatchkey({ password: DEMO_PASSWORD, config: config(base, extra) });
  delete process.env.LATCHKEY_IDP_PLAIN_CLIENT_SECRET;
  t.after(() => server.stop());
  const listener = await startRedirectListener();
  t.after(() => listener.close());
  return { server, listener };
}

test(`MCP TypeScript SDK ${sdkVersion}: sign-in through oauth2-mock-server ${mockVersion} (kind = "oauth2"), whoami is plain:johndoe`, async (t) => {
  const provider = await startMockProvider(t);
  const { server, listener } = await start(t, provider.base);
  const store = new Store();
  try {
    const { who, consentText } = await signInUpstream({
      browser,
      server,
      listener,
      store,
      clientName: 'Latchkey e2e (plain OAuth 2.0 sign-in)',
      button: 'Continue with Plain OAuth',
      // The provider answers its authorization endpoint with a redirect at
      // once: the browser only passes through it.
      atProvider: async () => {},
    });
    assert.match(consentText, /Signed in with Plain OAuth/, consentText);
    assert.equal(who.subject, 'plain:johndoe');
    assert.equal(who.client_id, store.clientInformation.client_id);

    // What the provider saw: one authorization request with PKCE S256, a
    // state, the exact callback and no nonce; one token request with the
    // verifier, authenticated with client_secret_basic; one userinfo request
    // with the upstream access token, which the MCP client never saw.
    assert.equal(provider.seen.authorize.length, 1);
    const asked = provider.seen.authorize[0];
    assert.equal(asked.get('response_type'), 'code');
    assert.equal(asked.get('client_id'), 'latchkey');
    assert.equal(asked.get('redirect_uri'), `${server.base}/latchkey/callback/plain`);
    assert.equal(asked.get('code_challenge_method'), 'S256');
    assert.match(asked.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
    assert.ok(asked.get('state').length >= 22, 'a state');
    assert.equal(asked.get('nonce'), null);
    assert.equal(provider.seen.token.length, 1);
    const [redeemed] = provider.seen.token;
    assert.equal(redeemed.body.grant_type, 'authorization_code');
    assert.equal(redeemed.body.redirect_uri, `${server.base}/latchkey/callback/plain`);
    assert.match(redeemed.body.code_verifier, /^[A-Za-z0-9._~-]{43,128}$/);
    assert.equal(redeemed.body.client_secret, undefined);
    assert.equal(
      redeemed.authorization,
      `Basic ${Buffer.from('latchkey:latchkey-plain-secret').toString('base64')}`,
    );
    assert.equal(provider.seen.userinfo.length, 1);
    const upstreamToken = provider.seen.userinfo[0].replace(/^Bearer /, '');
    assert.ok(!JSON.stringify(store.tokens).includes(upstreamToken), 'no token passthrough');

    assert.match(await server.users(), /^plain:johndoe\tadded \d+\tvia plain$/m);
  } catch (error) {
    t.diagnostic(`server log:\n${server.log()}`);
    throw error;
  }
});

test(`oauth2-mock-server ${mockVersion}: a subject outside allowed_subjects ends on the error page, with no local user`, async (t) => {
  const provider = await startMockProvider(t);
  const { server, listener } = await start(t, provider.base, 'allowed_subjects = ["someone-else"]');
  try {
    const page = await refusedUpstream({
      browser,
      server,
      listener,
      store: new Store(),
      clientName: 'Latchkey e2e (plain OAuth 2.0 refusal)',
      button: 'Continue with Plain OAuth',
      atProvider: async () => {},
    });
    assert.equal(page.status, 400);
    assert.ok(page.url.startsWith(`${server.base}/latchkey/callback/plain?`), page.url);
    assert.match(page.text, /Sign-in with Plain OAuth failed: this account is not allowed to sign in here\./, page.text);
    assert.equal(provider.seen.userinfo.length, 1, 'the provider was asked who it is');
    assert.doesNotMatch(await server.users(), /plain:/);
    assert.match(server.log(), /upstream sign-in refused/);
  } catch (error) {
    t.diagnostic(`server log:\n${server.log()}`);
    throw error;
  }
});

test(`oauth2-mock-server ${mockVersion}: a token endpoint answering invalid_grant is named on the error page`, async (t) => {
  const provider = await startMockProvider(t);
  // The provider's own hook for its token response: a 400 with an RFC 6749
  // section 5.2 error body, as when a code was already used or has expired.
  provider.service.once('beforeResponse', (response) => {
    response.statusCode = 400;
    response.body = { error: 'invalid_grant', error_description: 'The code <b>expired</b>' };
  });
  const { server, listener } = await start(t, provider.base);
  try {
    const page = await refusedUpstream({
      browser,
      server,
      listener,
      store: new Store(),
      clientName: 'Latchkey e2e (plain OAuth 2.0 invalid_grant)',
      button: 'Continue with Plain OAuth',
      atProvider: async () => {},
    });
    assert.equal(page.status, 400);
    assert.match(page.text, /Sign-in with Plain OAuth failed: the provider refused the code: invalid_grant\./, page.text);
    assert.doesNotMatch(page.text, /expired/);
    assert.equal(provider.seen.token.length, 1);
    assert.equal(provider.seen.userinfo.length, 0);
    assert.doesNotMatch(await server.users(), /plain:/);
    assert.match(server.log(), /the provider refused the code: invalid_grant \(error_description "The code <b>expired<\/b>"\)/);
  } catch (error) {
    t.diagnostic(`server log:\n${server.log()}`);
    throw error;
  }
});
