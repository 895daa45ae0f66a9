// gateway.hostile's client (tests/gateway/hostile_test.sh): hostile input against a running
// `tokensmith gateway`, over raw TCP sockets for the HTTP check listener, over @grpc/grpc-js
// for Envoy-shaped CheckRequests, and over hand-written HTTP/2 frames (and node:http2) where
// grpc-js cannot go. After every refused case a good request must still pass: the gateway is
// alive and serving. Tokens come from DIR (grpc_client.mjs keys): DIR/token (aud gateway,
// scope read: role viewer, sub alice) and DIR/token_other (aud other).
// The gateway's routes (hostile_test.sh): GET /nodes and GET /nodes/:id (metadata:nodes, which
// viewer may read), GET /secret (admin:secret, which nobody may), public path /public/*.
// Usage: node hostile_client.mjs http PORT envoy|nginx DIR     (envoy: prefix /ext-authz)
//        node hostile_client.mjs slow PORT MAX_CONNECTIONS TIMEOUT_MS DIR
//        node hostile_client.mjs grpc PORT PROTO_DIR DIR
// Prints "ok <case>" per case (never a token); exits 1 on any failure.
import fs from 'node:fs';
import net from 'node:net';
import http2 from 'node:http2';

const [mode, port, a3, a4, a5] = process.argv.slice(2);
const keyDir = mode === 'slow' ? a5 : a4;
const token = fs.readFileSync(`${keyDir}/token`, 'utf8').trim();
const other = fs.readFileSync(`${keyDir}/token_other`, 'utf8').trim();
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

let failed = false;
function expect(name, cond, detail) {
  if (cond) {
    console.log(`ok ${name}`);
  } else {
    failed = true;
    console.log(`FAIL ${name}: ${JSON.stringify(detail)}`);
  }
}

// ------------------------------------------------------------------------------------------
// HTTP: one request on its own connection, written as given; the answer read to the close.

// {status (0: no answer), headers: [[name lower-case, value]], body, closed, ms}
function rawHttp(bytes, timeoutMs = 15000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const chunks = [];
    let done = false;
    const s = net.connect(Number(port), '127.0.0.1');
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const head = text.split('\r\n\r\n')[0];
      const lines = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] || '');
      const headers = lines.slice(1).map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
      });
      resolve({ status: m ? Number(m[1]) : 0, headers, body: text.slice(head.length + 4),
        closed, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on('data', (d) => chunks.push(d));
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true)); // reset while we were still writing: closed too
    s.on('connect', () => s.write(bytes));
  });
}

const conv = mode === 'http' ? a3 : 'envoy'; // envoy (prefix /ext-authz) | nginx
const bearer = (t) => [['Authorization', `Bearer ${t}`]];
// The check as the proxy would send it, for the original request METHOD PATH with HEADERS
// (pairs; a pair may repeat a name). Connection: close, so that the answer ends the read.
function checkBytes(method, path, headers = []) {
  const h = headers.map(([n, v]) => `${n}: ${v}\r\n`).join('');
  if (conv === 'nginx') {
    return `GET /check HTTP/1.1\r\nHost: api.example\r\nX-Original-URI: ${path}\r\n`
      + `X-Original-Method: ${method}\r\n${h}Connection: close\r\n\r\n`;
  }
  return `${method} /ext-authz${path} HTTP/1.1\r\nHost: api.example\r\n${h}Connection: close\r\n\r\n`;
}
const get = (path, headers) => rawHttp(checkBytes('GET', path, headers));
const hv = (r, name) => r.headers.filter(([n]) => n === name).map(([, v]) => v);

