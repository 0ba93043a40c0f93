// node-oidc-provider as the peer of `cargo xtask bench` (docs/benchmarks.md).
//
//   node provider.mjs <port>
//
// Issuer http://127.0.0.1:<port>, ES256 access tokens (the algorithm Latchkey
// signs with), every token kept in memory. Clients:
//   bench-cc / bench-cc-secret         client_credentials, JWT access tokens (client_secret_basic)
//   bench-opaque / bench-opaque-secret client_credentials, opaque access tokens (what
//                                      introspection accepts: the provider refuses to
//                                      introspect its own JWTs)
//   bench-app                          public, authorization_code with PKCE S256 and
//                                      refresh_token; redirect http://127.0.0.1:9/cb;
//                                      every code grant gets a refresh token, rotated
//                                      on every use
// Any resource indicator (RFC 8707) is accepted, with the scope "mcp:tools".
//
// Sign-in and consent: /interaction/<uid> signs in the account "bench" and
// grants the requested scope to the requested resource without a page (the
// peer has no password to hash; Latchkey's seeding signs in once with a
// password). After that first time, the session cookie and the stored grant
// let /auth answer with a code directly, which is how the load's codes are made.
//
// Storage: an unbounded Map (the package's own memory adapter is an LRU of
// 1,000 entries, which would evict the codes and refresh tokens seeded for the
// load). Prints "ready <issuer>" once listening.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port)) {
  console.error('usage: node provider.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const scope = 'mcp:tools';

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `es-${port}`, use: 'sig', alg: 'ES256' };

// An adapter over one Map: what the package's memory adapter does, without
// the LRU bound.
const storage = new Map();
const grants = new Map();
class MapAdapter {
  constructor(model) {
    this.model = model;
  }
  key(id) {
    return `${this.model}:${id}`;
  }
  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    storage.set(key, { payload, expires: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (payload.grantId) {
      let members = grants.get(payload.grantId);
      if (!members) {
        members = new Set();
        grants.set(payload.grantId, members);
      }
      members.add(key);
    }
    if (payload.uid) storage.set(`uid:${payload.uid}`, { payload: id, expires: Infinity });
  }
  async find(id) {
    const entry = storage.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expires < Date.now()) {
      storage.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }
  async findByUid(uid) {
    const id = storage.get(`uid:${uid}`);
    return id ? this.find(id.payload) : undefined;
  }
  async findByUserCode() {
    return undefined;
  }
  async consume(id) {
    const entry = storage.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    storage.delete(this.key(id));
  }
  async revokeByGrantId(grantId) {
    for (const key of grants.get(grantId) ?? []) storage.delete(key);
    grants.delete(grantId);
  }
}

const confidential = (id, extra = {}) => ({
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
  adapter: MapAdapter,
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [jwk] },
  clients: [
    confidential('bench-cc'),
    confidential('bench-opaque'),
    {
      client_id: 'bench-app',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1:9/cb'],
      token_endpoint_auth_method: 'none',
      scope,
    },
  ],
  scopes: [scope],
  pkce: { required: () => true },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  ttl: { AuthorizationCode: 600, RefreshToken: 86400, AccessToken: 300, Grant: 86400, Session: 86400, Interaction: 600 },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource, client) => ({
        scope,
        audience: resource,
        accessTokenTTL: 300,
        ...(client.clientId === 'bench-opaque'
          ? { accessTokenFormat: 'opaque' }
          : { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
      }),
    },
  },
});
provider.on('server_error', (_ctx, error) => console.error('server_error', error));

// Sign-in and consent without a page (see the header).
provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { params, prompt } = details;
    const result = {};
    if (prompt.name === 'login') {
      result.login = { accountId: 'bench' };
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session?.accountId ?? 'bench', clientId: params.client_id });
    // "mcp:tools" is both one of the provider's scopes and the resource's.
    grant.addOIDCScope(params.scope ?? scope);
    if (params.resource) grant.addResourceScope(params.resource, params.scope ?? scope);
    result.consent = { grantId: await grant.save() };
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    return undefined;
  }
  return next();
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
