// The gRPC listener against a real gRPC client: node @grpc/grpc-js with @grpc/proto-loader
// loading the gateway's own .proto files (keepCase, enums as strings), sending Envoy-style
// CheckRequests (the headers map with lower-case :authority, :method, :path). The server is
// tokenservice/gateway/tests/grpc_fake_server.c: the real listener with a scripted checker
// whose answer depends on the request's path (grpc_fake_checker.h).
// Usage: node grpc_client.mjs PORT PROTO_DIR              the fake server's cases
//        node grpc_client.mjs keys DIR                     an ES256 key: DIR/jwks.json, and
//                                                          tokens DIR/token (aud gateway, scope
//                                                          read) and DIR/token_other (aud other)
//        node grpc_client.mjs PORT PROTO_DIR gateway DIR ADMIN_PORT
//                                                          the real gateway's cases
//        node grpc_client.mjs PORT PROTO_DIR one METHOD PATH [TOKEN_FILE]
//                                                          one Check (Bearer the file's token,
//                                                          none without it); prints one JSON
//                                                          line: grpc (a call error's code) or
//                                                          code, http (the HTTP status name),
//                                                          authorization (the allow's value),
//                                                          body (the deny's)
// Prints "ok <case>" per case (never a token); exits 1 on failure.
import fs from 'node:fs';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import * as jose from 'jose';

if (process.argv[2] === 'keys') {
  const dir = process.argv[3];
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256');
  const jwk = await jose.exportJWK(publicKey);
  jwk.kid = await jose.calculateJwkThumbprint(jwk);
  jwk.alg = 'ES256';
  jwk.use = 'sig';
  fs.writeFileSync(`${dir}/jwks.json`, JSON.stringify({ keys: [jwk] }));
  const now = Math.floor(Date.now() / 1000);
  for (const [file, aud] of [['token', 'gateway'], ['token_other', 'other']]) {
    const t = await new jose.SignJWT({ scope: 'read' })
      .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
      .setIssuer('https://tokens.test').setAudience(aud).setSubject('alice')
      .setIssuedAt(now).setExpirationTime(now + 600).setJti(`${file}-1`).sign(privateKey);
    fs.writeFileSync(`${dir}/${file}`, t);
  }
  process.exit(0);
}

const [port, protoDir, mode, keyDir, adminPort] = process.argv.slice(2);
const target = `127.0.0.1:${port}`;
const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
  keepCase: true, enums: String, longs: Number, defaults: false, oneofs: true,
  includeDirs: [protoDir],
});
const Authorization = grpc.loadPackageDefinition(def).envoy.service.auth.v3.Authorization;
const client = new Authorization(target, grpc.credentials.createInsecure());

function request(path, method = 'GET', headers = null) {
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.7', port_value: 51000 } } },
      request: {
        http: {
          id: '1', method, path, host: 'api.example', scheme: 'http', protocol: 'HTTP/1.1',
          headers: {
            ':authority': 'api.example', ':method': method, ':path': path,
            'x-tokensmith-forged': 'admin',
            ...(headers ?? { authorization: 'Bearer client-token' }),
          },
        },
      },
    },
  };
}

function check(path, deadlineMs = 5000, method = 'GET', headers = null) {
  return new Promise((resolve) => {
    client.Check(request(path, method, headers), { deadline: Date.now() + deadlineMs },
      (err, res) => resolve({ err, res }));
  });
}

// Raw bytes as the message, any method: identity serializers.
const Raw = grpc.makeGenericClientConstructor({}, 'Raw');
const raw = new Raw(target, grpc.credentials.createInsecure());
function rawCall(method, bytes) {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(method, (b) => b, (b) => b, bytes, { deadline: Date.now() + 5000 },
      (err, res) => resolve({ err, res }));
  });
}

let failed = false;
function expect(name, cond, detail) {
  if (cond) {
    console.log(`ok ${name}`);
  } else {
    failed = true;
    console.log(`FAIL ${name}: ${JSON.stringify(detail)}`);
  }
}
const okCall = (r) => !r.err && r.res;
let r;
// proto3 leaves zero values off the wire: a present Status without a code is code 0, a present
// BoolValue without a value is false (Envoy reads them so).
const code0 = (res) => res.status !== undefined && res.status !== null && !res.status.code;

if (mode === 'one') {
  // One check for a shell test to judge (gateway.k8s): tokens never printed except the
  // translated one, which the test verifies.
  const [method, path, tokenFile] = process.argv.slice(5);
  const headers = tokenFile
    ? { authorization: `Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}` } : {};
  const o = await check(path, 5000, method, headers);
  const out = {};
  if (o.err) {
    out.grpc = o.err.code;
  } else {
    out.code = o.res.status?.code ?? 0;
    if (o.res.ok_response) {
      out.http = 'OK';
      const a = o.res.ok_response.headers.find((h) => h.header.key.toLowerCase() === 'authorization');
      out.authorization = a ? a.header.value : null;
    } else if (o.res.denied_response) {
      out.http = o.res.denied_response.status?.code;
      out.body = o.res.denied_response.body;
    }
  }
  console.log(JSON.stringify(out));
  client.close();
  raw.close();
  process.exit(0);
}

