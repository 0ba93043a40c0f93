// Makes what the timed phase of `cargo xtask bench` consumes, through each
// server's real HTTP endpoints, before the clock starts. One item per line.
//
//   node seed.mjs codes   <latchkey|peer> <issuer> <resource> <n> <out>
//   node seed.mjs refresh <latchkey|peer> <issuer> <resource> <n> <out>
//   node seed.mjs tokens  <issuer> <token path> <client:secret> <resource> <n> <out>
//   node seed.mjs dpop    <issuer> <client:secret> <resource> <htu> <n> <out-token> <out-proofs>
//
// codes:   signs in once through /authorize (Latchkey: the login form with the
//          password in BENCH_PASSWORD, then the consent form with "remember";
//          the peer: its interaction), then asks /authorize for n codes with
//          the session cookie; each answer is a redirect carrying a fresh code
//          (PKCE S256 with the verifier in VERIFIER below).
// refresh: codes, each redeemed at the token endpoint for a refresh token.
// tokens:  n client-credentials access tokens (for first use at /mcp).
// dpop:    one DPoP-bound client-credentials token (RFC 9449 section 5) and n
//          proofs for POST <htu>, each with its own jti and the token's ath.
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';

export const VERIFIER = 'bench-verifier-0123456789-0123456789-0123456789';
const REDIRECT = 'http://127.0.0.1:9/cb';
const CLIENT = 'bench-app';
const CONCURRENCY = 8;

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const challenge = b64u(createHash('sha256').update(VERIFIER).digest());

function fail(message) {
  console.error(`seed: ${message}`);
  process.exit(1);
}

// Runs `task(i)` for i in 0..n with CONCURRENCY in flight; returns results in order.
async function pool(n, task) {
  const results = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      results[i] = await task(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker));
  return results;
}

function cookiesOf(response, jar) {
  for (const line of response.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const [name] = pair.split('=');
    jar.set(name, pair);
  }
}
const cookieHeader = (jar) => [...jar.values()].join('; ');

function field(html, name) {
  const marker = `name="${name}" value="`;
  const start = html.indexOf(marker);
  if (start < 0) fail(`no form field ${name} in the page`);
  const from = start + marker.length;
  return html.slice(from, html.indexOf('"', from)).replaceAll('&#34;', '"').replaceAll('&amp;', '&');
}

function authorizeUrl(kind, issuer, resource, state) {
  const path = kind === 'peer' ? '/auth' : '/authorize';
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    scope: 'mcp:tools',
    resource,
    state,
  });
  return `${issuer}${path}?${query}`;
}

async function get(url, jar) {
  const response = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader(jar) } });
  cookiesOf(response, jar);
  return response;
}

async function postForm(url, jar, form) {
  const response = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookieHeader(jar), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  cookiesOf(response, jar);
  return response;
}

function codeFrom(response) {
  const location = response.headers.get('location');
  if (!location || !location.startsWith(REDIRECT)) return undefined;
  const code = new URL(location).searchParams.get('code');
  if (!code) fail(`redirect without a code: ${location}`);
  return code;
}

// Signs in and consents once; returns the cookie jar of the signed-in browser.
async function signIn(kind, issuer, resource) {
  const jar = new Map();
  let response = await get(authorizeUrl(kind, issuer, resource, 'sign-in'), jar);
  if (kind === 'peer') {
    // /auth -> /interaction/<uid> -> /auth/<uid> -> the redirect URI.
    for (let hops = 0; hops < 10 && !codeFrom(response); hops++) {
      const location = response.headers.get('location');
      if (!location) fail(`peer sign-in stopped at ${response.status}: ${await response.text()}`);
      response = await get(new URL(location, issuer).href, jar);
    }
    if (!codeFrom(response)) fail('peer sign-in did not reach the redirect URI');
    return jar;
  }
  if (response.status !== 200) fail(`/authorize answered ${response.status}`);
  const login = await response.text();
  const password = process.env.BENCH_PASSWORD;
  if (!password) fail('BENCH_PASSWORD is not set');
  response = await postForm(`${issuer}/latchkey/login`, jar, {
    csrf: field(login, 'csrf'),
    request: field(login, 'request'),
    username: 'bench',
    password,
  });
  if (response.status !== 303) fail(`login answered ${response.status}: ${await response.text()}`);
  const consentUrl = new URL(response.headers.get('location'), issuer).href;
  response = await get(consentUrl, jar);
  const consent = await response.text();
  response = await postForm(`${issuer}/latchkey/consent`, jar, {
    csrf: field(consent, 'csrf'),
    request: field(consent, 'request'),
    decision: 'allow',
    remember: 'yes',
  });
  if (!codeFrom(response)) fail(`consent answered ${response.status}: ${await response.text()}`);
  return jar;
}

