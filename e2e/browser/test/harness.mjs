// Test harness: a `latchkey serve` in a temporary directory on a free port, a
// tiny HTTP server standing in for the client's redirect_uri, dynamic client
// registration over HTTP, PKCE, and headless Debian Chromium via playwright-core.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const DEMO_PASSWORD = 'correct horse battery staple';

/** A free TCP port on 127.0.0.1 (bound, read and released). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts the server binary named by LATCHKEY_BIN in a fresh temporary
 * directory (it creates ./latchkey.db there) and waits for its metadata.
 */
export async function startLatchkey(options = {}) {
  if (!process.env.LATCHKEY_BIN) {
    throw new Error('set LATCHKEY_BIN to the latchkey binary (e.g. target/debug/latchkey)');
  }
  // Absolute: the server runs with its temporary directory as cwd.
  const bin = resolve(process.env.LATCHKEY_BIN);
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-browser-'));
  // Retry on the rare race where another process takes the port in between.
  // options.config: a TOML configuration written to the directory;
  // options.port: the port to use (a caller that must know it beforehand);
  // options.env: more environment variables.
  const args = ['serve'];
  if (options.config) {
    await writeFile(join(dir, 'latchkey.toml'), options.config);
    args.push('--config', 'latchkey.toml');
  }
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const child = spawn(bin, args, {
      cwd: dir,
      env: {
        ...process.env,
        LATCHKEY_DEMO_PASSWORD: DEMO_PASSWORD,
        LATCHKEY_BIND: `127.0.0.1:${port}`,
        LATCHKEY_ISSUER: issuer,
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    let exited = null;
    child.on('exit', (code, signal) => { exited = { code, signal }; });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
        if (res.ok) {
          const metadata = await res.json();
          if (metadata.issuer !== issuer) {
            throw new Error(`issuer ${metadata.issuer}, expected ${issuer}`);
          }
          const stop = async () => {
            if (!exited) {
              const gone = new Promise((r) => child.once('exit', r));
              child.kill('SIGTERM');
              const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
              await gone;
              clearTimeout(timer);
            }
            await rm(dir, { recursive: true, force: true });
          };
          return { issuer, metadata, dir, stop, output: () => output };
        }
      } catch (error) {
        if (!(error instanceof TypeError)) throw error; // TypeError: connection refused
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    if (attempt >= 3 || !/address|in use/i.test(output)) {
      await rm(dir, { recursive: true, force: true });
      throw new Error(`latchkey serve did not come up (${JSON.stringify(exited)}):\n${output}`);
    }
  }
}

/** An HTTP server on 127.0.0.1 that records every request to /callback. */
export async function startCallbackServer() {
  const hits = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname === '/callback') hits.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Callback</title><p>The client got the redirect.</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    origin: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

/** Dynamic client registration (RFC 7591) of a public client. */
export async function registerClient(issuer, redirectUri, clientName) {
  const res = await fetch(`${issuer}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [redirectUri],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_name: clientName,
    }),
  });
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`registration failed: ${res.status} ${await res.text()}`);
  }
  return res.json();
}

/** A fresh PKCE verifier, its S256 challenge, a state and the /authorize URL. */
export function authorizationRequest({ issuer, clientId, redirectUri, resource, scope }) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(12).toString('base64url');
  const url = new URL(`${issuer}/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    resource,
    scope,
  }).toString();
  return { url: url.toString(), verifier, state };
}

/** Headless Debian Chromium (playwright-core never downloads a browser). */
export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    headless: true,
    // Playwright gives every launch a new empty --user-data-dir of its own
    // (it refuses one in args), and adds --headless itself.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
