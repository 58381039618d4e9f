// A real OpenID Connect provider for mdm-hub's auth tests (npm oidc-provider).
//
// Started by tests/auth/conftest.py on 127.0.0.1 with:
//   PORT          port to listen on (the issuer is http://127.0.0.1:PORT)
//   JWKS_FILE     private signing keys (JWKS); the first one signs. Rotation = restart with
//                 a new first key.
//   REDIRECT_URI  the hub console's /auth/callback
// Accounts are whatever login the dev interaction form gets; "alice.steward" has the role
// "steward" (the part after the dot) in its access tokens' roles claim.
import fs from 'node:fs';

import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(fs.readFileSync(process.env.JWKS_FILE, 'utf8'));

const HUB_SCOPES = 'customers:read customers:write webhooks:manage pii:read';
const RESOURCES = {
  'urn:mdm-hub': { audience: 'mdm-hub', accessTokenTTL: 300 },
  'urn:mdm-hub:short': { audience: 'mdm-hub', accessTokenTTL: 1 },
  'urn:other-api': { audience: 'other-api', accessTokenTTL: 300 },
  'urn:mdm-hub:opaque': { audience: 'mdm-hub', accessTokenTTL: 300, accessTokenFormat: 'opaque' },
};

const configuration = {
  jwks,
  cookies: { keys: ['mdm-hub-test-cookie-key'] },
  scopes: ['openid', 'profile', 'email', ...HUB_SCOPES.split(' ')],
  clients: [
    {
      client_id: 'crm',
      client_secret: 'crm-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'customers:read customers:write',
    },
    {
      client_id: 'billing',
      client_secret: 'billing-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'customers:read pii:read',
    },
    {
      client_id: 'console',
      client_secret: 'console-secret',
      grant_types: ['authorization_code'],
      redirect_uris: [process.env.REDIRECT_URI],
      post_logout_redirect_uris: [],
      response_types: ['code'],
      scope: `openid profile email ${HUB_SCOPES}`,
    },
  ],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: id, email: `${id}@example.jp`, email_verified: true };
      },
    };
  },
  async extraTokenClaims(ctx, token) {
    if (!token.accountId) return undefined;
    const role = token.accountId.split('.')[1];
    return { roles: role ? [role] : [] };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf || 'urn:mdm-hub',
      useGrantedResource: async () => true,
      async getResourceServerInfo(ctx, resourceIndicator) {
        const server = RESOURCES[resourceIndicator];
        if (!server) throw new errors.InvalidTarget();
        return {
          scope: HUB_SCOPES,
          audience: server.audience,
          accessTokenTTL: server.accessTokenTTL,
          accessTokenFormat: server.accessTokenFormat || 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer}`);
});
