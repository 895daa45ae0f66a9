#!/usr/bin/env node
// node-casbin's getImplicitRolesForUser for authz.test_implicit_roles' differential: prints one
// line per query, "<name>\t<domain>\t<roles sorted, comma-joined>", the name itself left out (a
// cycle with domains lists it in node-casbin; tokensmith never does).
// usage: node implicit_roles_casbin.js REPO_ROOT MODEL POLICY QUERIES
// QUERIES: a file of "<name>\t<domain>" lines (domain "" for none). Exit 77: no node-casbin.
'use strict';
const fs = require('fs');
let casbin;
try {
  casbin = require(require.resolve('casbin', { paths: [process.argv[2]] }));
} catch (e) {
  process.exit(77);
}
(async () => {
  const e = await casbin.newEnforcer(process.argv[3], process.argv[4]);
  const out = [];
  for (const line of fs.readFileSync(process.argv[5], 'utf8').split('\n')) {
    if (!line) continue;
    const [name, dom] = line.split('\t');
    const roles = dom ? await e.getImplicitRolesForUser(name, dom)
                      : await e.getImplicitRolesForUser(name);
    const set = [...new Set(roles)].filter((r) => r !== name);
    set.sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
    out.push(`${name}\t${dom}\t${set.join(',')}`);
  }
  process.stdout.write(out.join('\n') + '\n');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
