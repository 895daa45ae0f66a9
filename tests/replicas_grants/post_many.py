#!/usr/bin/env python3
"""POST token requests all at once: every request on its own connection and thread, opened
first and released together by a barrier, so that they reach the replicas at the same time.

stdin: one request per line, "PORT X-FORWARDED-FOR FORM" (FORM url-encoded; "-" = no header).
stdout: one line per request, in input order: "INDEX STATUS ERROR RETRY_AFTER REFRESH", where
ERROR is the OAuth "error" member, RETRY_AFTER the header and REFRESH the refresh_token of a
successful grant ("-" when absent); a request that got no answer reports status 0 and the
exception's name as ERROR. The output is scratch data of a test: it may hold refresh tokens.
"""
import http.client
import json
import sys
import threading

TIMEOUT = 60  # seconds: generous, the machine may be loaded


def main():
    jobs = [line.split(" ", 2) for line in sys.stdin.read().splitlines() if line.strip()]
    results = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def run(i, port, xff, form):
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=TIMEOUT)
        hdr = {"Content-Type": "application/x-www-form-urlencoded"}
        if xff != "-":
            hdr["X-Forwarded-For"] = xff
        try:
            c.connect()
        except OSError as e:
            barrier.abort()
            results[i] = (0, type(e).__name__, "-", "-")
            return
        try:
            barrier.wait(TIMEOUT)
        except threading.BrokenBarrierError:
            pass
        try:
            c.request("POST", "/oauth/token", form, hdr)
            r = c.getresponse()
            body = r.read()
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            results[i] = (r.status, doc.get("error", "-"), r.getheader("Retry-After") or "-",
                          doc.get("refresh_token", "-"))
        except (http.client.HTTPException, OSError) as e:
            results[i] = (0, type(e).__name__, "-", "-")
        finally:
            c.close()

    threads = [threading.Thread(target=run, args=(i, *j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(results):
        print(i, *r)


if __name__ == "__main__":
    main()
