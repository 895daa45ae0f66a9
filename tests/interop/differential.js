#!/usr/bin/env node
// Differential test: `tokensmith policy check` against node-casbin (npm casbin 5.51.1).
//
// Random but deterministic (fixed seeds) models, policies and requests are generated for the
// model kinds where node-casbin and Go casbin agree (see docs/cli.md and the Casbin reference:
// no `in` after `||`, no malformed keyMatch2 patterns, no empty eft, no trailing spaces in CSV,
// no cycles in role graphs without domains, no role-name patterns, priority only from files).
// Both engines decide every request; any difference is printed and the exit status is 1.
//
// usage: node tests/interop/differential.js --tokensmith PATH [--seeds N] [--requests N]
//                                            [--keep] [--verbose]
// exit: 0 all agree, 1 mismatch or failure, 77 node-casbin not installed (run `npm ci`).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const SKIP = 77;
const repoRoot = path.resolve(__dirname, '..', '..');

function parseArgs(argv) {
  const o = { tokensmith: null, seeds: 10, requests: 500, keep: false, verbose: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--tokensmith') o.tokensmith = argv[++i];
    else if (a === '--seeds') o.seeds = parseInt(argv[++i], 10);
    else if (a === '--requests') o.requests = parseInt(argv[++i], 10);
    else if (a === '--keep') o.keep = true;
    else if (a === '--verbose') o.verbose = true;
    else {
      console.error(`differential.js: unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!o.tokensmith) {
    console.error('differential.js: --tokensmith PATH is required');
    process.exit(2);
  }
  return o;
}

let casbin;
try {
  casbin = require(require.resolve('casbin', { paths: [repoRoot] }));
} catch (e) {
  console.log(`SKIP: node-casbin not installed under ${repoRoot}/node_modules (run \`npm ci\` ` +
              `at the repository root): ${e.message.split('\n')[0]}`);
  process.exit(SKIP);
}

// mulberry32: small, fast and the same on every platform.
function makeRng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    chance: (p) => next() < p,
  };
}

// ---------------------------------------------------------------------------------------------
// Generators. Each returns { model, policy: [csv lines], requests: [[fields]], explain }.

// A role hierarchy as a DAG: users at level 0, roles at levels 1..depth, and every edge goes to
// a higher level, so there is no cycle. With domains, edges carry a domain.
function genHierarchy(rng, { domains = null, allowBackEdges = false } = {}) {
  const depth = rng.int(1, 5);
  const users = [];
  const nUsers = rng.int(3, 25);
  for (let i = 0; i < nUsers; i++) users.push(`u${i}`);
  const levels = [users];
  for (let l = 1; l <= depth; l++) {
    const n = rng.int(1, 5);
    const roles = [];
    for (let j = 0; j < n; j++) roles.push(`r${l}_${j}`);
    levels.push(roles);
  }
  const edges = new Set();
  const g = [];
  const addEdge = (child, parent, dom) => {
    const key = dom ? `${child},${parent},${dom}` : `${child},${parent}`;
    if (edges.has(key) || child === parent) return;
    edges.add(key);
    g.push(dom ? `g, ${child}, ${parent}, ${dom}` : `g, ${child}, ${parent}`);
  };
  for (let l = 0; l < depth; l++) {
    for (const child of levels[l]) {
      const nParents = rng.int(0, 2);
      for (let k = 0; k < nParents; k++) {
        // Mostly the next level, sometimes a jump, so that paths of every length appear.
        const pl = rng.chance(0.7) ? l + 1 : rng.int(l + 1, depth);
        const dom = domains ? rng.pick(domains) : null;
        addEdge(child, rng.pick(levels[pl]), dom);
      }
    }
  }
  if (allowBackEdges && domains) {
    // Role graphs with domains may hold cycles in Go v3 and in node; reachability must agree.
    const n = rng.int(0, 2);
    for (let k = 0; k < n && depth >= 2; k++) {
      const hi = rng.int(2, depth);
      const lo = rng.int(1, hi - 1);
      addEdge(rng.pick(levels[hi]), rng.pick(levels[lo]), rng.pick(domains));
    }
  }
  const roles = levels.slice(1).flat();
  return { users, roles, g };
}

function subjectFor(rng, h) {
  const r = rng.next();
  if (r < 0.6) return rng.pick(h.users);
  if (r < 0.85) return rng.pick(h.roles);
  return `nobody${rng.int(0, 9)}`;
}

function objects(rng, prefix, lo, hi) {
  const out = [];
  const n = rng.int(lo, hi);
  for (let i = 0; i < n; i++) out.push(`${prefix}${i}`);
  return out;
}

const ACTS = ['read', 'write'];

// Half of the requests aim at a rule: its object and action with a random subject, which is a
// hit when that subject holds the rule's role. The rest are drawn at random (mostly misses).
function aimAt(rng, rules, skip) {
  if (rules.length === 0 || !rng.chance(0.5)) return null;
  return rng.pick(rules).split(', ').slice(1 + skip);
}
const REQ_ACTS = ['read', 'write', 'read', 'write', 'delete'];

function uniqueRules(rng, count, make) {
  const seen = new Set();
  const out = [];
  for (let i = 0; i < count * 3 && out.length < count; i++) {
    const line = make();
    if (!seen.has(line)) {
      seen.add(line);
      out.push(line);
    }
  }
  return out;
}

// A model.conf with one request, policy and role definition; only these lines vary by kind.
function modelText({ r = 'sub, obj, act', p = 'sub, obj, act', g = '_, _', e, m }) {
  return `[request_definition]
r = ${r}

[policy_definition]
p = ${p}

[role_definition]
g = ${g}

[policy_effect]
e = ${e}

[matchers]
m = ${m}
`;
}

const ALLOW = 'some(where (p.eft == allow))';

function genRbac(rng, nReq) {
  const h = genHierarchy(rng);
  const objs = objects(rng, 'data', 2, 12);
  const p = uniqueRules(rng, rng.int(5, 50), () => {
    const sub = rng.chance(0.75) ? rng.pick(h.roles) : rng.pick(h.users);
    return `p, ${sub}, ${rng.pick(objs)}, ${rng.pick(ACTS)}`;
  });
  const requests = [];
  for (let i = 0; i < nReq; i++) {
    const aim = aimAt(rng, p, 0);
    if (aim) {
      requests.push([subjectFor(rng, h), aim[1], aim[2]]);
      continue;
    }
    const obj = rng.chance(0.9) ? rng.pick(objs) : `data${objs.length + rng.int(0, 3)}`;
    requests.push([subjectFor(rng, h), obj, rng.pick(REQ_ACTS)]);
  }
  return {
    model: modelText({
      e: ALLOW,
      m: 'g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act',
    }),
    policy: [...p, ...h.g],
    requests,
    explain: true,
  };
}

function genDomains(rng, nReq) {
  const doms = objects(rng, 'dom', 1, 4);
  const h = genHierarchy(rng, { domains: doms, allowBackEdges: true });
  const objs = objects(rng, 'data', 2, 10);
  const p = uniqueRules(rng, rng.int(5, 50), () => {
    const sub = rng.chance(0.8) ? rng.pick(h.roles) : rng.pick(h.users);
    return `p, ${sub}, ${rng.pick(doms)}, ${rng.pick(objs)}, ${rng.pick(ACTS)}`;
  });
  const requests = [];
  for (let i = 0; i < nReq; i++) {
    const aim = aimAt(rng, p, 0);
    if (aim) {
      requests.push([subjectFor(rng, h), aim[1], aim[2], aim[3]]);
      continue;
    }
    const dom = rng.chance(0.9) ? rng.pick(doms) : 'domX';
    const obj = rng.chance(0.9) ? rng.pick(objs) : 'dataX';
    requests.push([subjectFor(rng, h), dom, obj, rng.pick(REQ_ACTS)]);
  }
  return {
    model: modelText({
      r: 'sub, dom, obj, act',
      p: 'sub, dom, obj, act',
      g: '_, _, _',
      e: ALLOW,
      m: 'g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act',
    }),
    policy: [...p, ...h.g],
    requests,
    explain: true,
  };
}

// keyMatch2 patterns are kept well formed: ':' only right after '/', followed by a name, and '*'
// only as a whole last segment; both engines then build the same regular expression.
const WORDS = ['api', 'res', 'users', 'items', 'posts', 'v1', 'v2', 'files', 'admin'];

function genPattern(rng) {
  const n = rng.int(1, 4);
  let s = '';
  for (let i = 0; i < n; i++) {
    s += rng.chance(0.35) && i > 0 ? `/:p${i}` : `/${rng.pick(WORDS)}`;
  }
  if (rng.chance(0.25)) s += '/*';
  return s;
}

function instantiate(rng, pattern) {
  return pattern
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) return rng.chance(0.5) ? `${rng.int(1, 999)}` : rng.pick(WORDS);
      if (seg === '*') {
        const k = rng.int(0, 2);
        const parts = [];
        for (let i = 0; i < k; i++) parts.push(rng.pick(WORDS));
        return parts.join('/');
      }
      return seg;
    })
    .join('/');
}

