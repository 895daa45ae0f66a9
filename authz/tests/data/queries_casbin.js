#!/usr/bin/env node
// node-casbin's answers to the RBAC queries for authz.test_queries' differential:
// getRolesForUser, getImplicitRolesForUser, getUsersForRole, getImplicitUsersForRole and
// getImplicitPermissionsForUser, asked for every name of the policy (both sides of each g
// rule, the subject of each p rule, one unknown name) in every domain of the g rules (and
// without one). One line per answer: "<query>\t<name>\t<domain>\t<items>", the items sorted by
// bytes, each once, joined by U+001E; a rule is a CSV line "p, alice, data1, read". The name
// itself is left out of its implicit roles and users (a cycle with domains lists it in
// node-casbin; tokensmith never does).
// usage: node queries_casbin.js REPO_ROOT MODEL POLICY. Exit 77: no node-casbin.
'use strict';
let casbin;
try {
  casbin = require(require.resolve('casbin', { paths: [process.argv[2]] }));
} catch (e) {
  process.exit(77);
}

// The quoting of tokensmith's rule lines (ts_authz_decision.rule).
function field(f) {
  const quote = f.length > 0 && (/^[ \t#]/.test(f) || /[,"\n\r]/.test(f));
  return quote ? '"' + f.replace(/"/g, '""') + '"' : f;
}

function sorted(items) {
  const set = [...new Set(items)];
  set.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return set.join('\x1e');
}

(async () => {
  const e = await casbin.newEnforcer(process.argv[3], process.argv[4]);
  const g = await e.getNamedGroupingPolicy('g');
  const p = await e.getPolicy();
  const names = new Set(['nobody']);
  const domains = new Set(['']);
  for (const r of g) {
    names.add(r[0]);
    names.add(r[1]);
    if (r.length >= 3) domains.add(r[2]);
  }
  for (const r of p) names.add(r[0]);
  const out = [];
  for (const name of [...names].sort()) {
    for (const dom of [...domains].sort()) {
      const d = dom ? [dom] : [];
      const self = (x) => x !== name;
      const ans = {
        roles: await e.getRolesForUser(name, ...d),
        implicit_roles: (await e.getImplicitRolesForUser(name, ...d)).filter(self),
        users: await e.getUsersForRole(name, ...d),
        implicit_users: (await e.getImplicitUsersForRole(name, ...d)).filter(self),
        permissions: (await e.getImplicitPermissionsForUser(name, ...d)).map(
          (r) => 'p, ' + r.map(field).join(', ')),
      };
      for (const [q, items] of Object.entries(ans))
        out.push(`${q}\t${name}\t${dom}\t${sorted(items)}`);
    }
  }
  process.stdout.write(out.join('\n') + '\n');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