// A good request passes: exactly 200 with a translated token (not the caller's).
async function alive(after) {
  const r = await get('/nodes', bearer(token));
  const auth = hv(r, 'authorization');
  expect(`${conv} alive after ${after}`, r.status === 200 && auth.length === 1
    && auth[0].startsWith('Bearer ') && auth[0] !== `Bearer ${token}`, { status: r.status });
}
// Refused: never 200; one of WANT, or (when closedOk) no answer and the connection closed.
function refused(name, r, want, closedOk = false) {
  const okStatus = want.includes(r.status) || (closedOk && r.status === 0 && r.closed);
  expect(name, r.status !== 200 && okStatus, { status: r.status, closed: r.closed,
    body: r.body.slice(0, 200) });
}

async function httpCases() {
  const nginx = conv === 'nginx';
  await alive('start');

  // --- forged x-tokensmith-*: envoy (strip) overwrites the three it sets and removes the rest;
  // nginx (reject) refuses 400. Without a token: 401 (strip) or 400 (reject), never 200.
  const forged = [['X-Tokensmith-Subject', 'admin'], ['X-Tokensmith-Roles', 'admin'],
    ['X-Tokensmith-Policy-Version', '0'], ['X-Tokensmith-Other', '1']];
  let r = await get('/nodes', [...bearer(token), ...forged]);
  if (nginx) {
    refused('nginx forged x-tokensmith-* with a token: 400', r, [400]);
  } else {
    const remove = (hv(r, 'x-envoy-auth-headers-to-remove')[0] || '').toLowerCase().split(/,\s*/);
    expect('envoy forged x-tokensmith-*: 200 carries the gateway\'s values, removes the rest',
      r.status === 200 && hv(r, 'x-tokensmith-subject').join() === 'alice'
      && hv(r, 'x-tokensmith-roles').join() === 'viewer'
      && /^[0-9a-f]{64}$/.test(hv(r, 'x-tokensmith-policy-version').join())
      && remove.includes('x-tokensmith-other') && !remove.includes('x-tokensmith-subject'),
    { status: r.status, headers: r.headers.filter(([n]) => n.startsWith('x-')) });
  }
  r = await get('/nodes', forged);
  refused(`${conv} forged x-tokensmith-* without a token`, r, nginx ? [400] : [401]);
  await alive('forged headers');

  // --- two Authorization lines: 400 (the gateway never guesses which one counts)
  r = await get('/nodes', [...bearer(token), ...bearer(token)]);
  refused(`${conv} two Authorization lines: 400`, r, [400]);
  expect(`${conv} two Authorization lines: BAD_REQUEST body`, r.body.includes('"code":"BAD_REQUEST"'), r.body);
  r = await get('/nodes', [...bearer(token), ['authorization', 'Basic YTpi']]);
  refused(`${conv} Bearer and Basic: 400`, r, [400]);
  await alive('two Authorization lines');

  // --- header floods: 431 (or 400), or closed by libmicrohttpd; never 200
  const flood = Array.from({ length: 10000 }, (_, i) => [`X-Flood-${i}`, 'v']);
  r = await get('/nodes', [...bearer(token), ...flood]);
  refused(`${conv} 10,000 headers`, r, [400, 431], true);
  await alive('10,000 headers');
  r = await get('/nodes', [...bearer(token), ['X-Big', 'b'.repeat(65536)]]);
  refused(`${conv} one 64 KiB header`, r, [400, 431], true);
  await alive('a 64 KiB header');

  // --- huge paths: over 4096 bytes is 400 (docs/gateway.md, Bounds); 64 KiB may be refused
  // earlier by the listener's head bound (431) or by libmicrohttpd (414, or closed)
  r = await get(`/nodes/${'a'.repeat(5 * 1024)}`, bearer(token));
  refused(`${conv} 5 KiB path: 400`, r, [400]);
  r = await get(`/nodes/${'a'.repeat(64 * 1024)}`, bearer(token));
  refused(`${conv} 64 KiB path`, r, [400, 414, 431], true);
  await alive('huge paths');

  // --- encoded traversal: decided on the guard's normalised path, or 400 when another
  // reading (an encoded slash, a double escape) would give another path; never an allow of
  // /secret. With a viewer token:
  const withToken = [
    ['/public/%2e%2e/secret', 403], ['/public/..%2Fsecret', 400], ['/secret%00', 400],
    ['/nodes%00', 400], ['//secret', 403], ['/./secret', 403], ['/public/%252e%252e/secret', 400],
    ['/nodes/..%2Fsecret', 400], ['/nodes/%2e%2e/secret', 403], ['/nodes/..%5Csecret', 400],
    ['/public/%252e%252e%252fsecret', 400],
    // dots the guard resolves lead to a granted route: allowed, as /nodes
    ['//nodes', 200], ['/./nodes', 200], ['/public/%2e%2e/nodes', 200], ['/x/../nodes', 200],
  ];
  for (const [path, want] of withToken) {
    r = await get(path, bearer(token));
    expect(`${conv} token, ${path}: ${want}`, r.status === want, { status: r.status, body: r.body.slice(0, 160) });
  }
  const noToken = [['/public/%2e%2e/secret', 401], ['/public/..%2Fsecret', 400],
    ['/public/%252e%252e/secret', 400], ['/public/./../secret', 401], ['/public/x', 200]];
  for (const [path, want] of noToken) {
    r = await get(path);
    expect(`${conv} no token, ${path}: ${want}`, r.status === want, { status: r.status, body: r.body.slice(0, 160) });
  }
  await alive('encoded traversal');

  // --- a token for another audience: 401 invalid_token
  r = await get('/nodes', bearer(other));
  expect(`${conv} another audience: 401 invalid_token`, r.status === 401
    && /^Bearer .*error="invalid_token"/.test(hv(r, 'www-authenticate').join()), { status: r.status,
    www: hv(r, 'www-authenticate') });
  await alive('another audience');
}

