// node oidc-provider on loopback as the reference for client authentication at RFC 7662
// introspection and RFC 7009 revocation (tests/clientauth/clientauth_test.sh). Its clients are
// the ones the test registers at `tokensmith serve`: argv[2] is a JSON array of
// {"client_id", "client_secret"}; each may authenticate with client_secret_basic or
// client_secret_post and use the client_credentials grant, so that the test has an active
// token to introspect. The first stdout line is the issuer URL. Exit code 77 when
// oidc-provider is not installed (npm ci); the provider exits when its stdin closes.
import http from 'node:http';

let Provider;
try {
  ({ default: Provider } = await import('oidc-provider'));
} catch (e) {
  console.error(`oidc-provider missing (run npm ci): ${e.message}`);
  process.exit(77);
}

const clients = JSON.parse(process.argv[2]);
const server = http.createServer((req, res) => provider.callback()(req, res));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${server.address().port}`;
const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    // A client registered for client_secret_basic may use client_secret_post too (and the
    // reverse): oidc-provider accepts either for a secret-bearing client.
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
});
// Errors are the answers under test, not news.
provider.on('server_error', (ctx, err) => console.error(err));
process.stdout.write(`${issuer}\n`);
setTimeout(() => process.exit(0), 280000).unref(); // never outlive a crashed test
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
