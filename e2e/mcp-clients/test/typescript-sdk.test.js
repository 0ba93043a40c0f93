// The official MCP TypeScript SDK (@modelcontextprotocol/sdk) against `latchkey serve`:
// 401 -> protected resource metadata -> authorization server metadata -> dynamic
// client registration -> authorization (PKCE S256, login + consent) -> token ->
// tools/list and tools/call whoami on the demo MCP server at /mcp; then a second
// connection that reuses the stored tokens without a new authorization.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { startLatchkey } from '../lib/server.js';
import { browseAuthorization } from '../lib/browser.js';

const sdkVersion = JSON.parse(readFileSync(
  new URL('../node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url), 'utf8')).version;
const PASSWORD = `e2e-${randomBytes(12).toString('hex')}`;
// Nothing listens here: the stand-in browser stops at the redirect to it.
const REDIRECT_URL = 'http://127.0.0.1:9/callback';

// In-memory storage shared by provider instances (a second instance stands in
// for the client starting again with what it persisted).
class Store {
  clientInformation = undefined;
  tokens = undefined;
  codeVerifier = undefined;
}

class TestOAuthProvider {
  constructor(store, onRedirect) {
    this.store = store;
    this.onRedirect = onRedirect;
    this.redirects = [];
    this.lastState = undefined;
  }
  get redirectUrl() { return REDIRECT_URL; }
  get clientMetadata() {
    return {
      client_name: `Latchkey e2e (TypeScript SDK ${sdkVersion})`,
      redirect_uris: [REDIRECT_URL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    this.lastState = randomBytes(16).toString('hex');
    return this.lastState;
  }
  clientInformation() { return this.store.clientInformation; }
  saveClientInformation(info) { this.store.clientInformation = info; }
  tokens() { return this.store.tokens; }
  saveTokens(tokens) { this.store.tokens = tokens; }
  saveCodeVerifier(v) { this.store.codeVerifier = v; }
  codeVerifier() {
    if (!this.store.codeVerifier) throw new Error('no code verifier saved');
    return this.store.codeVerifier;
  }
  async redirectToAuthorization(url) {
    this.redirects.push(new URL(url));
    await this.onRedirect(new URL(url), this);
  }
}

// A fetch that records every request the SDK makes (and the body of every
// non-2xx answer), so a failure shows the exact exchange.
function recordingFetch(trail) {
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const method = init.method ?? (input instanceof Request ? input.method : 'GET');
    const res = await fetch(input, init);
    let line = `sdk ${method} ${url.pathname} -> ${res.status}`;
    if (res.status >= 400) {
      const reqBody = typeof init.body === 'string' ? init.body
        : init.body instanceof URLSearchParams ? init.body.toString() : '';
      const body = await res.clone().text().catch(() => '');
      line += `\n    request: ${url}\n    request body: ${reqBody}` +
        `\n    response headers: ${JSON.stringify(Object.fromEntries(res.headers))}\n    response body: ${body}`;
    }
    trail.push(line);
    return res;
  };
}

function whoamiOf(result) {
  if (result.structuredContent) return result.structuredContent;
  const text = result.content?.find((c) => c.type === 'text')?.text;
  assert.ok(text, `whoami returned no text content: ${JSON.stringify(result)}`);
  return JSON.parse(text);
}

test(`MCP TypeScript SDK ${sdkVersion} connects to latchkey serve through OAuth`, async (t) => {
  const server = await startLatchkey({ password: PASSWORD });
  const trail = [];
  t.after(() => server.stop());
  const show = (title, text) => {
    t.diagnostic(title);
    for (const line of text.split('\n')) t.diagnostic(`  ${line}`);
  };
  try {
    const who = await run(server, trail);
    show('whoami:', JSON.stringify(who));
  } catch (err) {
    show('request trail:', trail.join('\n'));
    show('server log:', server.log());
    throw err;
  }
  show('request trail:', trail.join('\n'));
});

async function run(server, trail) {
  const store = new Store();
  const fetchFn = recordingFetch(trail);
  let code;

  // First connection: the SDK discovers, registers, and sends the "user" to authorize.
  const provider = new TestOAuthProvider(store, async (url, p) => {
    assert.equal(url.origin + url.pathname, `${server.base}/authorize`);
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(url.searchParams.get('code_challenge'));
    assert.equal(url.searchParams.get('resource'), server.mcpUrl.href);
    assert.equal(url.searchParams.get('client_id'), store.clientInformation?.client_id);
    const { callback, consentPage } = await browseAuthorization(url, { username: 'demo', password: PASSWORD, trail });
    assert.ok(consentPage.includes('Latchkey e2e (TypeScript SDK'), 'the consent page names the client');
    assert.equal(callback.origin + callback.pathname, REDIRECT_URL);
    assert.equal(callback.searchParams.get('state'), p.lastState);
    assert.equal(callback.searchParams.get('iss'), server.base);
    assert.equal(callback.searchParams.get('error'), null, `authorization error: ${callback}`);
    code = callback.searchParams.get('code');
    assert.ok(code, `no code in ${callback}`);
  });

  const firstTransport = new StreamableHTTPClientTransport(server.mcpUrl, { authProvider: provider, fetch: fetchFn });
  const firstClient = new Client({ name: 'latchkey-e2e-ts', version: '0.0.0' });
  await assert.rejects(firstClient.connect(firstTransport), UnauthorizedError,
    'the first connect should stop for authorization');
  assert.equal(provider.redirects.length, 1);
  assert.ok(store.clientInformation?.client_id, 'the SDK registered a client');
  assert.ok(code);

  // The callback: exchange the code for tokens.
  await firstTransport.finishAuth(code);
  assert.ok(store.tokens?.access_token, 'tokens saved');
  assert.equal(store.tokens.token_type.toLowerCase(), 'bearer');
  await firstTransport.close();

  // Reconnect with the tokens.
  const client = new Client({ name: 'latchkey-e2e-ts', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(server.mcpUrl, { authProvider: provider, fetch: fetchFn }));
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((x) => x.name).sort(), ['echo', 'time', 'whoami']);
  const who = whoamiOf(await client.callTool({ name: 'whoami', arguments: {} }));
  assert.equal(who.subject, 'demo');
  assert.equal(who.client_id, store.clientInformation.client_id);
  assert.ok(Array.isArray(who.scopes) && who.scopes.length > 0, `scopes: ${JSON.stringify(who.scopes)}`);
  assert.ok(who.audience.includes(server.mcpUrl.href), `audience: ${JSON.stringify(who.audience)}`); // RFC 8707
  const echoed = await client.callTool({ name: 'echo', arguments: { text: 'hello latchkey' } });
  assert.ok(JSON.stringify(echoed).includes('hello latchkey'), `echo: ${JSON.stringify(echoed)}`);
  await client.close();
  assert.equal(provider.redirects.length, 1, 'no second authorization');

  // The SDK walked the whole flow against the server.
  const steps = trail.map((l) => l.split('\n')[0]);
  for (const step of [
    'sdk POST /mcp -> 401',
    'sdk GET /.well-known/oauth-protected-resource/mcp -> 200',
    'sdk GET /.well-known/oauth-authorization-server -> 200',
    'sdk POST /register -> 201',
    'sdk POST /token -> 200',
  ]) {
    assert.ok(steps.includes(step), `missing step "${step}" in:\n${steps.join('\n')}`);
  }

  // Second connection: a fresh provider over the stored client and tokens;
  // any attempt to authorize again fails the test.
  const mark = trail.length;
  const again = new TestOAuthProvider(store, async (url) => {
    throw new Error(`unexpected second authorization: ${url}`);
  });
  const client2 = new Client({ name: 'latchkey-e2e-ts', version: '0.0.0' });
  await client2.connect(new StreamableHTTPClientTransport(server.mcpUrl, { authProvider: again, fetch: fetchFn }));
  const who2 = whoamiOf(await client2.callTool({ name: 'whoami', arguments: {} }));
  assert.equal(who2.subject, 'demo');
  assert.equal(who2.client_id, store.clientInformation.client_id);
  await client2.close();
  assert.equal(again.redirects.length, 0, 'no redirectToAuthorization on the second connection');
  const later = trail.slice(mark).map((l) => l.split('\n')[0]);
  assert.ok(!later.some((l) => /\/(register|token|authorize)\b|-> 401/.test(l)),
    `the second connection should only talk to /mcp:\n${later.join('\n')}`);
  return who;
}
