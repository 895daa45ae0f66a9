#!/usr/bin/env python3
"""package.notify: what `tokensmith serve` tells systemd under Type=notify, without systemd.

The test's own AF_UNIX datagram socket is $NOTIFY_SOCKET (SO_PASSCRED on, so that each
message's sender is known, as systemd knows it). Checked:
  - the first message is READY=1, with MAINPID= and the sender both the server's pid, and at
    the moment it arrives the port it names accepts a connection and /health answers 200;
  - WATCHDOG=1 about every $WATCHDOG_USEC/2 while the service runs;
  - SIGHUP: RELOADING=1, then READY=1;
  - SIGTERM: STOPPING=1, then the process exits 0, and nothing after STOPPING=1;
  - with $WATCHDOG_PID naming another process, no WATCHDOG=1; a socket in the abstract
    namespace (@name) works as a path does.
usage: notify_test.py TOKENSMITH
"""
import http.client
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

TS = os.path.abspath(sys.argv[1])
failed = []


def check(name, ok, detail=""):
    print(("ok: " if ok else "FAIL: ") + name + ("" if ok else " " + detail))
    if not ok:
        failed.append(name)


class Listener:
    """The manager's end: a datagram socket that records (time, sender pid, fields)."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)

    def next(self, timeout):
        """The next message as (sender pid, {KEY: VALUE}), or None after timeout seconds."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        fields = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
        return pid, fields

    def until(self, key, timeout):
        """Messages up to and including the first with KEY=1; (that message or None, others)."""
        seen, end = [], time.monotonic() + timeout
        while True:
            m = self.next(end - time.monotonic())
            if m is None:
                return None, seen
            if m[1].get(key) == "1":
                return m, seen
            seen.append(m)


def health(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/health")
        return c.getresponse().status
    finally:
        c.close()


def start(tmp, address, env_more):
    env = dict(os.environ, NOTIFY_SOCKET=address, **env_more)
    for k in ("WATCHDOG_USEC", "WATCHDOG_PID"):
        if k not in env_more:
            env.pop(k, None)
    log = open(os.path.join(tmp, "serve.log"), "w")
    p = subprocess.Popen([TS, "serve", "--listen", "127.0.0.1:0", "--home",
                          os.path.join(tmp, "home"), "--log-format", "text"],
                         env=env, stdout=log, stderr=subprocess.STDOUT)
    return p, log


def wait_ready(lst, p, tmp):
    """READY=1 within 60 s (a loaded machine, sanitizers), and within 10 s of the log's
    "listening"; the messages before it."""
    end, listening = time.monotonic() + 60, None
    while time.monotonic() < end:
        ready, before = lst.until("READY", 0.5)
        if ready or before:
            return ready, before
        if p.poll() is not None:
            break
        if listening is None:
            with open(os.path.join(tmp, "serve.log")) as f:
                if " listening " in f.read():
                    listening = time.monotonic()
        elif time.monotonic() - listening > 10:
            break
    return None, []


def show_log(tmp):
    with open(os.path.join(tmp, "serve.log")) as f:
        sys.stdout.write(f.read()[-4000:])


def run_path(tmp):
    print("-- a socket path, the watchdog on (WATCHDOG_USEC 600 ms)")
    nfailed = len(failed)
    lst = Listener(os.path.join(tmp, "notify.sock"))
    p, log = start(tmp, os.path.join(tmp, "notify.sock"), {"WATCHDOG_USEC": "600000"})
    try:
        ready, before = wait_ready(lst, p, tmp)
        if not ready:
            check("READY=1 arrives", False, "(none; messages: %r)" % before)
            return
        # The port is tried at once: READY=1 must not come before the listener accepts.
        port = int(ready[1].get("STATUS", "").rsplit(" ", 1)[-1] or 0)
        try:
            status = health(port)
        except OSError as e:
            status = str(e)
        check("READY=1 is the first message", before == [], repr(before))
        check("the port named by READY=1 accepts and /health answers 200", status == 200,
              "(port %d: %s)" % (port, status))
        check("MAINPID= is the server", ready[1].get("MAINPID") == str(p.pid), repr(ready[1]))
        check("the sender is the server", ready[0] == p.pid, "(pid %r)" % ready[0])

        beats, t0 = [], time.monotonic()
        while time.monotonic() - t0 < 2.4:
            m = lst.next(2.4 - (time.monotonic() - t0))
            if m:
                beats.append(m)
        n = sum(1 for m in beats if m[1].get("WATCHDOG") == "1")
        # 300 ms apart: 8 in 2.4 s; a loaded machine may lose a few, never double them.
        check("WATCHDOG=1 every WATCHDOG_USEC/2", 4 <= n <= 10, "(%d in 2.4 s)" % n)
        check("only WATCHDOG=1 while idle", all(m[1].keys() == {"WATCHDOG"} for m in beats),
              repr(beats))

        p.send_signal(signal.SIGHUP)
        rel, _ = lst.until("RELOADING", 20)
        check("SIGHUP: RELOADING=1", rel is not None)
        again, between = lst.until("READY", 20)
        check("SIGHUP: then READY=1", again is not None, repr(between))

        p.send_signal(signal.SIGTERM)
        stop, _ = lst.until("STOPPING", 20)
        check("SIGTERM: STOPPING=1", stop is not None)
        rc = p.wait(timeout=60)
        check("exit status 0 after SIGTERM", rc == 0, "(%r)" % rc)
        after = []
        while True:
            m = lst.next(0.2)
            if m is None:
                break
            after.append(m)
        check("nothing but WATCHDOG=1 after STOPPING=1",
              all(m[1].keys() == {"WATCHDOG"} for m in after), repr(after))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
        if len(failed) > nfailed:
            show_log(tmp)


def run_abstract(tmp):
    print("-- an abstract socket, WATCHDOG_PID naming another process")
    nfailed = len(failed)
    name = "@tokensmith-notify-test-%d" % os.getpid()
    lst = Listener("\0" + name[1:])
    p, log = start(tmp, name, {"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
    try:
        ready, before = wait_ready(lst, p, tmp)
        check("abstract: READY=1", ready is not None and before == [], repr(before))
        if not ready:
            return
        extra = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            m = lst.next(1.0 - (time.monotonic() - t0))
            if m:
                extra.append(m)
        check("WATCHDOG_PID of another process: no WATCHDOG=1", extra == [], repr(extra))
        p.send_signal(signal.SIGTERM)
        stop, _ = lst.until("STOPPING", 20)
        check("abstract: STOPPING=1", stop is not None)
        check("abstract: exit status 0", p.wait(timeout=60) == 0)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
        if len(failed) > nfailed:
            show_log(tmp)


def main():
    for name in ("path", "abstract"):
        tmp = tempfile.mkdtemp(prefix="ts-notify-")
        try:
            (run_path if name == "path" else run_abstract)(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        print("package.notify: %d check(s) failed" % len(failed))
        return 1
    print("package.notify: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
