// The upstream of the gateway's nginx tests (tests/gateway/nginx_lib.sh): answers every request
// with 200 and the request it received as JSON ({"method","url","headers"}), so that a test can
// see exactly what nginx forwarded after auth_request (the translated Authorization, never the
// client's x-tokensmith-* headers). GET /__requests (asked directly, not through nginx) answers
// how many other requests arrived: a request the gateway refused must never get here.
// Listens on 127.0.0.1 and a port the kernel picks, and prints {"listening":PORT} on stdout.
import http from 'node:http';

let seen = 0;
const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
        if (req.method === 'GET' && req.url === '/__requests') {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ requests: seen }) + '\n');
            return;
        }
        seen++;
        const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(body + '\n');
    });
});
server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\n');
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
