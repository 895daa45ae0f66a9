// A loopback stand-in for a Kubernetes API server's service-account issuer (gateway.k8s): the
// OpenID discovery document and the JWKS as kube-apiserver serves them
// (pkg/serviceaccount/openidmetadata.go), and service-account tokens signed with node `jose`
// in the shapes of /work/shared/reference/round2.md §2.2 (projected: array aud, nested
// kubernetes.io claims; legacy Secret: iss kubernetes/serviceaccount, flat claims, no exp).
// The key is RS256 and its kid is Kubernetes' own: base64url(SHA-256(DER SubjectPublicKeyInfo)),
// which is NOT the RFC 7638 thumbprint, so a verifier that recomputed kids would fail here.
//
// Usage: node k8s_issuer.mjs STATE_DIR [PORT]
//   Listens on 127.0.0.1:PORT (0: any free port) and prints "listening PORT" as its first line.
//   The keys live in STATE_DIR/keys.json (made on the first start, reused after a restart, so
//   that a restarted issuer on the same port is the same issuer).
// Endpoints (loopback only):
//   GET /.well-known/openid-configuration   issuer = http://127.0.0.1:PORT, jwks_uri
//   GET /openid/v1/jwks                     the signing key (use sig, alg RS256, opaque kid)
//   GET /counts                             {"discovery": N, "jwks": N} fetches since this start
//   GET /mint?ns=&sa=&aud=a,b&age=S&shape=projected|legacy|legacy-iss|mismatch&kid=unknown
//            &key=other
//     a token on the body: ns/sa the account (app-prod/eso-sa), aud a comma list (default
//     "gateway"), age how many seconds ago it was issued (iat = nbf = now - age, exp = now +
//     3600), shape projected (default), legacy (a Secret token: iss kubernetes/serviceaccount,
//     flat claims, no exp), legacy-iss (the same claims with this issuer's iss), mismatch (sub
//     names NS:admin-sa, the nested claims name NS:SA); kid=unknown signs with the real key
//     under another kid; key=other signs with another RSA key under the real kid;
//     extra=roles adds claims a projected token never has: roles ["admin"], groups
//     ["system:masters"], scope "admin" (a cluster never signs them; the gateway must not read
//     them as roles).
//     exp=S (shape legacy-iss only): adds aud and exp = now + S to the legacy claims, so that a
//     verifier requiring exp and aud reaches the flat claims (the token service's
//     allow_legacy_tokens).
//   GET /rotate   a key rotation: a new RSA key (and its kid) signs from now on; the JWKS
//                 publishes the new key and the old one. Answers {"kid": NEW_KID}.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import * as jose from 'jose';

const [stateDir, portArg] = process.argv.slice(2);
const keyFile = `${stateDir}/keys.json`;