function genKeyMatch2(rng, nReq) {
  const h = genHierarchy(rng);
  const patterns = [];
  const np = rng.int(3, 15);
  for (let i = 0; i < np; i++) patterns.push(genPattern(rng));
  const methods = ['GET', 'POST', 'DELETE'];
  const p = uniqueRules(rng, rng.int(5, 40), () => {
    const sub = rng.chance(0.75) ? rng.pick(h.roles) : rng.pick(h.users);
    return `p, ${sub}, ${rng.pick(patterns)}, ${rng.pick(methods)}`;
  });
  const requests = [];
  for (let i = 0; i < nReq; i++) {
    const aim = aimAt(rng, p, 0);
    if (aim) {
      requests.push([subjectFor(rng, h), instantiate(rng, aim[1]), aim[2]]);
      continue;
    }
    let obj;
    const r = rng.next();
    if (r < 0.7) obj = instantiate(rng, rng.pick(patterns));
    else if (r < 0.85) obj = rng.pick(patterns); // the pattern text itself as a path
    else obj = instantiate(rng, genPattern(rng)); // probably a miss
    requests.push([subjectFor(rng, h), obj, rng.pick(methods)]);
  }
  return {
    model: modelText({
      e: ALLOW,
      m: 'g(r.sub, p.sub) && keyMatch2(r.obj, p.obj) && r.act == p.act',
    }),
    policy: [...p, ...h.g],
    requests,
    explain: true,
  };
}

