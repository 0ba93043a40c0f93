#!/usr/bin/env node
// The browser for clients written in other languages (python_sdk_e2e.py):
//
//   LATCHKEY_E2E_PASSWORD=... node lib/authorize-in-chromium.js <authorization-url>
//
// opens the URL in headless Chromium, signs in (user LATCHKEY_E2E_USERNAME,
// default `demo`; the password comes from the environment so it is never on a
// command line), clicks Allow, and waits until the browser has loaded the
// client's redirect_uri, where the client's own listener takes the code.
// Prints one JSON line: { loginText, consentText, consentWarning, landedOn, trail }
// (no code, no password). Exits 1 with the reason on stderr on failure.
import { authorizeInChromium, launchChromium } from './chromium.js';

const [url] = process.argv.slice(2);
const password = process.env.LATCHKEY_E2E_PASSWORD;
if (!url || !password) {
  process.stderr.write('usage: LATCHKEY_E2E_PASSWORD=... node lib/authorize-in-chromium.js <authorization-url>\n');
  process.exit(2);
}

const trail = [];
const browser = await launchChromium();
try {
  const result = await authorizeInChromium(browser, url, {
    username: process.env.LATCHKEY_E2E_USERNAME || 'demo',
    password,
    trail,
  });
  process.stdout.write(`${JSON.stringify({ ...result, trail })}\n`);
} catch (error) {
  process.stderr.write(`${error.stack ?? error}\nbrowser trail:\n  ${trail.join('\n  ')}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
