// A client ID metadata document (draft-ietf-oauth-client-id-metadata-document)
// served on loopback by the client itself: its URL is the client id. The
// server counts the requests it gets, so a test can tell whether the
// authorization server fetched it.
import { createServer } from 'node:http';

export async function serveMetadataDocument(metadata) {
  const requests = [];
  let document;
  const server = createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    requests.push({ method: req.method, path: url.pathname, accept: req.headers.accept ?? '' });
    if (req.method !== 'GET' || url.pathname !== '/oauth/client-metadata.json') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end(JSON.stringify(document));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}/oauth/client-metadata.json`;
  document = { client_id: url, ...metadata };
  return {
    url,
    document,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}
