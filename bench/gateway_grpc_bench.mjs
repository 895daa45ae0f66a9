// The gateway's gRPC listener under load, from a real gRPC client: node @grpc/grpc-js with
// @grpc/proto-loader on the gateway's own .proto files (as tests/gateway/grpc_client.mjs), Envoy-
// style CheckRequests for GET /nodes with one bearer token, so that after the first call every
// check is a translation cache hit. CONCURRENCY calls are kept in flight on one channel (one
// HTTP/2 connection, as one Envoy worker's cluster connection) for SECONDS, ROUNDS times.
// Every answer must be an allow (status code 0 and a translated Authorization), or it counts as
// an error.
//
// Reports one JSON line per round and a summary (medians): checks/s, p50/p99 latency, this
// client's own CPU per check and as a share of one core (node is single-threaded: at ~100% the
// client, not the gateway, is the limit), and the gateway's CPU per check from
// /proc/PID/stat. Never prints the token.
//
// Usage: node bench/gateway_grpc_bench.mjs --port P --proto DIR --token FILE --gateway-pid PID
//          [--seconds 3] [--rounds 5] [--concurrency 64] [--clk-tck 100]
import fs from 'node:fs';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const args = { seconds: 3, rounds: 5, concurrency: 64, 'clk-tck': 100 };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in args) && !['port', 'proto', 'token', 'gateway-pid'].includes(k)) {
    console.error(`unknown option ${process.argv[i]}`);
    process.exit(2);
  }
  args[k] = process.argv[i + 1];
}
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const concurrency = Number(args.concurrency);
const clkTck = Number(args['clk-tck']);
const pid = args['gateway-pid'];
if (!args.port || !args.proto || !args.token || !pid) {
  console.error('usage: gateway_grpc_bench.mjs --port P --proto DIR --token FILE --gateway-pid PID ...');
  process.exit(2);
}

const def = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
  keepCase: true, enums: String, longs: Number, defaults: false, oneofs: true,
  includeDirs: [args.proto],
});
const Authorization = grpc.loadPackageDefinition(def).envoy.service.auth.v3.Authorization;
const client = new Authorization(`127.0.0.1:${args.port}`, grpc.credentials.createInsecure());
const token = fs.readFileSync(args.token, 'utf8').trim();
const request = {
  attributes: {
    source: { address: { socket_address: { address: '10.0.0.7', port_value: 51000 } } },
    request: {
      http: {
        id: '1', method: 'GET', path: '/nodes', host: 'api.example', scheme: 'http',
        protocol: 'HTTP/1.1',
        headers: {
          ':authority': 'api.example', ':method': 'GET', ':path': '/nodes',
          authorization: `Bearer ${token}`,
        },
      },
    },
  },
};

// CPU seconds (user + system, every thread) of the gateway.
function gatewayCpu() {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / clkTck;
}

const allowed = (res) => res && !(res.status && res.status.code) && res.ok_response
  && res.ok_response.headers.some((h) => h.header.key.toLowerCase() === 'authorization'
    && h.header.value.startsWith('Bearer ') && h.header.value !== `Bearer ${token}`);

// Keep `concurrency` calls in flight until `ms` have passed; resolve with the latencies (µs).
function run(ms) {
  return new Promise((resolve) => {
    const lat = [];
    let errors = 0;
    let inFlight = 0;
    const end = Date.now() + ms;
    const start = () => {
      inFlight++;
      const t0 = process.hrtime.bigint();
      client.Check(request, { deadline: Date.now() + 10000 }, (err, res) => {
        inFlight--;
        if (!err && allowed(res)) lat.push(Number(process.hrtime.bigint() - t0) / 1000);
        else errors++;
        if (Date.now() < end) start();
        else if (inFlight === 0) resolve({ lat, errors });
      });
    };
    for (let i = 0; i < concurrency; i++) start();
  });
}

const pct = (v, p) => (v.length ? v[Math.min(v.length, Math.max(1, Math.ceil(p * v.length))) - 1] : 0);
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n ? (n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) : 0;
};

const first = await run(1); // one call per slot: the token's translation is cached from here on
if (first.errors) {
  console.error(`gateway_grpc_bench: ${first.errors} of the first calls were not allowed`);
  process.exit(1);
}
await run(1000); // warm-up
const results = [];
for (let r = 0; r < rounds; r++) {
  const g0 = gatewayCpu();
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  const { lat, errors } = await run(seconds * 1000);
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  const c = process.cpuUsage(c0);
  const g = gatewayCpu() - g0;
  lat.sort((a, b) => a - b);
  const n = lat.length || 1;
  const row = {
    case: 'grpc', round: r, checks: lat.length, errors, seconds: Number(wall.toFixed(3)),
    per_s: Number((lat.length / wall).toFixed(1)),
    p50_ms: Number((pct(lat, 0.5) / 1000).toFixed(3)),
    p99_ms: Number((pct(lat, 0.99) / 1000).toFixed(3)),
    gateway_cpu_us_per_check: Number((g * 1e6 / n).toFixed(2)),
    client_cpu_us_per_check: Number(((c.user + c.system) / n).toFixed(2)),
    client_cpu_share_of_one_core: Number(((c.user + c.system) / 1e6 / wall).toFixed(3)),
  };
  results.push(row);
  console.log(JSON.stringify(row));
}
client.close();
const m = (k) => median(results.map((x) => x[k]));
console.log(JSON.stringify({
  case: 'grpc_summary', rounds, seconds, concurrency, grpc_js: JSON.parse(fs.readFileSync(
    new URL('../node_modules/@grpc/grpc-js/package.json', import.meta.url), 'utf8')).version,
  node: process.version, errors: results.reduce((s, x) => s + x.errors, 0),
  per_s: m('per_s'), p50_ms: m('p50_ms'), p99_ms: m('p99_ms'),
  gateway_cpu_us_per_check: m('gateway_cpu_us_per_check'),
  client_cpu_us_per_check: m('client_cpu_us_per_check'),
  client_cpu_share_of_one_core: m('client_cpu_share_of_one_core'),
}));
process.exit(results.some((x) => x.errors) ? 1 : 0);
