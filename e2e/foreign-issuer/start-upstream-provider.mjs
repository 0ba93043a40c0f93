// Starts upstream-provider.mjs (node-oidc-provider as an identity provider for
// Latchkey's upstream sign-in) in a child process; for the browser and MCP
// SDK end-to-end tests. Resolves once it listens.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const here = import.meta.dirname;

/**
 * node-oidc-provider on 127.0.0.1:`port`, whose one client `latchkey` may
 * redirect to `redirectUri`. Resolves to `{ issuer, stop, output }`.
 */
export async function startUpstreamProvider(port, redirectUri) {
  const child = spawn(process.execPath, [resolve(here, 'upstream-provider.mjs'), String(port), redirectUri], {
    cwd: here,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (d) => { output += d; });
  const issuer = await new Promise((resolveReady, reject) => {
    child.stdout.on('data', (d) => {
      output += d;
      const match = /ready (\S+)/.exec(output);
      if (match) resolveReady(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`the provider exited (${code}):\n${output}`)));
  });
  return { issuer, stop: () => child.kill('SIGTERM'), output: () => output };
}

/**
 * In `page`, at the provider's own development pages: signs in as `login`
 * (any password) and gives consent, until the browser leaves the provider.
 */
export async function signInAtUpstreamProvider(page, issuer, login) {
  await page.waitForURL((url) => url.href.startsWith(issuer));
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
  // The login form goes; the consent form (same URL) comes, unless consent
  // was already given and the browser left the provider.
  await page.locator('input[name="login"]').waitFor({ state: 'detached' });
  if (page.url().startsWith(issuer)) {
    await page.locator('button[type="submit"]').click();
  }
  await page.waitForURL((url) => !url.href.startsWith(issuer));
}