if (mode === 'gateway') {
  // The real decision core behind the listener: tokens signed here, keys in DIR/jwks.json.
  const token = fs.readFileSync(`${keyDir}/token`, 'utf8');
  const other = fs.readFileSync(`${keyDir}/token_other`, 'utf8');
  const bearer = (t) => ({ authorization: `Bearer ${t}` });
  let g = await check('/nodes', 5000, 'GET', bearer(token));
  const auth = okCall(g) && code0(g.res) && g.res.ok_response.headers
    .find((h) => h.header.key.toLowerCase() === 'authorization');
  let verified = null;
  if (auth && auth.header.value.startsWith('Bearer ') && auth.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD') {
    const jwks = jose.createRemoteJWKSet(new URL(`http://127.0.0.1:${adminPort}/.well-known/jwks.json`));
    try {
      verified = (await jose.jwtVerify(auth.header.value.slice(7), jwks,
        { issuer: 'https://gateway.test', audience: 'backend' })).payload;
    } catch (e) {
      verified = null;
    }
  }
  expect('gateway allow: translated token verifies against the admin JWKS',
    verified && verified.sub === 'alice' && auth.header.value.slice(7) !== token
    && g.res.ok_response.headers_to_remove.includes('x-tokensmith-forged'),
    okCall(g) ? { status: g.res.status, http_response: g.res.http_response } : g.err?.message);
  g = await check('/nodes/7', 5000, 'DELETE', bearer(token));
  expect('gateway deny 403 (read scope, DELETE)', okCall(g) && g.res.status?.code === 7
    && g.res.denied_response.status.code === 'Forbidden'
    && g.res.denied_response.body.includes('authz.deny.v1'), okCall(g) ? g.res.status : g.err?.message);
  g = await check('/nodes', 5000, 'GET', {});
  expect('gateway no token: UNAUTHENTICATED with WWW-Authenticate', okCall(g)
    && g.res.status?.code === 16 && g.res.denied_response.status.code === 'Unauthorized'
    && g.res.denied_response.headers.some((h) => h.header.key === 'www-authenticate'),
    okCall(g) ? g.res.status : g.err?.message);
  g = await check('/nodes', 5000, 'GET', bearer(other));
  expect('gateway token for another audience: UNAUTHENTICATED', okCall(g)
    && g.res.status?.code === 16, okCall(g) ? g.res.status : g.err?.message);
  g = await check('/nodes', 5000, 'GET', { authorization: `Bearer ${token},Bearer ${token}` });
  expect('gateway two Authorization lines (joined): INVALID_ARGUMENT deny 400', okCall(g)
    && g.res.status?.code === 3 && g.res.denied_response.status.code === 'BadRequest',
    okCall(g) ? g.res.status : g.err?.message);
  r = await rawCall('/envoy.service.auth.v3.Authorization/Check', Buffer.from([0xff, 0xff, 0xff]));
  expect('gateway malformed bytes: INVALID_ARGUMENT', r.err?.code === grpc.status.INVALID_ARGUMENT, r.err?.code);
  client.close();
  raw.close();
  process.exit(failed ? 1 : 0);
}

// allow: status.code 0 (explicit), the header mutation as overwrite
r = await check('/allow/nodes');
expect('allow', okCall(r) && code0(r.res) && r.res.http_response === 'ok_response'
  && r.res.ok_response.headers.length === 2
  && r.res.ok_response.headers.every((h) => h.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD'
    && h.append && !h.append.value)
  && r.res.ok_response.headers[0].header.key === 'authorization'
  && r.res.ok_response.headers[0].header.value === 'Bearer translated-/allow/nodes'
  && r.res.ok_response.headers_to_remove.includes('x-tokensmith-forged'), r);

// deny: an OK call whose CheckResponse says no
r = await check('/deny401');
expect('deny UNAUTHENTICATED', okCall(r) && r.res.status?.code === 16
  && r.res.http_response === 'denied_response'
  && r.res.denied_response.status.code === 'Unauthorized'
  && r.res.denied_response.body.includes('authz.deny.v1')
  && r.res.denied_response.headers.some((h) => h.header.key === 'www-authenticate'), r);
r = await check('/deny403');
expect('deny PERMISSION_DENIED', okCall(r) && r.res.status?.code === 7
  && r.res.denied_response.status.code === 'Forbidden', r);

// cannot decide: a call status, so that Envoy's failure_mode_allow applies
r = await check('/unavailable');
expect('UNAVAILABLE', r.err?.code === grpc.status.UNAVAILABLE
  && r.err.details === 'keys unavailable', r.err);

// the deadline: the checker takes 2 s, the call allows 200 ms
const t0 = Date.now();
r = await check('/sleep/2000', 200);
expect('DEADLINE_EXCEEDED', r.err?.code === grpc.status.DEADLINE_EXCEEDED
  && Date.now() - t0 < 1900, r.err); // before the check would have ended

// malformed bytes, an oversized message, another method
r = await rawCall('/envoy.service.auth.v3.Authorization/Check', Buffer.from([0xff, 0xff, 0xff]));
expect('INVALID_ARGUMENT', r.err?.code === grpc.status.INVALID_ARGUMENT, r.err);
r = await rawCall('/envoy.service.auth.v3.Authorization/Check', Buffer.alloc(1 << 20, 0x41));
expect('RESOURCE_EXHAUSTED', r.err?.code === grpc.status.RESOURCE_EXHAUSTED, r.err);
r = await rawCall('/envoy.service.auth.v3.Authorization/Other', Buffer.alloc(0));
expect('UNIMPLEMENTED', r.err?.code === grpc.status.UNIMPLEMENTED, r.err);

// 64 calls in flight at once, every one answered
const many = await Promise.all(Array.from({ length: 64 },
  (_, i) => check(i % 2 ? `/sleep/20/${i}` : `/allow/${i}`)));
expect('64 concurrent', many.every((m, i) => okCall(m) && code0(m.res)
  && m.res.ok_response.headers[0].header.value.endsWith(`/${i}`)),
  many.filter((m) => !okCall(m)).map((m) => m.err?.message));

client.close();
raw.close();
process.exit(failed ? 1 : 0);
