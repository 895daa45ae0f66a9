#!/bin/sh
# `tokensmith policy fleet` end to end: three minisvc processes on loopback (A and B with the
# same policy fragments, C with others and --watch-policy). The table, --json, --expect,
# --targets; C's fragment changed on disk and applied by its watcher until the fleet agrees;
# a dead target (exit 3); a target that accepts the connection and never answers, bounded by
# --timeout; usage errors (exit 2). GET /authz/diagnostics itself: 405 for POST, HEAD.
# usage: fleet_test.sh TOKENSMITH MINISVC
TS=$1
MINISVC=$2
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "FAIL: curl not found"; exit 1; }
DIR=$(mktemp -d)
PIDS=
cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
fail=0
check() { # name want got
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1: got '$3', want '$2'"
        fail=1
    else
        echo "ok: $1"
    fi
}

# A public key only: the services verify tokens with it, and this test sends none.
cat >"$DIR/jwks.json" <<'JSON'
{"keys":[{"kty":"EC","crv":"P-256","kid":"fleet-test","use":"sig","alg":"ES256","x":"4qNGJQmOs9U7wcRHNf6obxgRZkCBGlCTI3lHVuJrwNk","y":"psOrKR5fDwNhpgRMh_m4etSLiO8PQaB6IjAQeFkf8Ks"}]}
JSON
mkdir -p "$DIR/a" "$DIR/b" "$DIR/c"
printf 'p, role:fleet, metadata:nodes, read\n' >"$DIR/a/10-fleet.csv"
cp "$DIR/a/10-fleet.csv" "$DIR/b/10-fleet.csv"
printf 'p, role:fleet, metadata:groups, read\n' >"$DIR/c/10-fleet.csv"

