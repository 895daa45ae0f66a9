// A second, real authorization server for the client's tests: node oidc-provider on loopback
// with the client_credentials grant and an RFC 8693 token exchange registered as a custom grant
// (oidc-provider has none built in). Clients:
//   cc-basic  client_secret_basic, secret "basic secret:1/+" (characters that must be
//             form-urlencoded before Basic, RFC 6749 2.3.1); client_credentials and exchange
//   cc-post   client_secret_post; client_credentials only
// The exchange accepts an access token this provider issued (subject_token_type access_token)
// and answers a new one with issued_token_type; anything else is invalid_grant or
// invalid_request, as RFC 8693 2.2.2 says. The first stdout line is JSON:
// {"issuer":"http://127.0.0.1:<port>","token_endpoint":"<issuer>/token"}. The process exits
// when its stdin closes; exit code 77 when oidc-provider is not installed (npm ci).
import http from 'node:http';

let Provider, errors;
try {
  ({ default: Provider, errors } = await import('oidc-provider'));
} catch (e) {
  console.error(`oidc-provider missing (run npm ci): ${e.message}`);
  process.exit(77);
}

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

const server = http.createServer();
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'cc-basic',
      client_secret: 'basic secret:1/+',
      grant_types: ['client_credentials', EXCHANGE],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read write',
    },
    {
      client_id: 'cc-post',
      client_secret: 'post-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'read',
    },
  ],
  scopes: ['read', 'write'],
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: { enabled: false },
  },
  ttl: { ClientCredentials: 120 },
});
provider.on('server_error', (ctx, err) => console.error(`server_error: ${err.message}`));

provider.registerGrantType(
  EXCHANGE,
  async (ctx) => {
    const p = ctx.oidc.params;
    if (p.subject_token_type !== ACCESS_TOKEN) {
      throw new errors.InvalidRequest('unsupported subject_token_type');
    }
    const subject = await provider.ClientCredentials.find(p.subject_token);
    if (!subject || subject.isExpired) {
      throw new errors.InvalidGrant('subject token is invalid or expired');
    }
    const token = new provider.ClientCredentials({
      client: ctx.oidc.client,
      scope: p.scope || subject.scope || undefined,
    });
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN,
      token_type: 'Bearer',
      expires_in: token.expiration,
      scope: token.scope,
    };
  },
  ['subject_token', 'subject_token_type', 'audience', 'scope', 'requested_token_type'],
);

server.on('request', provider.callback());
console.log(JSON.stringify({ issuer, token_endpoint: `${issuer}/token` }));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
