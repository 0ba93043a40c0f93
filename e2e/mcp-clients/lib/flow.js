// The whole MCP authorization flow as an application on the TypeScript SDK
// lives it, with a person in headless Chromium:
//
//   connect -> 401 -> discovery -> (registration, unless the client id is
//   already known) -> the application opens the browser on /authorize and the
//   SDK stops with UnauthorizedError -> the person signs in and allows in
//   Chromium -> the browser is redirected to the application's loopback
//   listener, which takes code, state and iss -> transport.finishAuth(code)
//   -> token -> connect again: tools/list, tools/call whoami and echo ->
//   a second connection with a fresh provider over the same storage, which
//   must not authorize, register or ask for a token again.
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { authorizeInChromium } from './chromium.js';
import { TestOAuthProvider, recordingFetch, steps, whoamiOf } from './sdk-client.js';

const clientInfo = { name: 'latchkey-e2e-ts', version: '0.0.0' };

/**
 * Runs the flow; resolves to what the tests check further:
 * `{ who, who2, pages, authorizationUrl, callback }`.
 */
export async function connectThroughOAuth({ server, browser, listener, store, clientName, password, trail }) {
  const fetchFn = recordingFetch(trail);
  const transport = (provider) =>
    new StreamableHTTPClientTransport(server.mcpUrl, { authProvider: provider, fetch: fetchFn });

  // First connection: the SDK discovers, registers if it must, and has the
  // application open the browser.
  const provider = new TestOAuthProvider(store, {
    redirectUrl: listener.redirectUrl,
    clientName,
    onRedirect: async (url, p) => {
      assert.equal(url.origin + url.pathname, `${server.base}/authorize`);
      assert.equal(url.searchParams.get('response_type'), 'code');
      assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
      assert.match(url.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.equal(url.searchParams.get('resource'), server.mcpUrl.href);
      assert.equal(url.searchParams.get('redirect_uri'), listener.redirectUrl);
      assert.equal(url.searchParams.get('state'), p.lastState);
      assert.equal(url.searchParams.get('client_id'), store.clientInformation?.client_id);
      // Like a real application: open the browser and return at once.
      p.browsing = authorizeInChromium(browser, url, { username: 'demo', password, trail });
      p.browsing.catch(() => {}); // awaited below; no unhandled rejection meanwhile
    },
  });
  const first = transport(provider);
  const firstClient = new Client(clientInfo);
  await assert.rejects(firstClient.connect(first), UnauthorizedError,
    'the first connect should stop for authorization');
  assert.equal(provider.redirects.length, 1, 'one authorization request');
  const [authorizationUrl] = provider.redirects;

  // The person in the browser; the listener gets the authorization response.
  const [callback, pages] = await Promise.all([listener.next(), provider.browsing]);
  assert.equal(pages.landedOn, listener.redirectUrl, 'the browser ended on the redirect_uri');
  assert.equal(callback.get('error'), null, `authorization error: ${callback.get('error')}`);
  assert.equal(callback.get('state'), provider.lastState, 'state comes back unchanged');
  assert.equal(callback.get('iss'), server.base, 'iss is the issuer (RFC 9207)');
  const code = callback.get('code');
  assert.ok(code, 'a code in the authorization response');
  assert.equal(listener.received.length, 1, 'one request to the redirect listener');

  // The callback: the SDK exchanges the code.
  await first.finishAuth(code);
  assert.ok(store.tokens?.access_token, 'tokens saved');
  assert.equal(store.tokens.token_type.toLowerCase(), 'bearer');
  await first.close();

  // Connected: the tools of the demo MCP server.
  const client = new Client(clientInfo);
  await client.connect(transport(provider));
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((x) => x.name).sort(), ['echo', 'time', 'whoami']);
  const who = whoamiOf(await client.callTool({ name: 'whoami', arguments: {} }));
  assert.equal(who.subject, 'demo');
  assert.equal(who.client_id, store.clientInformation.client_id);
  const requested = (authorizationUrl.searchParams.get('scope') ?? '').split(' ').filter(Boolean).sort();
  assert.ok(requested.includes('mcp:tools'), `scope asked for: ${requested}`);
  assert.deepEqual([...who.scopes].sort(), requested, 'the token carries the scopes asked for and allowed');
  assert.deepEqual(who.audience, [server.mcpUrl.href], 'the token is bound to /mcp (RFC 8707)');
  const echoed = await client.callTool({ name: 'echo', arguments: { text: 'hello latchkey' } });
  assert.ok(JSON.stringify(echoed).includes('hello latchkey'), `echo: ${JSON.stringify(echoed)}`);
  await client.close();
  assert.equal(provider.redirects.length, 1, 'no second authorization');

  const flow = steps(trail);
  for (const step of [
    'sdk POST /mcp -> 401',
    'sdk GET /.well-known/oauth-protected-resource/mcp -> 200',
    'sdk GET /.well-known/oauth-authorization-server -> 200',
    'sdk POST /token -> 200',
  ]) {
    assert.ok(flow.includes(step), `missing step "${step}" in:\n${flow.join('\n')}`);
  }
  assert.equal(flow.filter((l) => l === 'sdk POST /token -> 200').length, 1, 'one token request');

  // Second connection: a fresh provider over the stored client and tokens.
  // Any attempt to authorize again fails the test.
  const mark = trail.length;
  const again = new TestOAuthProvider(store, {
    redirectUrl: listener.redirectUrl,
    clientName,
    onRedirect: async (url) => {
      throw new Error(`unexpected second authorization: ${url.origin}${url.pathname}`);
    },
  });
  const client2 = new Client(clientInfo);
  await client2.connect(transport(again));
  const who2 = whoamiOf(await client2.callTool({ name: 'whoami', arguments: {} }));
  await client2.close();
  assert.equal(again.redirects.length, 0, 'no redirectToAuthorization on the second connection');
  assert.equal(who2.subject, 'demo');
  assert.equal(who2.client_id, store.clientInformation.client_id);
  const later = steps(trail.slice(mark));
  assert.ok(later.length > 0 && later.every((l) => /^sdk (POST|GET|DELETE) \/mcp -> (2\d\d|405)$/.test(l)),
    `the second connection should only talk to /mcp, with the stored token:\n${later.join('\n')}`);
  assert.equal(listener.received.length, 1, 'no second authorization response');

  return { who, who2, pages, authorizationUrl, callback };
}
