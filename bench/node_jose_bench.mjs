// node jose verification cost on the same tokens and keys as authn_bench (written by
// `authn_bench --out DIR`). One JSON object per line, like authn_bench.
// usage: node bench/node_jose_bench.mjs DIR [--min-time SECONDS] [--runs N]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';

const args = process.argv.slice(2);
const dir = args[0];
let minTime = 0.5;
let runs = 5;
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--min-time') minTime = Number(args[++i]);
  else if (args[i] === '--runs') runs = Number(args[++i]);
}
const jwks = JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8'));
for (const alg of ['RS256', 'PS256', 'ES256']) {
  const token = readFileSync(join(dir, `${alg}.jwt`), 'utf8');
  const { kid } = jose.decodeProtectedHeader(token);
  const key = await jose.importJWK(jwks.keys.find((k) => k.kid === kid), alg);
  const opts = { issuer: 'https://issuer.bench', audience: 'svc-bench', algorithms: [alg] };
  for (let i = 0; i < 200; i++) await jose.jwtVerify(token, key, opts);
  const res = [];
  for (let r = 0; r < runs; r++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    let t;
    do {
      for (let i = 0; i < 32; i++) await jose.jwtVerify(token, key, opts);
      n += 32;
      t = process.hrtime.bigint();
    } while (Number(t - t0) / 1e9 < minTime);
    res.push(Number(t - t0) / n);
  }
  res.sort((a, b) => a - b);
  const ns = res[Math.floor(res.length / 2)];
  console.log(JSON.stringify({ name: 'jose_jwtVerify', alg, ns_per_op: Math.round(ns * 10) / 10,
    ops_per_s: Math.round(1e9 / ns), jose: JSON.parse(readFileSync(new URL('../node_modules/jose/package.json', import.meta.url), 'utf8')).version }));
}