async function codes(kind, issuer, resource, n) {
  const jar = await signIn(kind, issuer, resource);
  return pool(n, async (i) => {
    const response = await fetch(authorizeUrl(kind, issuer, resource, `s${i}`), {
      redirect: 'manual',
      headers: { cookie: cookieHeader(jar) },
    });
    const code = codeFrom(response);
    if (!code) fail(`/authorize with a session answered ${response.status} ${response.headers.get('location')}`);
    return code;
  });
}

async function tokenRequest(issuer, form, headers = {}) {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
  const body = await response.json();
  if (response.status !== 200) fail(`token endpoint answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

async function refresh(kind, issuer, resource, n) {
  const list = await codes(kind, issuer, resource, n);
  return pool(n, async (i) => {
    const body = await tokenRequest(issuer, {
      grant_type: 'authorization_code',
      code: list[i],
      redirect_uri: REDIRECT,
      code_verifier: VERIFIER,
      client_id: CLIENT,
      resource,
    });
    if (!body.refresh_token) fail(`no refresh token: ${JSON.stringify(body)}`);
    return body.refresh_token;
  });
}

const basic = (credentials) => `Basic ${Buffer.from(credentials).toString('base64')}`;

async function tokens(issuer, tokenPath, credentials, resource, n) {
  return pool(n, async () => {
    const response = await fetch(`${issuer}${tokenPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(credentials) },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'mcp:tools', resource }),
    });
    const body = await response.json();
    if (response.status !== 200) fail(`client credentials answered ${response.status}: ${JSON.stringify(body)}`);
    return body.access_token;
  });
}

function proof(keys, htm, htu, accessToken) {
  const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: keys.publicJwk };
  const claims = { jti: randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) };
  if (accessToken) claims.ath = b64u(createHash('sha256').update(accessToken).digest());
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), { key: keys.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(signature)}`;
}

async function dpop(issuer, credentials, resource, htu, n) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const keys = { privateKey, publicJwk: { kty, crv, x, y } };
  const body = await tokenRequest(
    issuer,
    { grant_type: 'client_credentials', scope: 'mcp:tools', resource },
    { authorization: basic(credentials), dpop: proof(keys, 'POST', `${issuer}/token`) },
  );
  if (body.token_type !== 'DPoP') fail(`not a DPoP-bound token: ${JSON.stringify(body)}`);
  const proofs = Array.from({ length: n }, () => proof(keys, 'POST', htu, body.access_token));
  return { token: body.access_token, proofs };
}

const [command, ...args] = process.argv.slice(2);
const write = (out, lines) => writeFileSync(out, `${lines.join('\n')}\n`);
switch (command) {
  case 'codes': {
    const [kind, issuer, resource, n, out] = args;
    write(out, await codes(kind, issuer, resource, Number(n)));
    break;
  }
  case 'refresh': {
    const [kind, issuer, resource, n, out] = args;
    write(out, await refresh(kind, issuer, resource, Number(n)));
    break;
  }
  case 'tokens': {
    const [issuer, tokenPath, credentials, resource, n, out] = args;
    write(out, await tokens(issuer, tokenPath, credentials, resource, Number(n)));
    break;
  }
  case 'dpop': {
    const [issuer, credentials, resource, htu, n, outToken, outProofs] = args;
    const { token, proofs } = await dpop(issuer, credentials, resource, htu, Number(n));
    write(outToken, [token]);
    write(outProofs, proofs);
    break;
  }
  default:
    fail('usage: see the header of seed.mjs');
}