function genDeny(rng, nReq) {
  const h = genHierarchy(rng);
  const objs = objects(rng, 'data', 2, 10);
  const p = uniqueRules(rng, rng.int(5, 50), () => {
    const sub = rng.chance(0.7) ? rng.pick(h.roles) : rng.pick(h.users);
    const eft = rng.chance(0.3) ? 'deny' : 'allow';
    return `p, ${sub}, ${rng.pick(objs)}, ${rng.pick(ACTS)}, ${eft}`;
  });
  const requests = [];
  for (let i = 0; i < nReq; i++) {
    const aim = aimAt(rng, p, 0);
    if (aim) {
      requests.push([subjectFor(rng, h), aim[1], aim[2]]);
      continue;
    }
    const obj = rng.chance(0.9) ? rng.pick(objs) : 'dataX';
    requests.push([subjectFor(rng, h), obj, rng.pick(REQ_ACTS)]);
  }
  return {
    model: modelText({
      p: 'sub, obj, act, eft',
      e: 'some(where (p.eft == allow)) && !some(where (p.eft == deny))',
      m: 'g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act',
    }),
    policy: [...p, ...h.g],
    requests,
    // Node explains the last matching allow rule for this effect, Go the first: compare
    // decisions only.
    explain: false,
  };
}

function genPriority(rng, nReq) {
  const h = genHierarchy(rng);
  const objs = objects(rng, 'data', 2, 8);
  // Distinct priorities of different digit counts, written in random order: loading must sort
  // them numerically (10 after 9), which string order would get wrong.
  const used = new Set();
  const p = uniqueRules(rng, rng.int(5, 50), () => {
    let prio;
    do prio = rng.int(1, 500);
    while (used.has(prio));
    used.add(prio);
    const sub = rng.chance(0.7) ? rng.pick(h.roles) : rng.pick(h.users);
    const eft = rng.chance(0.4) ? 'deny' : 'allow';
    return `p, ${prio}, ${sub}, ${rng.pick(objs)}, ${rng.pick(ACTS)}, ${eft}`;
  });
  const requests = [];
  for (let i = 0; i < nReq; i++) {
    const aim = aimAt(rng, p, 1); // skip the priority field
    if (aim) {
      requests.push([subjectFor(rng, h), aim[1], aim[2]]);
      continue;
    }
    const obj = rng.chance(0.9) ? rng.pick(objs) : 'dataX';
    requests.push([subjectFor(rng, h), obj, rng.pick(REQ_ACTS)]);
  }
  return {
    model: modelText({
      p: 'priority, sub, obj, act, eft',
      e: 'priority(p.eft) || deny',
      m: 'g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act',
    }),
    policy: [...p, ...h.g],
    requests,
    explain: true,
  };
}

