// The client's loopback redirect listener (RFC 8252 section 7.3): an HTTP
// server on 127.0.0.1 and a port the OS picks, as a native MCP client runs
// to receive the authorization response. The browser is redirected here by
// the authorization server; the listener hands the query (code, state, iss)
// to the client and shows the user a short page.
import { createServer } from 'node:http';

export async function startRedirectListener() {
  const received = [];
  const waiters = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    received.push(url.searchParams);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><title>Signed in</title><p>You can close this window.</p>');
    for (const waiter of waiters.splice(0)) waiter();
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    redirectUrl: `http://127.0.0.1:${port}/callback`,
    /** Every authorization response received so far (URLSearchParams). */
    received,
    /** The next authorization response (or the first not yet taken). */
    async next(timeoutMs = 60_000) {
      const taken = this.taken ?? 0;
      if (received.length <= taken) {
        let timer;
        await Promise.race([
          new Promise((resolve) => waiters.push(resolve)),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('no authorization response reached the redirect listener')),
              timeoutMs);
          }),
        ]).finally(() => clearTimeout(timer));
      }
      this.taken = taken + 1;
      return received[taken];
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}