// ------------------------------------------------------------------------------------------
// Slow heads and the connection bound (envoy convention)

function openConn() {
  return new Promise((resolve) => {
    const s = net.connect(Number(port), '127.0.0.1');
    const c = { s, closedAt: 0, data: 0 };
    s.on('data', (d) => { c.data += d.length; });
    s.on('close', () => { c.closedAt = Date.now(); });
    s.on('error', () => {});
    s.on('connect', () => resolve(c));
    setTimeout(() => resolve(c), 5000);
  });
}

async function slowCases() {
  const maxConn = Number(a3);
  const timeoutMs = Number(a4);
  await alive('start');
  // A head never finished (a byte of header every 300 ms): cut at the head deadline.
  const c = await openConn();
  const t0 = Date.now();
  c.s.write('GET /ext-authz/nodes HTTP/1.1\r\nHost: api.example\r\nX-Slow: ');
  const drip = setInterval(() => { if (!c.closedAt) c.s.write('a'); }, 300);
  await alive('a slow head began (another connection is served meanwhile)');
  while (!c.closedAt && Date.now() - t0 < timeoutMs + 8000) await sleep(50);
  clearInterval(drip);
  const took = (c.closedAt || Date.now()) - t0;
  // the documented deadline plus the watchdog's tick and a loaded machine's slack
  expect(`slow head cut after ${took} ms (deadline ${timeoutMs} ms)`,
    c.closedAt && took >= timeoutMs - 100 && took <= timeoutMs + 4000, { took });
  c.s.destroy();
  await alive('a slow head');

  // The connection bound: the listener's max_connections idle connections are held; the next
  // ones are closed at once without an answer; when the held ones go, a request passes.
  // The connections of the cases before are closed by the listener's threads a moment after
  // the client lets them go; one still counted then takes a held connection's place (and a
  // loaded machine makes that moment longer). So each attempt starts after a pause, and is made
  // again, at most three times, when a held connection was refused: a listener that breaks the
  // bound fails every attempt.
  let held = [];
  let extra = [];
  let t1 = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    await sleep(500);
    held = [];
    extra = [];
    for (let i = 0; i < maxConn; i++) held.push(await openConn());
    await sleep(300);
    for (let i = 0; i < 4; i++) extra.push(await openConn());
    t1 = Date.now();
    while (extra.some((e) => !e.closedAt) && Date.now() - t1 < 3000) await sleep(50);
    if (held.every((h) => !h.closedAt)) break;
    console.log(`note: attempt ${attempt + 1}: a held connection was refused; again`);
    for (const h of held) h.s.destroy();
    for (const e of extra) e.s.destroy();
  }
  expect(`connections over the bound (${maxConn}) closed at once, unanswered`,
    extra.every((e) => e.closedAt && e.data === 0 && e.closedAt - t1 < 3000),
    extra.map((e) => ({ closed: !!e.closedAt, data: e.data })));
  expect('the held connections were not closed early', held.every((h) => !h.closedAt), null);
  for (const h of held) h.s.destroy();
  for (const e of extra) e.s.destroy();
  // the listener notices the closes on its own threads: give it a moment, then ask
  let r;
  for (let i = 0; i < 40; i++) {
    r = await get('/nodes', bearer(token));
    if (r.status === 200) break;
    await sleep(100);
  }
  expect('a request passes once the held connections are gone', r.status === 200, { status: r.status });
}

