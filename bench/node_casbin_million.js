#!/usr/bin/env node
// node_casbin_million: the shapes of bench/authz_million.c through node-casbin (npm casbin):
// load from a CSV file to a ready enforcer (time and peak RSS, each size in a fresh process)
// and the median decision time of one allowed and one denied request. Sizes grow until a load
// takes longer than --limit seconds; the sizes beyond are reported as skipped.
//
// usage: node bench/node_casbin_million.js [--sizes 100000,300000,1000000] [--limit SECONDS]
//                                          [--min-time SECONDS] [--runs N] [--shape rbac|domains]
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..');

const MODELS = {
  rbac: `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`,
  domains: `[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
`,
};

// The same rules as authz_million.c (variant 0): one tenth p rules, nine tenths g rules.
function sizes(rules) {
  const p = Math.max(10, Math.floor(rules / 10));
  return { p, g: rules - p, dom: Math.floor(p / 10) };
}

function writePolicy(shape, rules, file) {
  const z = sizes(rules);
  const fd = fs.openSync(file, 'w');
  let buf = [];
  const flush = () => {
    fs.writeSync(fd, buf.join(''));
    buf = [];
  };
  if (shape === 'rbac') {
    for (let i = 0; i < z.p; i++) buf.push(`p, group${i}, data${Math.floor(i / 10)}, read\n`);
    for (let j = 0; j < z.g; j++) {
      buf.push(`g, user${j}, group${Math.floor(j / 9) % z.p}\n`);
      if (buf.length > 65536) flush();
    }
  } else {
    for (let d = 0; d < z.dom; d++)
      for (let k = 0; k < 10; k++) buf.push(`p, role${k}, dom${d}, data${k}, read\n`);
    for (let j = 0; j < z.g; j++) {
      buf.push(`g, user${j}, role${Math.floor(j / z.dom) % 10}, dom${j % z.dom}\n`);
      if (buf.length > 65536) flush();
    }
  }
  flush();
  fs.closeSync(fd);
}

// A user in the middle of the policy: one request allowed, one denied (as authz_million.c).
function requests(shape, rules) {
  const z = sizes(rules);
  const j = Math.floor(z.g / 2);
  if (shape === 'rbac') {
    const d = Math.floor((Math.floor(j / 9) % z.p) / 10);
    const nd = (d + 1) % Math.floor(z.p / 10);
    return [[`user${j}`, `data${d}`, 'read'], [`user${j}`, `data${nd}`, 'read']];
  }
  const k = Math.floor(j / z.dom) % 10;
  const dom = `dom${j % z.dom}`;
  return [[`user${j}`, dom, `data${k}`, 'read'], [`user${j}`, dom, `data${(k + 1) % 10}`, 'read']];
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function timeIters(e, req, iters) {
  const t0 = now();
  for (let i = 0; i < iters; i++) await e.enforce(...req);
  return now() - t0;
}

async function p50(e, req, minTime, runs) {
  let iters = 1;
  for (;;) {
    const t = await timeIters(e, req, iters);
    if (t >= minTime) break;
    let scale = t > 0 ? (minTime * 1.1) / t : 100;
    scale = Math.min(100, Math.max(2, scale));
    iters = Math.ceil(iters * scale);
  }
  const ns = [];
  for (let r = 0; r < runs; r++) ns.push(((await timeIters(e, req, iters)) * 1e9) / iters);
  ns.sort((a, b) => a - b);
  return Math.round(ns[Math.floor(ns.length / 2)] * 10) / 10;
}

// One size in this process (spawned by main): load, check, time, print one JSON line.
async function one(shape, rules, dir, minTime, runs) {
  const casbin = require(require.resolve('casbin', { paths: [repoRoot] }));
  const modelPath = path.join(dir, `${shape}.conf`);
  const policyPath = path.join(dir, `${shape}_${rules}.csv`);
  const t0 = now();
  const e = await casbin.newEnforcer(modelPath, policyPath);
  const loadMs = (now() - t0) * 1e3;
  const peakKib = process.resourceUsage().maxRSS;
  const [yes, no] = requests(shape, rules);
  if ((await e.enforce(...yes)) !== true || (await e.enforce(...no)) !== false)
    throw new Error(`${shape} ${rules}: wrong answers`);
  const allowNs = await p50(e, yes, minTime, runs);
  const denyNs = await p50(e, no, minTime, runs);
  console.log(JSON.stringify({
    engine: 'node-casbin',
    version: require(require.resolve('casbin/package.json', { paths: [repoRoot] })).version,
    shape, rules, load_ms: Math.round(loadMs * 10) / 10, peak_rss_kib: peakKib,
    allow_ns: allowNs, deny_ns: denyNs,
  }));
}

function parseArgs(argv) {
  const o = { sizes: [100000, 300000, 1000000], limit: 60, minTime: 0.3, runs: 5, shape: null };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--sizes') o.sizes = argv[++i].split(',').map((x) => parseInt(x, 10));
    else if (argv[i] === '--limit') o.limit = parseFloat(argv[++i]);
    else if (argv[i] === '--min-time') o.minTime = parseFloat(argv[++i]);
    else if (argv[i] === '--runs') o.runs = parseInt(argv[++i], 10);
    else if (argv[i] === '--shape') o.shape = argv[++i];
    else if (argv[i] === '--one') o.one = argv.slice(i + 1, i + 4); // shape rules dir
    else if (o.one) continue;
    else {
      console.error('usage: node_casbin_million.js [--sizes N,N] [--limit SECONDS] ' +
        '[--min-time SECONDS] [--runs N] [--shape rbac|domains]');
      process.exit(2);
    }
    if (o.one) break;
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv);
  if (o.one) {
    await one(o.one[0], parseInt(o.one[1], 10), o.one[2], o.minTime, o.runs);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-node-million-'));
  try {
    for (const shape of Object.keys(MODELS)) {
      if (o.shape && o.shape !== shape) continue;
      fs.writeFileSync(path.join(dir, `${shape}.conf`), MODELS[shape]);
      let over = false;
      for (const rules of o.sizes) {
        if (over) {
          console.log(JSON.stringify({ engine: 'node-casbin', shape, rules, skipped: `a smaller size took over ${o.limit} s` }));
          continue;
        }
        const file = path.join(dir, `${shape}_${rules}.csv`);
        writePolicy(shape, rules, file);
        // The limit bounds the load and the timing runs; node gets the heap it asks for.
        const r = spawnSync(process.execPath, ['--max-old-space-size=8192', __filename,
          '--min-time', String(o.minTime), '--runs', String(o.runs), '--one', shape, String(rules), dir],
        { encoding: 'utf8', timeout: o.limit * 1000 + 30000 });
        fs.rmSync(file, { force: true });
        const line = (r.stdout || '').trim();
        if (r.status !== 0 || !line) {
          console.log(JSON.stringify({ engine: 'node-casbin', shape, rules,
            skipped: r.error && r.error.code === 'ETIMEDOUT' ? `over ${o.limit} s` : `failed: ${(r.stderr || '').trim().split('\n').pop()}` }));
          over = true;
          continue;
        }
        console.log(line);
        if (JSON.parse(line).load_ms > o.limit * 1000) over = true;
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
