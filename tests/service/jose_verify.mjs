// Verify an access token with node `jose` through the service's JWKS endpoint.
// usage: node jose_verify.mjs JWKS_URL ISSUER AUDIENCE TOKEN; prints the payload as JSON.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, issuer, audience, token] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience });
  console.log(JSON.stringify({ alg: protectedHeader.alg, kid: protectedHeader.kid, payload }));
} catch (e) {
  console.error(`jose: ${e.code || ''} ${e.message}`);
  process.exit(1);
}
