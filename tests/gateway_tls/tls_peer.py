"""Raw and TLS clients for tests/gateway_tls: what curl cannot do.

  tls_peer.py hostile PORT [LIMIT]         a garbage ClientHello, random bytes, plain HTTP, a
                                           silent connection and a ClientHello trickled a byte
                                           at a time, at once, each watched for LIMIT seconds
                                           (10); prints one line per case:
                                           "<case> <closed after s> <bytes>"
  tls_peer.py bighead PORT CA CERT KEY TOKEN_FILE
                                           a check with a 9 KiB head sent in one TLS record;
                                           prints "<status> <seconds>"
  tls_peer.py keepalive PORT CA CERT KEY TOKEN_FILE GO_FILE
                                           one TLS connection, a check on it, then waits for
                                           GO_FILE (the test reloads meanwhile) and sends another
                                           check on the same connection; prints
                                           "<status 1> <status 2> <serial>" (serial: hex, of the
                                           certificate this connection was served with)
Never prints a token.
"""
import os
import socket
import ssl
import sys
import threading
import time


def until_closed(s, limit):
    """Seconds until the peer closed (or reset) the connection, and the bytes it sent."""
    start = time.monotonic()
    got = b""
    s.settimeout(0.2)
    while time.monotonic() - start < limit:
        try:
            b = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            break
        if not b:
            break
        got += b
    return time.monotonic() - start, got


def hostile(port, limit=10.0):
    results = {}

    def case(name, fn):
        s = socket.create_connection(("127.0.0.1", port), 2)
        try:
            results[name] = fn(s)
        finally:
            s.close()

    def garbage(s):
        # A complete handshake record holding a complete ClientHello of nonsense (version
        # 0xa5a5, a session id longer than the message): refused at once.
        s.sendall(b"\x16\x03\x01\x01\x00" + b"\x01\x00\x00\xfc" + b"\xa5" * 252)
        return until_closed(s, limit)

    def random_bytes(s):
        # Random bytes may announce a longer record than they hold: refused at once or, while
        # the session waits for the rest, at the deadline.
        s.sendall(os.urandom(300))
        return until_closed(s, limit)

    def plain_http(s):
        s.sendall(b"GET /check HTTP/1.1\r\nHost: x\r\nX-Original-URI: /nodes\r\n\r\n")
        return until_closed(s, limit)

    def silent(s):
        return until_closed(s, limit)

    def trickle(s):
        # A TLS handshake record header announcing 512 bytes, then a byte every 0.3 s.
        s.sendall(b"\x16\x03\x01\x02\x00")
        start = time.monotonic()
        s.settimeout(0.3)
        while time.monotonic() - start < limit:
            try:
                s.send(b"\x01")
                b = s.recv(1)
                if not b:
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        return time.monotonic() - start, b""

    threads = [threading.Thread(target=case, args=(n, f)) for n, f in
               (("garbage", garbage), ("random", random_bytes), ("plain_http", plain_http),
                ("silent", silent), ("trickle", trickle))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in ("garbage", "random", "plain_http", "silent", "trickle"):
        secs, got = results[name]
        print(f"{name} {secs:.1f} {len(got)}")


def check_request(tls, token, pad=0):
    req = ("GET /check HTTP/1.1\r\nHost: localhost\r\nX-Original-URI: /nodes\r\n"
           f"X-Original-Method: GET\r\nAuthorization: Bearer {token}\r\n"
           + (f"X-Pad: {'p' * pad}\r\n" if pad else "") + "\r\n")
    tls.sendall(req.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = tls.recv(4096)
        if not b:
            return "closed"
        head += b
    status = head.split(b" ", 2)[1].decode()
    length = 0
    for line in head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    body = head.split(b"\r\n\r\n", 1)[1]
    while len(body) < length:
        body += tls.recv(4096)
    return status


def keepalive(port, ca, cert, key, token_file, go):
    token = open(token_file).read().strip()
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), 5)
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    tls.settimeout(10)
    first = check_request(tls, token)
    der = tls.getpeercert(binary_form=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        second = check_request(tls, token)
    except OSError as e:
        second = f"error:{type(e).__name__}"
    tls.close()
    print(first, second, serial_of(der))


def bighead(port, ca, cert, key, token_file):
    """A check whose head (9 KiB) goes in one TLS record, larger than the server's first read
    buffer: the rest of the record waits inside the server's TLS session, not in the socket."""
    token = open(token_file).read().strip()
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5),
                          server_hostname="localhost")
    tls.settimeout(10)
    start = time.monotonic()
    status = check_request(tls, token, pad=9000)
    print(status, f"{time.monotonic() - start:.1f}")
    tls.close()


def serial_of(der):
    """The serial number of a DER certificate, hex, read by hand (no cryptography module)."""
    def tlv(b, i):
        tag = b[i]
        n = b[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(b[i:i + k], "big")
            i += k
        return tag, i, n

    _, i, _ = tlv(der, 0)          # Certificate SEQUENCE
    _, i, _ = tlv(der, i)          # tbsCertificate SEQUENCE
    tag, j, n = tlv(der, i)
    if tag == 0xA0:                # [0] version
        i = j + n
    tag, j, n = tlv(der, i)        # serialNumber INTEGER
    return format(int.from_bytes(der[j:j + n], "big"), "X")


if __name__ == "__main__":
    if sys.argv[1] == "hostile":
        hostile(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 10.0)
    elif sys.argv[1] == "bighead":
        bighead(int(sys.argv[2]), *sys.argv[3:7])
    elif sys.argv[1] == "keepalive":
        keepalive(int(sys.argv[2]), *sys.argv[3:8])
    else:
        sys.exit("usage: see the top of this file")
