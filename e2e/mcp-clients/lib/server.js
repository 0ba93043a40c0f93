// Starts `latchkey serve` (the binary named by LATCHKEY_BIN) on a free loopback
// port in a temporary directory and waits until it answers. `config`, when
// given, is the text of a TOML configuration file passed with --config.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';

/** A free TCP port on 127.0.0.1 (for a peer that must be named before it starts). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function startLatchkey({ password, config }) {
  const bin = process.env.LATCHKEY_BIN;
  if (!bin) throw new Error('set LATCHKEY_BIN to the path of the built `latchkey` binary');
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-e2e-'));
  const configArgs = [];
  if (config !== undefined) {
    const path = join(dir, 'latchkey.toml');
    writeFileSync(path, config);
    configArgs.push('--config', path);
  }
  const args = [...configArgs, 'serve'];
  // Only the --config given here: no configuration file from the environment.
  const { LATCHKEY_CONFIG: _ignored, ...env } = process.env;
  let log = '';
  const serverEnv = {
    ...env,
    LATCHKEY_DEMO_PASSWORD: password,
    LATCHKEY_BIND: `127.0.0.1:${port}`,
    LATCHKEY_ISSUER: base,
  };
  const child = spawn(resolvePath(bin), args, {
    cwd: dir,
    env: serverEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`latchkey serve exited early (${JSON.stringify(exited)}):\n${log}`);
    }
    try {
      const res = await fetch(`${base}/.well-known/oauth-authorization-server`);
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`latchkey serve did not come up on ${base}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    base,
    mcpUrl: new URL(`${base}/mcp`),
    log: () => log,
    /** `latchkey users list` over the same configuration and database. */
    users() {
      return new Promise((resolveList, reject) => {
        execFile(resolvePath(bin), [...configArgs, 'users', 'list'], { cwd: dir, env: serverEnv },
          (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolveList(stdout)));
      });
    },
    async stop() {
      if (!exited) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await done;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
