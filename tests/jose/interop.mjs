// Interop with node `jose` (npm, pinned in package-lock.json), both directions, every algorithm:
//  - tokens signed by tokensmith verify with jose's jwtVerify + createRemoteJWKSet against our
//    JWKS served on loopback;
//  - tokens signed by jose verify with `tokensmith token verify` (JWKS file and loopback URL);
//  - `tokensmith keys thumbprint` agrees with jose's calculateJwkThumbprint.
// usage: node interop.mjs TOKENSMITH AUTHN_MINT     (exit 77 when jose is not installed)
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
if (!existsSync(join(root, 'node_modules', 'jose'))) {
  console.log('node_modules/jose missing (run npm ci): skipping');
  process.exit(77);
}
const jose = await import('jose');
const [tokensmith, mint] = process.argv.slice(2);
const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
const ISS = 'https://issuer.test';
const AUD = 'svc-a';
const dir = mkdtempSync(join(tmpdir(), 'jose-interop-'));
let failures = 0;
const fail = (msg) => { console.log('FAIL: ' + msg); failures++; };

function run(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// Serves one JWKS document per path, counting requests.
function serve(docs) {
  return new Promise((resolve) => {
    const srv = createServer((req, res) => {
      const body = docs[req.url];
      if (!body) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
      res.end(body);
    });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

try {
  // 1. Ours -> jose.
  const m = await run(mint, [dir, ISS, AUD]);
  if (m.code !== 0) throw new Error('authn-mint failed: ' + m.stderr);
  const ourJwks = readFileSync(join(dir, 'jwks.json'), 'utf8');
  const docs = { '/ours': ourJwks };
  const srv = await serve(docs);
  const base = `http://127.0.0.1:${srv.address().port}`;
  const remote = jose.createRemoteJWKSet(new URL(base + '/ours'));
  for (const alg of ALGS) {
    const tok = readFileSync(join(dir, `${alg}.jwt`), 'utf8');
    try {
      const { payload, protectedHeader } = await jose.jwtVerify(tok, remote, {
        issuer: ISS, audience: AUD, algorithms: [alg], typ: 'at+jwt',
      });
      if (payload.sub !== `svc-${alg}`) fail(`${alg}: jose payload sub ${payload.sub}`);
      const kid = readFileSync(join(dir, `${alg}.kid`), 'utf8').trim();
      if (protectedHeader.kid !== kid) fail(`${alg}: kid ${protectedHeader.kid} != ${kid}`);
      console.log(`ok: tokensmith ${alg} -> jose jwtVerify`);
    } catch (e) {
      fail(`${alg}: jose rejected our token: ${e.code} ${e.message}`);
    }
  }
  try {
    await jose.jwtVerify(readFileSync(join(dir, 'bad-sig.jwt'), 'utf8'), remote, { issuer: ISS, audience: AUD });
    fail('jose accepted a tampered token');
  } catch (e) {
    console.log('ok: jose refuses our tampered token (' + e.code + ')');
  }

  // 2. jose -> ours.
  const keys = [];
  const now = Math.floor(Date.now() / 1000);
  const tokens = {};
  for (const alg of ALGS) {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const jwk = await jose.exportJWK(publicKey);
    jwk.kid = await jose.calculateJwkThumbprint(jwk);
    jwk.alg = alg;
    jwk.use = 'sig';
    keys.push(jwk);
    tokens[alg] = await new jose.SignJWT({ scope: 'read', roles: ['r-' + alg] })
      .setProtectedHeader({ alg, kid: jwk.kid, typ: 'at+jwt' })
      .setIssuer(ISS).setAudience([AUD, 'other']).setSubject(`jose-${alg}`)
      .setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 300).setJti('j-' + alg)
      .sign(privateKey);
    // Thumbprint agreement on the public JWK.
    const jf = join(dir, `jose-${alg}.jwk`);
    writeFileSync(jf, JSON.stringify(jwk));
    const t = await run(tokensmith, ['keys', 'thumbprint', jf]);
    if (t.code !== 0 || t.stdout.trim() !== jwk.kid)
      fail(`${alg}: thumbprint ${t.stdout.trim()} ${t.stderr} != jose ${jwk.kid}`);
  }
  const joseJwks = JSON.stringify({ keys });
  const jwksFile = join(dir, 'jose-jwks.json');
  writeFileSync(jwksFile, joseJwks);
  docs['/jose'] = joseJwks;
  for (const alg of ALGS) {
    for (const src of [jwksFile, base + '/jose']) {
      const r = await run(tokensmith, ['token', 'verify', '--jwks', src, '--issuer', ISS,
        '--audience', AUD, tokens[alg]]);
      if (r.code !== 0) { fail(`${alg} via ${src}: ${r.stderr.trim()}`); continue; }
      const claims = JSON.parse(r.stdout);
      if (claims.sub !== `jose-${alg}` || claims.roles[0] !== 'r-' + alg)
        fail(`${alg}: claims ${r.stdout}`);
    }
    console.log(`ok: jose ${alg} -> tokensmith token verify (file and URL)`);
  }
  // A jose token under a kid we do not have is refused as unknown_kid.
  const other = await jose.generateKeyPair('ES256');
  const stray = await new jose.SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'stray' })
    .setIssuer(ISS).setAudience(AUD).setSubject('x').setExpirationTime(now + 60).sign(other.privateKey);
  const r = await run(tokensmith, ['token', 'verify', '--jwks', jwksFile, '--issuer', ISS, '--audience', AUD, stray]);
  if (r.code !== 1 || !r.stderr.startsWith('error: unknown_kid: ')) fail('stray kid: ' + r.stderr);
  srv.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(failures ? `${failures} failure(s)` : 'all interop checks passed');
process.exit(failures ? 1 : 0);
