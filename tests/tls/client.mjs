// Clients of tests/tls/tls_test.sh, with node's own `https`, `tls` and `net` (no npm package).
//   node client.mjs https PORT CA_FILE       GET /health and the metadata over one keep-alive
//                                             connection; prints {"health":200,"reused":true,
//                                             "protocol":"TLSv1.3","issuer":...,"serial":...}
//   node client.mjs garbage PORT             random bytes in place of a ClientHello; prints
//                                             {"closed_ms":N} once the server closed
//   node client.mjs silent PORT              connects and sends nothing; prints {"closed_ms":N}
//   node client.mjs partial PORT             the first 5 bytes of a ClientHello record, then
//                                             nothing; prints {"closed_ms":N}
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import crypto from 'node:crypto';

const [mode, port, caFile] = process.argv.slice(2);

function get(agent, path) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', servername: 'localhost', port, path, agent,
                            ca: fs.readFileSync(caFile), minVersion: 'TLSv1.2' }, (res) => {
      // The socket goes back to the agent at the end of the body: read it now.
      const protocol = res.socket.getProtocol();
      const serial = res.socket.getPeerCertificate().serialNumber;
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, protocol, serial,
                                    reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
  });
}

async function httpsMode() {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const h = await get(agent, '/health');
  const m = await get(agent, '/.well-known/openid-configuration');
  agent.destroy();
  console.log(JSON.stringify({ health: h.status, reused: m.reused, protocol: h.protocol,
                               issuer: JSON.parse(m.body).issuer, serial: h.serial }));
}

function rawMode(send) {
  const t0 = Date.now();
  const s = net.connect({ host: '127.0.0.1', port: Number(port) }, () => {
    if (send) s.write(send);
  });
  s.on('data', () => {}); // an alert, if any
  s.on('error', () => {});
  s.on('close', () => { console.log(JSON.stringify({ closed_ms: Date.now() - t0 })); });
  // The test's own bound: a server that never closes fails here.
  setTimeout(() => { console.log(JSON.stringify({ closed_ms: -1 })); process.exit(1); }, 60000)
    .unref();
}

if (mode === 'https') {
  httpsMode().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
} else if (mode === 'garbage') {
  rawMode(crypto.randomBytes(4096));
} else if (mode === 'silent') {
  rawMode(null);
} else if (mode === 'partial') {
  rawMode(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])); // handshake record of 512 bytes, never sent
} else {
  console.error('usage: client.mjs https|garbage|silent|partial PORT [CA]');
  process.exit(2);
}
