#!/usr/bin/env node
// node_casbin_bench: the shapes of bench/authz_bench.c through node-casbin (npm casbin 5.51.1),
// `await e.enforce(...)`, warm-up then the median of several timed runs. JSON lines on stdout.
//
// usage: node bench/node_casbin_bench.js [--min-time SECONDS] [--runs N] [--shape NAME]
//
// Model and policy texts are those of casbin/casbin examples/ (Apache License 2.0, Copyright
// The Casbin Authors), the same as in authz_bench.c.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..');
const casbin = require(require.resolve('casbin', { paths: [repoRoot] }));

const basicModel = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.obj == p.obj && r.act == p.act
`;
const basicPolicy = 'p, alice, data1, read\np, bob, data2, write\n';

const rbacModel = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`;
const rbacPolicy = `p, alice, data1, read
p, bob, data2, write
p, data2_admin, data2, read
p, data2_admin, data2, write
g, alice, data2_admin
`;

const domainsModel = `[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
`;
const domainsPolicy = `p, admin, domain1, data1, read
p, admin, domain1, data1, write
p, admin, domain2, data2, read
p, admin, domain2, data2, write
g, alice, admin, domain1
g, bob, admin, domain2
`;

const keymatchModel = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && keyMatch(r.obj, p.obj) && regexMatch(r.act, p.act)
`;
const keymatchPolicy = `p, alice, /alice_data/*, GET
p, alice, /alice_data/resource1, POST

p, bob, /alice_data/resource2, GET
p, bob, /bob_data/*, POST

p, cathy, /cathy_data, (GET)|(POST)
`;

const denyModel = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, eft

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`;
const denyPolicy = `p, alice, data1, read, allow
p, bob, data2, write, allow
p, data2_admin, data2, read, allow
p, data2_admin, data2, write, allow
p, alice, data2, write, deny

g, alice, data2_admin
`;

const priorityModel = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act, eft

[role_definition]
g = _, _

[policy_effect]
e = priority(p.eft) || deny

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
`;
const priorityPolicy = `p, alice, data1, read, allow
p, data1_deny_group, data1, read, deny
p, data1_deny_group, data1, write, deny
p, alice, data1, write, allow

g, alice, data1_deny_group

p, data2_allow_group, data2, read, allow
p, bob, data2, read, deny
p, bob, data2, write, deny

g, bob, data2_allow_group
`;

function rbacSized(roles, users) {
  const lines = [];
  for (let i = 0; i < roles; i++) lines.push(`p, group${i}, data${Math.floor(i / 10)}, read`);
  for (let i = 0; i < users; i++) lines.push(`g, user${i}, group${Math.floor(i / 10)}`);
  return lines.join('\n') + '\n';
}

const SHAPES = [
  { name: 'acl', model: basicModel, policy: () => basicPolicy, req: ['alice', 'data1', 'read'], expect: true },
  { name: 'rbac', model: rbacModel, policy: () => rbacPolicy, req: ['alice', 'data2', 'read'], expect: true },
  { name: 'rbac_small', model: rbacModel, policy: () => rbacSized(100, 1000), req: ['user501', 'data9', 'read'], expect: false },
  { name: 'rbac_medium', model: rbacModel, policy: () => rbacSized(1000, 10000), req: ['user5001', 'data99', 'read'], expect: false },
  { name: 'rbac_large', model: rbacModel, policy: () => rbacSized(10000, 100000), req: ['user50001', 'data999', 'read'], expect: false },
  { name: 'rbac_domains', model: domainsModel, policy: () => domainsPolicy, req: ['alice', 'domain1', 'data1', 'read'], expect: true },
  { name: 'keymatch', model: keymatchModel, policy: () => keymatchPolicy, req: ['alice', '/alice_data/resource1', 'GET'], expect: true },
  { name: 'deny_override', model: denyModel, policy: () => denyPolicy, req: ['alice', 'data1', 'read'], expect: true },
  { name: 'priority', model: priorityModel, policy: () => priorityPolicy, req: ['alice', 'data1', 'read'], expect: true },
];

function parseArgs(argv) {
  const o = { minTime: 0.5, runs: 5, shape: null };
  for (let i = 2; i < argv.length; i++) {
    if (argv[i] === '--min-time') o.minTime = parseFloat(argv[++i]);
    else if (argv[i] === '--runs') o.runs = parseInt(argv[++i], 10);
    else if (argv[i] === '--shape') o.shape = argv[++i];
    else {
      console.error('usage: node_casbin_bench.js [--min-time SECONDS] [--runs N] [--shape NAME]');
      process.exit(2);
    }
  }
  return o;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function timeIters(e, req, iters) {
  const t0 = now();
  for (let i = 0; i < iters; i++) await e.enforce(...req);
  return now() - t0;
}

async function benchShape(s, opts, tmp) {
  // Files and the file adapter, as Go's load path does; node's addPolicies checks each rule
  // against all others, which would make the large shapes take minutes to set up.
  const modelPath = path.join(tmp, `${s.name}.conf`);
  const policyPath = path.join(tmp, `${s.name}.csv`);
  fs.writeFileSync(modelPath, s.model);
  fs.writeFileSync(policyPath, s.policy());
  const t0 = now();
  const e = await casbin.newEnforcer(modelPath, policyPath);
  const buildMs = (now() - t0) * 1e3;
  const got = await e.enforce(...s.req);
  if (got !== s.expect) throw new Error(`${s.name}: expected ${s.expect}, got ${got}`);
  let iters = 1;
  for (;;) {
    const t = await timeIters(e, s.req, iters);
    if (t >= opts.minTime) break;
    let scale = t > 0 ? (opts.minTime * 1.1) / t : 100;
    scale = Math.min(100, Math.max(2, scale));
    iters = Math.ceil(iters * scale);
  }
  const runs = [];
  for (let r = 0; r < opts.runs; r++) runs.push(((await timeIters(e, s.req, iters)) * 1e9) / iters);
  const sorted = runs.slice().sort((a, b) => a - b);
  const rules = (await e.getPolicy()).length + (await e.getGroupingPolicy()).length;
  console.log(JSON.stringify({
    engine: 'node-casbin', version: require(require.resolve('casbin/package.json', { paths: [repoRoot] })).version,
    shape: s.name, rules, request: s.req.join(','), result: got, iterations: iters,
    runs_ns: runs.map((x) => Math.round(x * 10) / 10), ns_per_op: Math.round(sorted[Math.floor(sorted.length / 2)] * 10) / 10,
    build_ms: Math.round(buildMs * 100) / 100,
  }));
}

async function main() {
  const opts = parseArgs(process.argv);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-node-bench-'));
  try {
    for (const s of SHAPES) if (!opts.shape || opts.shape === s.name) await benchShape(s, opts, tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