// ------------------------------------------------------------------------------------------
// gRPC

async function grpcCases() {
  const { default: grpc } = await import('@grpc/grpc-js');
  const protoLoader = await import('@grpc/proto-loader');
  const protoDir = a3;
  const target = `127.0.0.1:${port}`;
  const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true, enums: String, longs: Number, defaults: false, oneofs: true,
    includeDirs: [protoDir],
  });
  const pkg = grpc.loadPackageDefinition(def);
  const Authorization = pkg.envoy.service.auth.v3.Authorization;
  const client = new Authorization(target, grpc.credentials.createInsecure());
  const request = (path, headers, headerMap = null) => {
    const http = { id: '1', method: 'GET', path, host: 'api.example', scheme: 'http',
      protocol: 'HTTP/1.1' };
    if (headerMap) {
      http.header_map = { headers: headerMap.map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) };
    } else {
      http.headers = { ':authority': 'api.example', ':method': 'GET', ':path': path, ...headers };
    }
    return { attributes: { source: { address: { socket_address: { address: '10.0.0.7',
      port_value: 51000 } } }, request: { http } } };
  };
  const call = (req, metadata = new grpc.Metadata()) => new Promise((resolve) => {
    client.Check(req, metadata, { deadline: Date.now() + 10000 }, (err, res) => resolve({ err, res }));
  });
  const Raw = grpc.makeGenericClientConstructor({}, 'Raw');
  const raw = new Raw(target, grpc.credentials.createInsecure());
  const rawCall = (bytes) => new Promise((resolve) => {
    raw.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', (b) => b, (b) => b, bytes,
      { deadline: Date.now() + 10000 }, (err, res) => resolve({ err, res }));
  });
  const auth = (t) => ({ authorization: `Bearer ${t}` });
  const code = (g) => (g.err ? `call ${g.err.code}` : g.res.status?.code ?? 0);
  const isAllow = (g) => !g.err && g.res && !g.res.status?.code && g.res.http_response === 'ok_response';
  const okHeader = (g, name) => (g.res.ok_response.headers || [])
    .filter((h) => h.header.key.toLowerCase() === name).map((h) => h.header.value);
  async function alive(after) {
    const g = await call(request('/nodes', auth(token)));
    const a = isAllow(g) ? okHeader(g, 'authorization') : [];
    expect(`grpc alive after ${after}`, a.length === 1 && a[0].startsWith('Bearer ')
      && a[0] !== `Bearer ${token}`, code(g));
  }
  // A deny inside an OK call with status.code WANT (16, 7, 3) and the HTTP status.
  function denied(name, g, want, httpStatus) {
    expect(name, !g.err && g.res.status?.code === want && g.res.http_response === 'denied_response'
      && g.res.denied_response.status.code === httpStatus, g.err ? g.err.message : g.res.status);
  }
  const callErr = (name, g, want) => expect(name, g.err?.code === want, g.err ? g.err.code : 'an answer');
  await alive('start');

  // --- forged x-tokensmith-*: set with overwrite, the others removed; no token: 16
  const forged = { 'x-tokensmith-subject': 'admin', 'x-tokensmith-roles': 'admin',
    'x-tokensmith-policy-version': '0', 'x-tokensmith-other': '1' };
  let g = await call(request('/nodes', { ...auth(token), ...forged }));
  expect('grpc forged x-tokensmith-*: overwritten, the others in headers_to_remove', isAllow(g)
    && okHeader(g, 'x-tokensmith-subject').join() === 'alice'
    && okHeader(g, 'x-tokensmith-roles').join() === 'viewer'
    && g.res.ok_response.headers.every((h) => h.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD'
      && h.append && !h.append.value)
    && g.res.ok_response.headers_to_remove.includes('x-tokensmith-other')
    && !g.res.ok_response.headers_to_remove.includes('x-tokensmith-subject'),
  g.err ? g.err.message : g.res);
  g = await call(request('/nodes', forged));
  denied('grpc forged x-tokensmith-* without a token: UNAUTHENTICATED 401', g, 16, 'Unauthorized');
  await alive('forged headers');

  // --- two Authorization headers, as Envoy would send them: joined in the map, two map lines
  g = await call(request('/nodes', { authorization: `Bearer ${token},Bearer ${token}` }));
  denied('grpc two Authorization (joined): INVALID_ARGUMENT 400', g, 3, 'BadRequest');
  g = await call(request('/nodes', null, [['authorization', `Bearer ${token}`],
    ['authorization', `Bearer ${token}`], ['host', 'api.example']]));
  denied('grpc two Authorization (header_map lines): INVALID_ARGUMENT 400', g, 3, 'BadRequest');
  await alive('two Authorization headers');

  // --- header floods: in the CheckRequest (a deny 400 within the message bound,
  // RESOURCE_EXHAUSTED beyond it) and in the call's own HTTP/2 headers (the stream is reset)
  const many = (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-flood-${i}`, 'v']));
  // 150 ordinary headers: over limits.max_headers, a deny 400. 2,000 tiny ones cost more
  // decoded than 8 times their bytes (docs/gateway.md, the decoding cap): a malformed call.
  const ordinary = Object.fromEntries(Array.from({ length: 150 },
    (_, i) => [`x-flood-${i}`, `value-${i}-abcdefghijklmnop`]));
  g = await call(request('/nodes', { ...auth(token), ...ordinary }));
  denied('grpc 150 headers in the CheckRequest: 400', g, 3, 'BadRequest');
  g = await call(request('/nodes', { ...auth(token), ...many(2000) }));
  callErr('grpc 2,000 tiny headers in the CheckRequest: INVALID_ARGUMENT', g, grpc.status.INVALID_ARGUMENT);
  g = await call(request('/nodes', { ...auth(token), ...many(10000) }));
  callErr('grpc 10,000 headers in the CheckRequest: RESOURCE_EXHAUSTED', g, grpc.status.RESOURCE_EXHAUSTED);
  g = await call(request('/nodes', { ...auth(token), 'x-big': 'b'.repeat(40000) }));
  denied('grpc a 40 KB header in the CheckRequest: 400', g, 3, 'BadRequest');
  g = await call(request('/nodes', { ...auth(token), 'x-big': 'b'.repeat(65536) }));
  callErr('grpc a 64 KiB header in the CheckRequest: RESOURCE_EXHAUSTED', g, grpc.status.RESOURCE_EXHAUSTED);
  const md = new grpc.Metadata();
  for (let i = 0; i < 10000; i++) md.add(`x-flood-${i}`, 'v');
  g = await call(request('/nodes', auth(token)), md);
  expect('grpc 10,000 HTTP/2 header fields on the call: refused, not answered', !!g.err, code(g));
  const md2 = new grpc.Metadata();
  md2.add('x-big', 'b'.repeat(65536));
  g = await call(request('/nodes', auth(token)), md2);
  expect('grpc a 64 KiB HTTP/2 header field on the call: refused, not answered', !!g.err, code(g));
  await alive('header floods');

  // --- huge paths
  g = await call(request(`/nodes/${'a'.repeat(5 * 1024)}`, auth(token)));
  denied('grpc 5 KiB path: 400', g, 3, 'BadRequest');
  g = await call(request(`/nodes/${'a'.repeat(64 * 1024)}`, auth(token)));
  callErr('grpc 64 KiB path: RESOURCE_EXHAUSTED', g, grpc.status.RESOURCE_EXHAUSTED);
  await alive('huge paths');

  // --- encoded traversal (as over HTTP)
  const statusOf = { 0: 200, 3: 400, 7: 403, 16: 401 };
  const cases = [
    ['/public/%2e%2e/secret', 403, true], ['/public/..%2Fsecret', 400, true],
    ['/secret%00', 400, true], ['//secret', 403, true], ['/./secret', 403, true],
    ['/public/%252e%252e/secret', 400, true], ['/nodes/..%2Fsecret', 400, true],
    ['/nodes/%2e%2e/secret', 403, true], ['//nodes', 200, true], ['/public/%2e%2e/nodes', 200, true],
    ['/public/%2e%2e/secret', 401, false], ['/public/..%2Fsecret', 400, false],
    ['/public/x', 200, false],
  ];
  for (const [path, want, withToken] of cases) {
    g = await call(request(path, withToken ? auth(token) : {}));
    const got = g.err ? `call ${g.err.code}` : statusOf[g.res.status?.code ?? 0];
    expect(`grpc ${withToken ? 'token' : 'no token'}, ${path}: ${want}`, got === want
      && (want === 200) === isAllow(g), got);
  }
  await alive('encoded traversal');

  // --- another audience
  g = await call(request('/nodes', auth(other)));
  denied('grpc another audience: UNAUTHENTICATED 401', g, 16, 'Unauthorized');
  expect('grpc another audience: invalid_token', !g.err && g.res.denied_response.headers
    .some((h) => h.header.key === 'www-authenticate' && /error="invalid_token"/.test(h.header.value)), null);

  // --- the message bound, garbage, a non-gRPC content-type
  let rr = await rawCall(Buffer.alloc(70000, 0x0a));
  callErr('grpc a message over 64 KiB: RESOURCE_EXHAUSTED', rr, grpc.status.RESOURCE_EXHAUSTED);
  rr = await rawCall(Buffer.from([0xff, 0xff, 0xff, 0x00, 0x13, 0x37]));
  callErr('grpc garbage bytes: INVALID_ARGUMENT', rr, grpc.status.INVALID_ARGUMENT);
  const ct = await h2Post('application/json', Buffer.from('{}'));
  expect('grpc content-type application/json: HTTP 415, grpc-status 13', ct.status === 415
    && ct.grpcStatus === '13', ct);
  await alive('message bound, garbage, content-type');

  // --- many streams on one connection beyond SETTINGS_MAX_CONCURRENT_STREAMS (100)
  const st = await streamFlood(150);
  // nghttp2 resets each stream over the bound (REFUSED_STREAM) before our SETTINGS are
  // acknowledged, and after that ends the connection (GOAWAY PROTOCOL_ERROR) without processing
  // any stream past the 100th (id 199)
  expect(`grpc ${st.sent} streams opened at once: those over 100 refused (${st.reset} RST_STREAM, `
    + `GOAWAY ${st.goaway ? `code ${st.goawayCode}, last stream ${st.lastStream}` : 'none'}), none answered`,
  (st.reset >= st.sent - 100 || (st.goaway && st.lastStream <= 199)) && st.answered === 0, st);
  await alive('a stream flood');
  client.close();
  raw.close();
}

// One POST on node's http2 client: {status, grpcStatus}.
function h2Post(contentType, body) {
  return new Promise((resolve) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.on('error', (e) => resolve({ error: e.message }));
    const req = s.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check',
      'content-type': contentType, te: 'trailers' });
    const out = { status: 0, grpcStatus: null };
    req.on('response', (h) => { out.status = h[':status']; out.grpcStatus = h['grpc-status'] ?? null; });
    req.on('trailers', (t) => { out.grpcStatus = out.grpcStatus ?? t['grpc-status']; });
    req.on('error', (e) => { out.error = e.message; });
    req.on('close', () => { s.close(); resolve(out); });
    req.end(body);
  });
}

// HTTP/2 by hand: the preface, SETTINGS, then N request HEADERS frames without END_STREAM
// (calls whose message never comes), HPACK literals without indexing. Counts the server's
// RST_STREAM frames, GOAWAY and HEADERS (an answer) for the streams over 100.
function frame(type, flags, stream, payload) {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(stream, 5);
  payload.copy(b, 9);
  return b;
}
function hpackInt(n, prefixBits, first) {
  const max = (1 << prefixBits) - 1;
  if (n < max) return [first | n];
  const out = [first | max];
  n -= max;
  while (n >= 128) { out.push((n % 128) + 128); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
function hpackLiteral(name, value) {
  return Buffer.concat([Buffer.from([0x00]), Buffer.from(hpackInt(name.length, 7, 0)), Buffer.from(name),
    Buffer.from(hpackInt(value.length, 7, 0)), Buffer.from(value)]);
}
function streamFlood(n) {
  return new Promise((resolve) => {
    const out = { sent: n, reset: 0, goaway: false, lastStream: 0, goawayCode: 0, answered: 0,
      closed: false };
    const s = net.connect(Number(port), '127.0.0.1');
    let buf = Buffer.alloc(0);
    let sentAll = false;
    const block = Buffer.concat([[':method', 'POST'], [':scheme', 'http'],
      [':path', '/envoy.service.auth.v3.Authorization/Check'], [':authority', 'gw'],
      ['content-type', 'application/grpc'], ['te', 'trailers']].map(([k, v]) => hpackLiteral(k, v)));
    const finish = () => { clearTimeout(timer); s.destroy(); resolve(out); };
    const timer = setTimeout(finish, 3000);
    s.on('error', () => {});
    s.on('close', () => { out.closed = true; finish(); });
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3];
        const flags = buf[4];
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + len);
        buf = buf.subarray(9 + len);
        if (type === 4 && !(flags & 1)) {
          s.write(frame(4, 1, 0, Buffer.alloc(0))); // ack the server's SETTINGS
          if (!sentAll) {
            sentAll = true;
            const frames = [];
            for (let i = 0; i < n; i++) frames.push(frame(1, 4, 2 * i + 1, block)); // END_HEADERS
            s.write(Buffer.concat(frames));
          }
        } else if (type === 3 && id > 199) {
          out.reset++;
        } else if (type === 7 && len >= 8) {
          out.goaway = true;
          out.lastStream = payload.readUInt32BE(0) & 0x7fffffff;
          out.goawayCode = payload.readUInt32BE(4);
        } else if (type === 1 && id > 199) {
          out.answered++;
        }
      }
    });
    s.on('connect', () => {
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))]));
    });
  });
}

if (mode === 'http') await httpCases();
else if (mode === 'slow') await slowCases();
else if (mode === 'grpc') await grpcCases();
else { console.log(`FAIL unknown mode ${mode}`); failed = true; }
process.exit(failed ? 1 : 0);
