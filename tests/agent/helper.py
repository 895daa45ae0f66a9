#!/usr/bin/env python3
"""Loopback helpers of the agent tests (the standard library only).

  helper.py http DIR [TOKENSMITH STORE]
      An HTTP server on 127.0.0.1 and a free port, written to DIR/http.port once it listens.
      Each request is appended to DIR/http.log as "MONOTONIC_SECONDS PATH STATUS".
        /meta    (with Metadata-Flavor: Google, else 403) a metadata-style document {"access_token", "expires_in", "token_type"} whose
                 token is a new tokensmith bootstrap token (TOKENSMITH bootstrap-token create
                 on STORE), so that each exchange of it at tokensmith is a first use;
                 expires_in is DIR/meta.ttl (default 3600).
        /seq     {"token": T, "expires_in": N}: T is a new 2,000-byte token per request
                 ("seq-<n>-" padded with x, ending in "-end", so a torn copy is visible), N is
                 DIR/seq.ttl (default 1).
        /echo    {"token": "echo-" + the first 16 hex digits of SHA-256(Authorization header),
                 "expires_in": 3600}: shows which token a templated header carried.
        /fault   what DIR/fault.mode says: ok (a token like /seq as "token" and "access_token",
                 token_type Bearer, expires_in from DIR/seq.ttl),
                 5xx (503 with a JSON error), garbage (200, application/json, not JSON), huge
                 (200, 8 MiB of JSON), ctype (200, a token document as text/html), empty (200,
                 no body), close (the connection closed without an answer), hang (an answer
                 after 30 s).
  helper.py notify PATH OUT
      A datagram socket at PATH (a $NOTIFY_SOCKET); each message is appended to OUT as
      "MONOTONIC_SECONDS MESSAGE" (newlines inside a message written as '|').
  helper.py reader STOP OUT FILE...
      Re-reads the FILEs in a loop until the file STOP exists, then writes to OUT one line
      "reads R distinct D torn T absent A": T counts reads that were empty or not a whole
      /seq token (a partial or mixed copy), A reads that found no file.
  helper.py httpreader STOP OUT URL SOCKET
      GETs URL (an http sink) and "/" on the Unix socket SOCKET (a uds sink) in a loop until STOP
      exists, then writes to OUT "reads R distinct D torn T unavailable U": T counts 200
      answers whose body is not a JSON object with a whole /seq token as access_token, U the
      503 answers (no valid token at that moment).
  helper.py freeport
      Prints a free TCP port of 127.0.0.1.
"""
import hashlib
import http.client
import http.server
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse


def read_text(path, default):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
            return text if text else default
    except OSError:
        return default


class State:
    lock = threading.Lock()
    seq = 0
    dir = "."
    tokensmith = None
    store = None


def log_request(path, status):
    with State.lock:
        with open(os.path.join(State.dir, "http.log"), "a", encoding="utf-8") as f:
            f.write(f"{time.monotonic():.3f} {path} {status}\n")


