#!/usr/bin/env node
// node-casbin's decisions with custom functions for authz.test_functions' differential: the
// same functions as the C test registers (hasSuffix, strLen, upper as matcher functions,
// starMatch as g's role matching function), one line per request: "<sub>\t<obj>\t<act>\t0|1".
// usage: node functions_casbin.js REPO_ROOT MODEL POLICY REQUESTS [role]
// REQUESTS: "<sub>\t<obj>\t<act>" lines. With "role", starMatch is g's matching function.
// Exit 77: no node-casbin.
'use strict';
const fs = require('fs');
let casbin;
try {
  casbin = require(require.resolve('casbin', { paths: [process.argv[2]] }));
} catch (e) {
  process.exit(77);
}

// "a*" matches every name that starts with "a"; anything else matches itself.
function starMatch(name, pattern) {
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return name === pattern;
}

(async () => {
  const e = await casbin.newEnforcer(process.argv[3], process.argv[4]);
  await e.addFunction('hasSuffix', (s, suffix) => s.endsWith(suffix));
  await e.addFunction('strLen', (s) => s.length);
  await e.addFunction('upper', (s) => s.toUpperCase());
  if (process.argv[6] === 'role') {
    await e.addNamedMatchingFunc('g', starMatch);
    await e.buildRoleLinks();
  }
  const out = [];
  for (const line of fs.readFileSync(process.argv[5], 'utf8').split('\n')) {
    if (!line) continue;
    const [sub, obj, act] = line.split('\t');
    const ok = await e.enforce(sub, obj, act);
    out.push(`${sub}\t${obj}\t${act}\t${ok ? 1 : 0}`);
  }
  process.stdout.write(out.join('\n') + '\n');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
