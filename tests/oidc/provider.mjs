// Two real OpenID providers (node oidc-provider) on loopback, for the ts_oidc integration test.
//
// Provider "a" and provider "b" each listen on their own ephemeral port with their own RSA key
// and clients. A third listener, "raw", is not oidc-provider: it answers discovery, JWKS and
// RFC 7662 introspection with whatever bytes the test set last (POST /raw?doc=discovery|jwks|
// introspect on the control listener; "{ISSUER}" in them stands for its URL), so that the test
// can send answers no real provider would (duplicate members, control characters). The control
// listener also lets the C test mint ID tokens, sign variants with a provider's key, rotate a
// provider's key and take a provider down. The first stdout line is JSON:
// {"a":"<issuer a>","b":"<issuer b>","raw":"<issuer raw>","control":"http://127.0.0.1:<port>"}.
// Exit code 77 when oidc-provider is not installed (npm ci).
import http from 'node:http';

let Provider, jose;
try {
  ({ default: Provider } = await import('oidc-provider'));
  jose = await import('jose');
} catch (e) {
  console.error(`oidc-provider or jose missing (run npm ci): ${e.message}`);
  process.exit(77);
}

const CLIENTS = ['tokensmith-test', 'other-client'];

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = await jose.calculateJwkThumbprint(jwk);
  jwk.alg = 'RS256';
  jwk.use = 'sig';
  return { jwk, key: privateKey };
}

async function makeProvider(issuer, key) {
  const p = new Provider(issuer, {
    clients: CLIENTS.map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      redirect_uris: [`${issuer}/cb`],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
    })),
    jwks: { keys: [key.jwk] },
    cookies: { keys: ['test-cookie-key'] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
    ttl: { IdToken: 300 },
  });
  p.on('server_error', () => {});
  return p;
}

// One provider: a listener whose request handler can be swapped (key rotation) or closed.
async function startProvider() {
  const state = { key: await newKey(), provider: null, server: null, issuer: '' };
  state.server = http.createServer((req, res) => state.provider.callback()(req, res));
  await new Promise((r) => state.server.listen(0, '127.0.0.1', r));
  state.issuer = `http://127.0.0.1:${state.server.address().port}`;
  state.provider = await makeProvider(state.issuer, state.key);
  return state;
}

const providers = { a: await startProvider(), b: await startProvider() };

// The "raw" issuer: fixed answers, replaced by the test. Introspection also records the
// request it last received (GET /raw?doc=last on the control listener).
const raw = { issuer: '', docs: {}, last: '' };
raw.server = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const doc = { '/.well-known/openid-configuration': 'discovery', '/jwks': 'jwks',
    '/introspect': 'introspect' }[path];
  if (doc === 'introspect') raw.last = `${req.headers.authorization || ''} ${await body(req)}`;
  if (!doc) {
    res.statusCode = 404;
    res.end();
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.end(raw.docs[doc].replaceAll('{ISSUER}', raw.issuer));
});
await new Promise((r) => raw.server.listen(0, '127.0.0.1', r));
raw.issuer = `http://127.0.0.1:${raw.server.address().port}`;
raw.docs = {
  discovery: JSON.stringify({ issuer: '{ISSUER}', jwks_uri: '{ISSUER}/jwks',
    introspection_endpoint: '{ISSUER}/introspect' }),
  jwks: JSON.stringify({ keys: [await jose.exportJWK(providers.a.key.key).then((k) => {
    const { d, p, q, dp, dq, qi, ...pub } = k;
    return { ...pub, kid: providers.a.key.jwk.kid, alg: 'RS256', use: 'sig' };
  })] }),
  introspect: '{"active":false}',
};

function body(req) {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (c) => (s += c));
    req.on('end', () => resolve(s));
  });
}

async function mint(q) {
  const st = providers[q.get('p') || 'a'];
  const client = await st.provider.Client.find(q.get('client') || CLIENTS[0]);
  const t = new st.provider.IdToken(
    { sub: q.get('sub') || 'alice', email: q.get('email') || undefined,
      email_verified: q.has('email') ? true : undefined, name: q.get('name') || undefined },
    { client });
  t.scope = 'openid email profile';
  if (q.get('nonce')) t.set('nonce', q.get('nonce'));
  if (q.get('groups')) t.set('groups', q.get('groups').split(','));
  if (q.get('amr')) t.set('amr', q.get('amr').split(','));
  if (q.get('acr')) t.set('acr', q.get('acr'));
  // auth_age: how long ago the user authenticated, in seconds (30 unless said).
  t.set('auth_time', Math.floor(Date.now() / 1000) - Number(q.get('auth_age') || 30));
  return t.issue({ use: 'idtoken' });
}

// Sign arbitrary claims with the provider's current key (variants the provider will not mint).
async function sign(q, claims) {
  const st = providers[q.get('p') || 'a'];
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: st.key.jwk.kid })
    .sign(st.key.key);
}

const control = http.createServer(async (req, res) => {
  const u = new URL(req.url, 'http://x');
  const q = u.searchParams;
  try {
    let out = 'ok';
    if (u.pathname === '/mint') out = await mint(q);
    else if (u.pathname === '/sign') out = await sign(q, JSON.parse(await body(req)));
    else if (u.pathname === '/rotate') {
      const st = providers[q.get('p') || 'a'];
      st.key = await newKey();
      st.provider = await makeProvider(st.issuer, st.key);
      out = st.key.jwk.kid;
    } else if (u.pathname === '/down') {
      const st = providers[q.get('p') || 'a'];
      st.server.closeAllConnections();
      await new Promise((r) => st.server.close(r));
    } else if (u.pathname === '/raw') {
      if (q.get('doc') === 'last') out = raw.last;
      else if (q.get('doc') in raw.docs) raw.docs[q.get('doc')] = await body(req);
      else res.statusCode = 404;
    } else if (u.pathname === '/exit') {
      res.end('bye');
      process.exit(0);
    } else {
      res.statusCode = 404;
    }
    res.end(out);
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e && e.stack));
  }
});
await new Promise((r) => control.listen(0, '127.0.0.1', r));
process.stdout.write(JSON.stringify({ a: providers.a.issuer, b: providers.b.issuer,
  raw: raw.issuer, control: `http://127.0.0.1:${control.address().port}` }) + '\n');
// Never outlive a crashed test.
setTimeout(() => process.exit(0), 120000).unref();
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