def next_token():
    with State.lock:
        State.seq += 1
        n = State.seq
    head = f"seq-{n}-"
    return head + "x" * (2000 - len(head) - 4) + "-end"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: http.log has what the tests read
        pass

    def answer(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass
        log_request(self.path, status)

    def body_in(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)

    def do_POST(self):
        self.body_in()
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/meta":
            if self.headers.get("Metadata-Flavor") != "Google":
                self.answer(403, json.dumps({"error": "Metadata-Flavor: Google required"}))
                return
            ttl = int(read_text(os.path.join(State.dir, "meta.ttl"), "3600"))
            out = subprocess.run(
                [State.tokensmith, "bootstrap-token", "create", "--subject", "meta-svc",
                 "--audience", "smd", "--scopes", "read", "--store", State.store,
                 "--output-format", "json"],
                capture_output=True, text=True, check=False)
            try:
                tok = json.loads(out.stdout)["bootstrap_token"]
            except (ValueError, KeyError):
                self.answer(500, json.dumps({"error": "bootstrap-token create failed"}))
                return
            self.answer(200, json.dumps({"access_token": tok, "expires_in": ttl,
                                         "token_type": "Bearer"}))
        elif path == "/seq":
            ttl = int(read_text(os.path.join(State.dir, "seq.ttl"), "1"))
            self.answer(200, json.dumps({"token": next_token(), "expires_in": ttl}))
        elif path == "/echo":
            auth = self.headers.get("Authorization", "")
            digest = hashlib.sha256(auth.encode()).hexdigest()[:16]
            self.answer(200, json.dumps({"token": f"echo-{digest}", "expires_in": 3600}))
        elif path == "/fault":
            self.fault()
        else:
            self.answer(404, json.dumps({"error": "not_found"}))

    def fault(self):
        mode = read_text(os.path.join(State.dir, "fault.mode"), "ok")
        ttl = int(read_text(os.path.join(State.dir, "seq.ttl"), "1"))
        if mode == "ok":
            self.answer(200, json.dumps({"token": (t := next_token()), "access_token": t,
                                         "token_type": "Bearer", "expires_in": ttl}))
        elif mode == "5xx":
            self.answer(503, json.dumps({"error": "temporarily_unavailable"}))
        elif mode == "garbage":
            self.answer(200, "{\"token\": \"abc\", \"expires_in\": 3600,,, garbage \x01")
        elif mode == "huge":
            pad = "a" * (8 * 1024 * 1024)
            self.answer(200, json.dumps({"token": "t" + pad[:100], "expires_in": 60,
                                         "pad": pad}))
        elif mode == "ctype":
            self.answer(200, json.dumps({"token": (t := next_token()), "access_token": t,
                                         "token_type": "Bearer", "expires_in": ttl}),
                        "text/html")
        elif mode == "empty":
            self.answer(200, "")
        elif mode == "hang":
            time.sleep(30)
            self.answer(503, json.dumps({"error": "too late"}))
        elif mode == "close":
            log_request(self.path, 0)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            self.answer(500, json.dumps({"error": f"unknown mode {mode}"}))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_http(argv):
    State.dir = argv[0]
    if len(argv) > 2:
        State.tokensmith, State.store = argv[1], argv[2]
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = os.path.join(State.dir, "http.port.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, os.path.join(State.dir, "http.port"))
    srv.serve_forever()


def serve_notify(argv):
    path, out = argv
    try:
        os.unlink(path)
    except OSError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(out, "a", encoding="utf-8") as f:
        while True:
            msg = s.recv(65536).decode("utf-8", "replace").strip().replace("\n", "|")
            f.write(f"{time.monotonic():.3f} {msg}\n")
            f.flush()


def reader(argv):
    stop, out, files = argv[0], argv[1], argv[2:]
    reads = torn = absent = 0
    seen = set()
    bad = []
    while not os.path.exists(stop):
        for path in files:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                absent += 1
                continue
            reads += 1
            text = data.decode("ascii", "replace")
            if (len(data) != 2000 or not text.startswith("seq-") or not text.endswith("-end")
                    or text.count("-") != 3):
                torn += 1
                if len(bad) < 5:
                    bad.append(f"{len(data)} bytes: {text[:20]!r}...{text[-10:]!r}")
            else:
                seen.add(text)
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"reads {reads} distinct {len(seen)} torn {torn} absent {absent}\n")
        for b in bad:
            f.write(f"torn: {b}\n")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def httpreader(argv):
    stop, out, url, sock = argv
    u = urllib.parse.urlsplit(url)
    reads = torn = unavailable = 0
    seen = set()
    bad = []
    while not os.path.exists(stop):
        time.sleep(0.002)  # the sinks' answers, not the machine's cores, are under test
        for conn, path in ((http.client.HTTPConnection(u.hostname, u.port, timeout=5), u.path),
                           (UnixHTTPConnection(sock), "/")):
            try:
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
            except OSError as e:
                torn += 1
                bad.append(f"{path}: {e}")
                continue
            finally:
                conn.close()
            reads += 1
            if r.status == 503:
                unavailable += 1
                continue
            try:
                tok = json.loads(body)["access_token"]
                ok = (r.status == 200 and len(tok) == 2000 and tok.startswith("seq-")
                      and tok.endswith("-end") and tok.count("-") == 3)
            except (ValueError, KeyError, TypeError):
                ok = False
            if ok:
                seen.add(tok)
            else:
                torn += 1
                if len(bad) < 5:
                    bad.append(f"{path}: {r.status} {body[:40]!r}")
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"reads {reads} distinct {len(seen)} torn {torn} unavailable {unavailable}\n")
        for b in bad[:5]:
            f.write(f"torn: {b}\n")


def freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "http":
        serve_http(argv)
    elif cmd == "notify":
        serve_notify(argv)
    elif cmd == "reader":
        reader(argv)
    elif cmd == "httpreader":
        httpreader(argv)
    elif cmd == "freeport":
        freeport()
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