async function makeKeys() {
  const out = {};
  for (const name of ['main', 'other']) {
    const { privateKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    out[name] = await jose.exportJWK(privateKey);
  }
  fs.writeFileSync(keyFile, JSON.stringify(out), { mode: 0o600 });
  return out;
}

const jwks = fs.existsSync(keyFile) ? JSON.parse(fs.readFileSync(keyFile, 'utf8')) : await makeKeys();
const mainKey = await jose.importJWK(jwks.main, 'RS256');
const otherKey = await jose.importJWK(jwks.other, 'RS256');
// kube-apiserver's keyIDFromPublicKey: base64url without padding of SHA-256 over the DER SPKI.
const pub = crypto.createPublicKey({ key: jwks.main, format: 'jwk' });
const kid = crypto.createHash('sha256').update(pub.export({ type: 'spki', format: 'der' }))
  .digest('base64url');
const { n, e, kty } = jwks.main;
const publicJwk = { use: 'sig', kty, kid, alg: 'RS256', n, e };

// What signs and what is published: the main key until a /rotate.
let signKey = mainKey;
let signKid = kid;
let published = [publicJwk];

async function rotate() {
  const { privateKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  const p = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  signKid = crypto.createHash('sha256').update(p.export({ type: 'spki', format: 'der' }))
    .digest('base64url');
  signKey = privateKey;
  published = [{ use: 'sig', kty: jwk.kty, kid: signKid, alg: 'RS256', n: jwk.n, e: jwk.e },
    ...published];
  return signKid;
}

const counts = { discovery: 0, jwks: 0 };
let issuer = '';

async function mint(q) {
  const ns = q.get('ns') || 'app-prod';
  const sa = q.get('sa') || 'eso-sa';
  const aud = (q.get('aud') || 'gateway').split(',');
  const shape = q.get('shape') || 'projected';
  const now = Math.floor(Date.now() / 1000);
  const iat = now - Number(q.get('age') || 0);
  const header = { alg: 'RS256', kid: q.get('kid') === 'unknown' ? `${signKid.slice(0, 20)}unknown` : signKid };
  const key = q.get('key') === 'other' ? otherKey : signKey;
  if (shape === 'legacy' || shape === 'legacy-iss') {
    // A Secret-based token: flat claims, no exp, no aud (unless exp= asks for them).
    const legacy = new jose.SignJWT({
      'kubernetes.io/serviceaccount/namespace': ns,
      'kubernetes.io/serviceaccount/secret.name': `${sa}-token-x7k2p`,
      'kubernetes.io/serviceaccount/service-account.name': sa,
      'kubernetes.io/serviceaccount/service-account.uid': crypto.randomUUID(),
    }).setProtectedHeader(header)
      .setIssuer(shape === 'legacy' ? 'kubernetes/serviceaccount' : issuer)
      .setSubject(`system:serviceaccount:${ns}:${sa}`);
    if (shape === 'legacy-iss' && q.get('exp')) {
      legacy.setAudience(aud).setIssuedAt(iat).setExpirationTime(now + Number(q.get('exp')));
    }
    return legacy.sign(key);
  }
  const subSa = shape === 'mismatch' ? 'admin-sa' : sa;
  const extra = q.get('extra') === 'roles'
    ? { roles: ['admin'], groups: ['system:masters'], scope: 'admin' } : {};
  return new jose.SignJWT({
    ...extra,
    'kubernetes.io': {
      namespace: ns,
      pod: { name: `${sa}-7d9f8b-xk2lp`, uid: crypto.randomUUID() },
      serviceaccount: { name: sa, uid: crypto.randomUUID() },
      warnafter: now + 3000,
    },
  }).setProtectedHeader(header).setIssuer(issuer).setSubject(`system:serviceaccount:${ns}:${subSa}`)
    .setAudience(aud).setIssuedAt(iat).setNotBefore(iat).setExpirationTime(now + 3600)
    .setJti(crypto.randomUUID()).sign(key);
}

function send(res, status, type, body, extra = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (req.method !== 'GET') {
      send(res, 405, 'text/plain', 'method not allowed\n');
    } else if (url.pathname === '/.well-known/openid-configuration') {
      counts.discovery++;
      send(res, 200, 'application/json', JSON.stringify({
        issuer, jwks_uri: `${issuer}/openid/v1/jwks`, response_types_supported: ['id_token'],
        subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'],
      }), { 'Cache-Control': 'public, max-age=3600' });
    } else if (url.pathname === '/openid/v1/jwks') {
      counts.jwks++;
      send(res, 200, 'application/jwk-set+json', JSON.stringify({ keys: published }),
        { 'Cache-Control': 'public, max-age=3600' });
    } else if (url.pathname === '/rotate') {
      send(res, 200, 'application/json', JSON.stringify({ kid: await rotate() }));
    } else if (url.pathname === '/counts') {
      send(res, 200, 'application/json', JSON.stringify(counts));
    } else if (url.pathname === '/mint') {
      send(res, 200, 'application/jwt', await mint(url.searchParams));
    } else {
      send(res, 404, 'text/plain', 'not found\n');
    }
  } catch (err) {
    send(res, 500, 'text/plain', `${err.message}\n`);
  }
});
server.listen(Number(portArg || 0), '127.0.0.1', () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  console.log(`listening ${port}`);
});
process.on('SIGTERM', () => process.exit(0));
