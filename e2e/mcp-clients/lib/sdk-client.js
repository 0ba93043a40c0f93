// What an application built on the MCP TypeScript SDK supplies around it: an
// OAuthClientProvider over some storage, and (here) a fetch that records the
// exchanges so that a failure shows them, with secrets redacted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const sdkVersion = JSON.parse(readFileSync(
  new URL('../node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url), 'utf8')).version;

/**
 * In-memory storage shared by provider instances (a second instance stands
 * in for the client starting again with what it persisted).
 */
export class Store {
  clientInformation = undefined;
  tokens = undefined;
  codeVerifier = undefined;
}

/**
 * The provider an MCP application gives the SDK. `redirectUrl` is the
 * client's loopback redirect listener; `onRedirect(url, provider)` is how the
 * application opens the user's browser (it must not wait for the user).
 */
export class TestOAuthProvider {
  constructor(store, { redirectUrl, clientName, onRedirect }) {
    this.store = store;
    this._redirectUrl = redirectUrl;
    this.clientName = clientName;
    this.onRedirect = onRedirect;
    this.redirects = [];
    this.lastState = undefined;
  }
  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() {
    return {
      client_name: this.clientName,
      redirect_uris: [this._redirectUrl],
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

const SECRET_FIELDS = ['code', 'code_verifier', 'refresh_token', 'access_token', 'client_secret', 'password',
  'client_assertion', 'assertion'];

/** A form or JSON body with the values of secret fields replaced. */
export function redactBody(text) {
  if (!text) return '';
  try {
    const json = JSON.parse(text);
    if (json && typeof json === 'object') {
      for (const key of SECRET_FIELDS) if (key in json) json[key] = '[redacted]';
      return JSON.stringify(json);
    }
  } catch { /* a form */ }
  const form = new URLSearchParams(text);
  for (const key of SECRET_FIELDS) if (form.has(key)) form.set(key, '[redacted]');
  return form.toString();
}

/**
 * A fetch that records every request the SDK makes as `sdk METHOD /path -> status`
 * (and, for non-2xx answers, the request body and the answer, redacted).
 */
export function recordingFetch(trail) {
  return async (input, init = {}) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const method = init.method ?? (input instanceof Request ? input.method : 'GET');
    const res = await fetch(input, init);
    let line = `sdk ${method} ${url.pathname} -> ${res.status}`;
    if (res.status >= 400 && res.status !== 405) {
      const reqBody = typeof init.body === 'string' ? init.body
        : init.body instanceof URLSearchParams ? init.body.toString() : '';
      const body = await res.clone().text().catch(() => '');
      line += `\n    request body: ${redactBody(reqBody)}` +
        `\n    www-authenticate: ${res.headers.get('www-authenticate') ?? ''}\n    response body: ${redactBody(body)}`;
    }
    trail.push(line);
    return res;
  };
}

/** The first line of each trail entry. */
export const steps = (trail) => trail.map((l) => l.split('\n')[0]);

/** The structured result of the demo server's `whoami` tool. */
export function whoamiOf(result) {
  if (result.structuredContent) return result.structuredContent;
  const text = result.content?.find((c) => c.type === 'text')?.text;
  assert.ok(text, `whoami returned no text content: ${JSON.stringify(result)}`);
  return JSON.parse(text);
}

/** Prints a titled block as test diagnostics. */
export function show(t, title, text) {
  t.diagnostic(title);
  for (const line of String(text).split('\n')) t.diagnostic(`  ${line}`);
}
