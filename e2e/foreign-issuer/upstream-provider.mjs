// node-oidc-provider (a test peer) as the identity provider people sign in
// through at Latchkey (issue 10: upstream sign-in), with its own development
// login and consent pages: any login name signs in, with any password.
//
//   node upstream-provider.mjs <port> <latchkey redirect uri>
//
// Issuer http://127.0.0.1:<port>. One client: latchkey / latchkey-upstream-secret
// (client_secret_basic, authorization code with PKCE). An account `alice`
// has the claims sub=alice, email=alice@example.com (verified), name
// "Alice Example". Prints "ready <issuer>" once listening.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const redirectUri = process.argv[3];
if (!Number.isInteger(port) || !redirectUri) {
  console.error('usage: node upstream-provider.mjs <port> <latchkey redirect uri>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

// A fresh RSA key per run: each instance is an issuer of its own.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `rsa-${port}`, use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [
    {
      client_id: 'latchkey',
      client_secret: 'latchkey-upstream-secret',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // The email and name go into the ID token too (Latchkey reads no userinfo
  // for an OpenID provider).
  conformIdTokenClaims: false,
  findAccount: (_ctx, id) => ({
    accountId: id,
    claims: () => ({
      sub: id,
      email: `${id}@example.com`,
      email_verified: true,
      name: `${id.charAt(0).toUpperCase()}${id.slice(1)} Example`,
    }),
  }),
  features: {
    devInteractions: { enabled: true },
  },
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
