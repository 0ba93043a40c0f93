// A standard authorization server (node-oidc-provider, a test peer) for the
// foreign-issuer tests in crates/latchkey-http-tests/tests/foreign_issuer.rs.
//
//   node provider.mjs <port> <RS256|PS256>
//
// Issuer http://127.0.0.1:<port>. Clients (client_secret_basic):
//   jwt-client / jwt-client-secret        client_credentials, JWT access tokens (at+jwt)
//   opaque-client / opaque-client-secret  client_credentials, opaque access tokens
//   resource-server / resource-server-secret   calls the introspection endpoint
// Any resource indicator is accepted (RFC 8707); its scopes are
// "notes:read notes:write mcp:read". Prints "ready <issuer>" once listening.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const alg = process.argv[3] ?? 'RS256';
if (!Number.isInteger(port) || !['RS256', 'PS256'].includes(alg)) {
  console.error('usage: node provider.mjs <port> <RS256|PS256>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const scope = 'notes:read notes:write mcp:read';

// A fresh RSA key per run: each instance is an issuer of its own.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `rsa-${port}`, use: 'sig' };

const client = (id, extra = {}) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
  scope,
  ...extra,
});

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [
    client('jwt-client'),
    client('opaque-client'),
    client('resource-server', { grant_types: [], scope: undefined }),
  ],
  scopes: scope.split(' '),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource, requester) => ({
        scope,
        audience: resource,
        accessTokenTTL: 300,
        ...(requester.clientId === 'opaque-client'
          ? { accessTokenFormat: 'opaque' }
          : { accessTokenFormat: 'jwt', jwt: { sign: { alg } } }),
      }),
    },
  },
  enabledJWA: {
    // PS256 is not among the default signing algorithms of every version.
    idTokenSigningAlgValues: ['RS256', 'PS256'],
  },
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
