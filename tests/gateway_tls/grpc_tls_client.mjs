// Checks on the gateway's gRPC listener over TLS with a real gRPC client: node @grpc/grpc-js
// with SSL channel credentials (the test CA as the root, the proxy's client certificate when
// given) and @grpc/proto-loader on the gateway's own .proto files. grpc-js offers ALPN h2 and
// refuses a server that does not agree on it.
// Usage: node grpc_tls_client.mjs PORT PROTO_DIR CA_PEM CERT_PEM|- KEY_PEM|- TOKEN_FILE|- [N]
// Sends N (default 1) Checks of GET /nodes on one channel, Bearer the file's token (none for
// -), and prints one JSON line: {"ok": calls answered, "errors": [grpc codes of failed calls],
// "http": the last answer's HTTP status ("OK" for an allow), "translated": whether the allow
// carried an Authorization header}. Never prints a token. Exit 0 unless the client broke.
import fs from 'node:fs';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const [port, protoDir, caFile, certFile, keyFile, tokenFile, n = '1'] = process.argv.slice(2);
const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
  keepCase: true, enums: String, longs: Number, defaults: false, oneofs: true,
  includeDirs: [protoDir],
});
const Authorization = grpc.loadPackageDefinition(def).envoy.service.auth.v3.Authorization;
const creds = grpc.credentials.createSsl(
  fs.readFileSync(caFile),
  keyFile !== '-' ? fs.readFileSync(keyFile) : null,
  certFile !== '-' ? fs.readFileSync(certFile) : null);
// The certificate names localhost (and 127.0.0.1); connect to the address, check the name.
const client = new Authorization(`127.0.0.1:${port}`, creds,
  { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' });
const headers = { ':authority': 'api.example', ':method': 'GET', ':path': '/nodes' };
if (tokenFile !== '-')
  headers.authorization = `Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}`;
const request = {
  attributes: {
    request: {
      http: { id: '1', method: 'GET', path: '/nodes', host: 'api.example', scheme: 'https',
        protocol: 'HTTP/1.1', headers },
    },
  },
};
const out = { ok: 0, errors: [], http: null, translated: false };
for (let i = 0; i < Number(n); i++) {
  const r = await new Promise((resolve) => {
    client.Check(request, { deadline: Date.now() + 5000 }, (err, res) => resolve({ err, res }));
  });
  if (r.err) {
    out.errors.push(r.err.code);
    continue;
  }
  out.ok++;
  if (r.res.ok_response) {
    out.http = 'OK';
    out.translated = (r.res.ok_response.headers ?? []).some(
      (h) => h.header.key.toLowerCase() === 'authorization');
  } else if (r.res.denied_response) {
    out.http = r.res.denied_response.status?.code ?? null;
  }
}
console.log(JSON.stringify(out));
client.close();
process.exit(0);