const KINDS = [
  { name: 'rbac', gen: genRbac },
  { name: 'rbac_domains', gen: genDomains },
  { name: 'keymatch2_rbac', gen: genKeyMatch2 },
  { name: 'deny_override', gen: genDeny },
  { name: 'priority', gen: genPriority },
];

// ---------------------------------------------------------------------------------------------

function shuffle(rng, arr) {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [arr[i], arr[j]] = [arr[j], arr[i]];
  }
  return arr;
}

async function runCase(opts, tmp, kind, seed) {
  const rng = makeRng(seed * 7919 + kind.name.length * 104729);
  const c = kind.gen(rng, opts.requests);
  const dir = path.join(tmp, `${kind.name}-${seed}`);
  fs.mkdirSync(dir);
  const modelPath = path.join(dir, 'model.conf');
  const policyPath = path.join(dir, 'policy.csv');
  fs.writeFileSync(modelPath, c.model);
  fs.writeFileSync(policyPath, shuffle(rng, c.policy.slice()).join('\n') + '\n');

  const e = await casbin.newEnforcer(modelPath, policyPath);
  const expected = [];
  for (const req of c.requests) {
    try {
      const [ok, rule] = await e.enforceEx(...req);
      let line = ok ? 'true' : 'false';
      if (c.explain && rule && rule.length > 0) line += `\tp, ${rule.join(', ')}`;
      expected.push(line);
    } catch (err) {
      expected.push(`error: ${err.message}`);
    }
  }

  const args = ['policy', 'check', '--model', modelPath, '--policy', policyPath];
  if (c.explain) args.push('--explain');
  const input = c.requests.map((r) => r.join(',')).join('\n') + '\n';
  const res = spawnSync(opts.tokensmith, args, { input, encoding: 'utf8', timeout: 60000,
                                               maxBuffer: 64 * 1024 * 1024 });
  const where = `kind=${kind.name} seed=${seed} dir=${dir}`;
  if (res.error || (res.status !== 0 && res.status !== 1)) {
    const why = res.error ? res.error.message : `exit ${res.status} signal ${res.signal}`;
    return { passed: 0, failed: c.requests.length,
             messages: [`FAIL ${where}: tokensmith did not run: ${why}\n${res.stderr || ''}`] };
  }
  const got = res.stdout.split('\n');
  if (got.length && got[got.length - 1] === '') got.pop();
  let passed = 0, failed = 0;
  const messages = [];
  const allowed = expected.filter((l) => l.startsWith('true')).length;
  const explained = expected.filter((l) => l.includes('\t')).length;
  if (got.length !== expected.length)
    messages.push(`FAIL ${where}: ${got.length} output lines for ${expected.length} requests` +
                  (res.stderr ? `\n  stderr: ${res.stderr.trim()}` : ''));
  for (let i = 0; i < expected.length; i++) {
    if (got[i] === expected[i]) {
      passed++;
      continue;
    }
    failed++;
    if (messages.length < 20)
      messages.push(`MISMATCH ${where} request=${JSON.stringify(c.requests[i].join(','))}\n` +
                    `  node-casbin: ${JSON.stringify(expected[i])}\n` +
                    `  tokensmith:  ${JSON.stringify(got[i])}`);
  }
  return { passed, failed, messages, allowed, explained };
}

async function main() {
  const opts = parseArgs(process.argv);
  if (!fs.existsSync(opts.tokensmith)) {
    console.error(`differential.js: ${opts.tokensmith} does not exist`);
    process.exit(1);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-differential-'));
  let passed = 0, failed = 0;
  const t0 = Date.now();
  for (const kind of KINDS) {
    let kp = 0, kf = 0, ka = 0, ke = 0;
    for (let seed = 1; seed <= opts.seeds; seed++) {
      const r = await runCase(opts, tmp, kind, seed);
      kp += r.passed;
      kf += r.failed;
      ka += r.allowed || 0;
      ke += r.explained || 0;
      for (const m of r.messages) console.log(m);
    }
    passed += kp;
    failed += kf;
    // The share of allowed requests and of explained decisions shows the cases are not trivial.
    console.log(`${kind.name}: ${kp} passed, ${kf} failed (node-casbin allowed ${ka}, ` +
                `named a deciding rule for ${ke})`);
  }
  if (failed === 0 && !opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`cases kept in ${tmp}`);
  console.log(`${passed} passed, ${failed} failed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