# start NAME ARGS...: a minisvc on an ephemeral port; sets URL_<NAME>
start() {
    name=$1; shift
    "$MINISVC" --jwks "$DIR/jwks.json" --issuer https://issuer.example --audience fleet \
        --listen 127.0.0.1:0 --port-file "$DIR/$name.port" "$@" 2>"$DIR/$name.log" &
    PIDS="$PIDS $!"
    i=0
    while [ ! -s "$DIR/$name.port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    [ -s "$DIR/$name.port" ] || { echo "FAIL: minisvc $name did not start"; cat "$DIR/$name.log"; exit 1; }
    eval "URL_$name=http://127.0.0.1:$(cat "$DIR/$name.port")"
}
start a --policy-dir "$DIR/a"
start b --policy-dir "$DIR/b"
start c --policy-dir "$DIR/c" --watch-policy
V_A=$("$TS" policy version --policy-dir "$DIR/a")
V_C=$("$TS" policy version --policy-dir "$DIR/c")
[ ${#V_A} -eq 64 ] && [ "$V_A" != "$V_C" ] || { echo "FAIL: policy versions '$V_A' '$V_C'"; exit 1; }

# The library call behind the endpoint.
body=$(curl -s "$URL_a/authz/diagnostics")
check "diagnostics policy_version" "$V_A" \
    "$(printf '%s' "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["policy_version"])')"
check "diagnostics loaded_at is RFC 3339" "ok" "$(printf '%s' "$body" | python3 -c '
import json, sys, datetime
d = json.load(sys.stdin)
datetime.datetime.strptime(d["loaded_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
print("ok" if d["mode"] == "enforce" and d["watch"]["enabled"] is False else d)')"
check "diagnostics of the watching service" "True" "$(curl -s "$URL_c/authz/diagnostics" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["watch"]["enabled"])')"
check "POST diagnostics" "405 GET, HEAD" "$(curl -s -o /dev/null -X POST -D - "$URL_a/authz/diagnostics" |
    tr -d '\r' | awk '/^HTTP/{s=$2} tolower($1)=="allow:"{sub(/^[^:]*: /,""); a=$0} END{print s" "a}')"
check "HEAD diagnostics" "200" "$(curl -s -o /dev/null -w '%{http_code}' -I "$URL_a/authz/diagnostics")"

# Three targets, one different: exit 1, C marked.
"$TS" policy fleet "$URL_a" "$URL_b" "$URL_c" >"$DIR/t1.out" 2>"$DIR/t1.err"
check "mismatch exit" 1 $?
check "table header" "TARGET VERSION MODE AGE STATUS" "$(head -1 "$DIR/t1.out" | tr -s ' ')"
check "A ok" "ok" "$(awk -v u="$URL_a" '$1==u{print $5}' "$DIR/t1.out")"
check "C mismatch" "mismatch" "$(awk -v u="$URL_c" '$1==u{print $5}' "$DIR/t1.out")"
check "C version column" "$(printf '%.12s' "$V_C")" "$(awk -v u="$URL_c" '$1==u{print $2}' "$DIR/t1.out")"
check "summary" "3 targets: 2 agree on $V_A, 1 differ, 0 unreachable" "$(tail -1 "$DIR/t1.out")"

# --json, the same verdict.
"$TS" policy fleet --json "$URL_a" "$URL_b" "$URL_c" >"$DIR/j1.out"
check "json exit" 1 $?
check "json" "False $V_A ok,ok,mismatch enforce,enforce,enforce" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
t = d["targets"]
assert all(x["age_s"] >= 0 for x in t)
print(d["agree"], d["reference"], ",".join(x["status"] for x in t), ",".join(x["mode"] for x in t))
' "$DIR/j1.out")"

# --expect and a targets file (comments, blank lines).
printf '# the fleet\n\n%s\n  %s  \n' "$URL_a" "$URL_b/authz/diagnostics" >"$DIR/targets"
"$TS" policy fleet --expect "$V_A" --targets "$DIR/targets" >"$DIR/t2.out" 2>&1
check "expect agrees" 0 $?
"$TS" policy fleet --expect "$V_C" --targets "$DIR/targets" >"$DIR/t3.out" 2>&1
check "expect differs" 1 $?

# C's fragment changed on disk: its watcher applies it and the fleet agrees.
cp "$DIR/a/10-fleet.csv" "$DIR/c/.new" && mv "$DIR/c/.new" "$DIR/c/10-fleet.csv"
i=0
rc=1
while [ $i -lt 100 ]; do
    "$TS" policy fleet --expect "$V_A" "$URL_a" "$URL_b" "$URL_c" >"$DIR/t4.out" 2>&1
    rc=$?
    [ $rc -eq 0 ] && break
    sleep 0.1
    i=$((i + 1))
done
check "watched change brings C in line" 0 $rc
grep -q '"event":"authz.watch".*"ok":true' "$DIR/c.log"
check "C logged the applied change" 0 $?
# A broken fragment: refused with file and line, C keeps its policy.
printf 'p, role:fleet, metadata:nodes, read\np, role:x, da"ta, read\n' >"$DIR/c/.bad" &&
    mv "$DIR/c/.bad" "$DIR/c/20-bad.csv"
i=0
while [ $i -lt 100 ] && ! grep -q '"ok":false' "$DIR/c.log"; do sleep 0.1; i=$((i + 1)); done
check "broken fragment logged with file and line" 1 \
    "$(grep '"event":"authz.watch".*"ok":false' "$DIR/c.log" | grep -c '20-bad.csv","line":2')"
"$TS" policy fleet --expect "$V_A" "$URL_a" "$URL_c" >/dev/null 2>&1
check "C kept its policy" 0 $?

# A dead target: nothing listens there.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TS" policy fleet "$URL_a" "$URL_b" "http://127.0.0.1:$DEAD" >"$DIR/t5.out" 2>&1
check "dead target exit" 3 $?
check "dead target row" "unreachable" "$(awk -v u="http://127.0.0.1:$DEAD" '$1==u{print $5}' "$DIR/t5.out")"

# A target that accepts and never answers: bounded by --timeout, the others still judged.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' >"$DIR/hang.port" &
PIDS="$PIDS $!"
i=0
while [ ! -s "$DIR/hang.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
HANG=http://127.0.0.1:$(cat "$DIR/hang.port")
t0=$(date +%s)
"$TS" policy fleet --timeout 2s --json "$URL_a" "$HANG" "$URL_b" >"$DIR/j2.out" 2>&1
rc=$?
t1=$(date +%s)
check "hanging target exit" 3 $rc
check "hanging target bounded" "yes" "$([ $((t1 - t0)) -le 6 ] && echo yes || echo "no: $((t1 - t0)) s")"
check "hanging target json" "ok,unreachable,ok" "$(python3 -c '
import json, sys
print(",".join(x["status"] for x in json.load(open(sys.argv[1]))["targets"]))' "$DIR/j2.out")"

# Usage errors.
"$TS" policy fleet >/dev/null 2>&1
check "no targets" 2 $?
"$TS" policy fleet --expect abc "$URL_a" >/dev/null 2>&1
check "bad --expect" 2 $?
"$TS" policy fleet ftp://x >/dev/null 2>&1
check "bad URL" 2 $?

exit $fail
