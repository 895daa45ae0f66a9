#!/bin/sh
# gateway.signals: what `tokensmith gateway` does on signals, seen from outside (docs/gateway.md,
# "`--check`, start-up and signals"). The callers' issuer is `tokensmith serve` (a new access
# token per exchange); the checks go to the HTTP listener the way Envoy sends them.
# - SIGHUP with a new fragment in policy_dir turns a 403 into a 200, and the policy_version
#   changes alike in deny bodies, x-tokensmith-policy-version, /metrics and the log;
# - SIGHUP with a bad fragment keeps the running policy (decisions and policy_version as before,
#   even for a good line in the same file), logs the error naming the file and saying that the
#   policy was kept and the keys reloaded, counts it in /metrics;
# - a new key in key_dir (active.pem, made by openssl) + SIGHUP: the admin JWKS lists its kid
#   and a new caller's translated token carries it; a caller whose translation is cached keeps
#   its token (docs/gateway.md, "The translated token": the cache), whose kid is still
#   published;
# - a bad fragment and a new key in one SIGHUP: the log says the policy was kept and the keys
#   reloaded, the JWKS lists the new kid and new translations carry it, decisions and
#   policy_version stay; a bad key file: the log says the keys were kept and the policy
#   reloaded, or both kept with a bad fragment too, and the JWKS stays;
# - $NOTIFY_SOCKET (a python3 datagram listener): READY=1 only once the "listening" line is out,
#   RELOADING=1 then READY=1 around every SIGHUP (a failed one too), WATCHDOG=1 every
#   WATCHDOG_USEC/2, STOPPING=1 at SIGTERM; SIGTERM and SIGINT exit 0.
# usage: signals_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not installed"; exit 77; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl not installed"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, start_server, create_token, exchange, json_field
. "$SRC/tests/gateway/lib.sh" # ok, bad, check, start_gateway, stop_gateway
NPID=
cleanup_more() {
    stop_gateway
    [ -n "$NPID" ] && { kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null; }
}
ISS=https://tokensmith.test

# wait_for N CMD...: until CMD succeeds, at most N tenths of a second
wait_for() {
    _n=$1; shift
    _i=0
    while [ $_i -lt "$_n" ]; do
        "$@" && return 0
        sleep 0.1; _i=$((_i + 1))
    done
    return 1
}
count() { grep -c -- "$1" "$2" 2>/dev/null || true; } # PATTERN FILE: lines that match
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }     # N PATTERN FILE
# A check the way Envoy sends it: prints the status; body in OUT, head in OUT.h.
gw_check() { # METHOD PATH TOKEN OUT
    curl -s -D "$4.h" -o "$4" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3" \
        "http://127.0.0.1:$GW_PORT$2"
}
header() { sed -n "s/^$1: *\\([^[:space:]]*\\).*/\\1/Ip" "$2" | tail -1; } # NAME HEAD-FILE
# The translated token: the value of "Authorization: Bearer <jwt>" in HEAD-FILE, and its kid.
auth_of() { sed -n 's/^authorization: *Bearer \([A-Za-z0-9._-]*\).*/\1/Ip' "$1" | tail -1; }
kid_of() {
    python3 -c 'import base64, json, sys
h = sys.argv[1].split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4))).get("kid", "") if h else "")' \
        "$(auth_of "$1")"
}
new_token() { # a new access token of svc-a (scopes read and write) from serve
    _boot=$(create_token "$DIR/serve/tokensmith.db")
    [ "$(exchange "$_boot" "$DIR/exchange.json")" = 200 ] ||
        { echo "FAIL: token exchange at serve"; cat "$DIR/exchange.json"; exit 1; }
    json_field "$DIR/exchange.json" access_token
}
reloads() { count '"msg":"reloaded"' "$DIR/gateway.log"; }
failures() { count '"msg":"reload failed' "$DIR/gateway.log"; }
metrics() { curl -s "http://127.0.0.1:$GW_ADMIN_PORT/metrics" >"$DIR/metrics"; }
jwks() { curl -s "http://127.0.0.1:$GW_ADMIN_PORT/.well-known/jwks.json" >"$DIR/jwks"; }

# --- the peers: serve (the callers' issuer) and the $NOTIFY_SOCKET listener
start_server "$DIR/serve.log" --home "$DIR/serve" --issuer "$ISS"
AT=$(new_token)
[ -n "$AT" ] || { echo "FAIL: no access token from serve"; exit 1; }

# One line per datagram; READY=1 is written with whether the gateway had logged its
# "listening" line when it arrived (it must have: READY=1 means every listener answers).
cat >"$DIR/notify.py" <<'EOF'
import os, socket, sys
path, out, log = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", encoding="utf-8") as f:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace").strip().replace("\n", "|")
        if msg == "READY=1":
            try:
                seen = '"msg":"listening"' in open(log, encoding="utf-8").read()
            except OSError:
                seen = False
            msg += " after-listening" if seen else " before-listening"
        f.write(msg + "\n")
        f.flush()
EOF
N=$DIR/notify.log
: >"$N"
python3 "$DIR/notify.py" "$DIR/notify.sock" "$N" "$DIR/gateway.log" &
NPID=$!
wait_for 50 test -S "$DIR/notify.sock" || { echo "FAIL: the notify listener did not start"; exit 1; }

# --- the gateway: a policy directory, routes on metadata:nodes and metadata:groups
mkdir -p "$DIR/policy" "$DIR/gw-home"
echo 'g, user:alice, role:viewer, *' >"$DIR/policy/a.csv"
cat >"$DIR/gw.json" <<EOC
{"listen": "127.0.0.1:0", "grpc_listen": "", "admin_listen": "127.0.0.1:0",
 "issuer": "https://gateway.test", "home": "$DIR/gw-home",
 "trust": [{"issuer": "$ISS", "jwks_uri": "$URL/.well-known/jwks.json", "audiences": ["smd"]}],
 "translate": {"audience": "backend"},
 "authz": {"mode": "enforce", "scope_roles": {"read": "viewer", "write": "operator"},
           "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"},
                      {"method": "DELETE", "path": "/nodes/:id", "object": "metadata:nodes"},
                      {"method": "DELETE", "path": "/groups/:id", "object": "metadata:groups"}],
           "policy_dir": "$DIR/policy"}}
EOC
export NOTIFY_SOCKET="$DIR/notify.sock" WATCHDOG_USEC=1000000
start_gateway "$DIR/gw.json" || exit 1
unset NOTIFY_SOCKET WATCHDOG_USEC

wait_for 100 at_least 1 '^READY=1' "$N" && ok "READY=1 sent" || bad "no READY=1: $(cat "$N")"
check "READY=1 after the listening line" 1 "$(count '^READY=1 after-listening' "$N")"
check "READY=1 once at start" 1 "$(count '^READY=1' "$N")"
# WATCHDOG_USEC=1000000: a beat every 0.5 s
wait_for 100 at_least 3 '^WATCHDOG=1' "$N" && ok "WATCHDOG=1 every WATCHDOG_USEC/2" ||
    bad "WATCHDOG=1 seen $(count '^WATCHDOG=1' "$N") times in 10 s"

# --- SIGHUP with a new fragment: 403 -> 200 and a new policy_version everywhere
pv0=$("$TS" policy version --policy-dir "$DIR/policy")
st=$(gw_check DELETE /nodes/7 "$AT" "$DIR/d0"); check "DELETE /nodes/7 before: operator may not" 403 "$st"
grep -q "\"policy_version\":\"$pv0\"" "$DIR/d0" && ok "deny body: the policy_version at start" ||
    bad "deny body lacks policy_version $pv0: $(cat "$DIR/d0")"
echo 'p, role:operator, metadata:nodes, delete' >"$DIR/policy/b.csv"
pv1=$("$TS" policy version --policy-dir "$DIR/policy")
r=$(reloads)
kill -HUP "$GW_PID"
wait_for 100 at_least $((r + 1)) '"msg":"reloaded"' "$DIR/gateway.log" || bad "no reloaded line"
grep -q "\"msg\":\"reloaded\".*\"policy_version\":\"$pv1\"" "$DIR/gateway.log" &&
    ok "reloaded line: the new policy_version" || bad "reloaded: $(tail -n 2 "$DIR/gateway.log")"
[ "$pv1" != "$pv0" ] && ok "the fragment changes policy_version" || bad "policy_version unchanged"
st=$(gw_check DELETE /nodes/7 "$AT" "$DIR/d1"); check "DELETE /nodes/7 after SIGHUP: allowed" 200 "$st"
check "x-tokensmith-policy-version after SIGHUP" "$pv1" "$(header x-tokensmith-policy-version "$DIR/d1.h")"
st=$(gw_check DELETE /groups/1 "$AT" "$DIR/g1"); check "DELETE /groups/1: still denied" 403 "$st"
grep -q "\"policy_version\":\"$pv1\"" "$DIR/g1" && ok "deny body: the new policy_version" ||
    bad "deny body lacks policy_version $pv1: $(cat "$DIR/g1")"
metrics
grep -q "^authz_decisions_total{decision=\"allow\",mode=\"enforce\",policy_version=\"$pv1\"} [1-9]" "$DIR/metrics" &&
    ok "/metrics: allows under the new policy_version" ||
    bad "/metrics: $(grep authz_decisions_total "$DIR/metrics")"
wait_for 100 at_least 2 '^READY=1' "$N" || true
sed -n '/^RELOADING=1/,$p' "$N" | grep -v '^WATCHDOG' | head -2 | tr '\n' ' ' >"$DIR/around"
check "RELOADING=1 then READY=1 around SIGHUP" "RELOADING=1 READY=1 after-listening " "$(cat "$DIR/around")"

# --- SIGHUP with a bad fragment: the running policy stays, the error is logged and counted.
# Its first line alone would allow DELETE /groups/1: nothing of the file may apply.
printf 'p, role:operator, metadata:groups, delete\nbogus line without sense\n' >"$DIR/policy/c.csv"
f=$(failures)
nr=$(count '^RELOADING=1' "$N")
kill -HUP "$GW_PID"
wait_for 100 at_least $((f + 1)) '"msg":"reload failed' "$DIR/gateway.log" &&
    ok "a bad fragment: reload failed" || bad "no failed reload: $(tail -n 3 "$DIR/gateway.log")"
grep '"msg":"reload failed' "$DIR/gateway.log" | tail -1 | grep -q 'c\.csv' &&
    ok "the failure names the fragment" || bad "failure: $(grep 'reload failed' "$DIR/gateway.log" | tail -1)"
POLICY_KEPT='"msg":"reload failed: the running policy is kept, the keys are reloaded","policy_version":"'
grep '"msg":"reload failed' "$DIR/gateway.log" | tail -1 |
    grep -qF "$POLICY_KEPT$pv1\",\"policy\":\"kept\",\"keys\":\"reloaded\"" &&
    ok "the failure: the policy kept, the keys reloaded" ||
    bad "failure: $(grep 'reload failed' "$DIR/gateway.log" | tail -1)"
kill -0 "$GW_PID" 2>/dev/null && ok "alive after a bad reload" || bad "a bad reload stopped the gateway"
st=$(gw_check DELETE /groups/1 "$AT" "$DIR/g2"); check "DELETE /groups/1 after a bad reload: still denied" 403 "$st"
grep -q "\"policy_version\":\"$pv1\"" "$DIR/g2" && ok "deny body: policy_version kept" ||
    bad "deny body after a bad reload: $(cat "$DIR/g2")"
st=$(gw_check DELETE /nodes/7 "$AT" "$DIR/d2"); check "DELETE /nodes/7 after a bad reload: still allowed" 200 "$st"
check "x-tokensmith-policy-version kept" "$pv1" "$(header x-tokensmith-policy-version "$DIR/d2.h")"
metrics
grep -q "^authz_errors_total{stage=\"reload\",mode=\"enforce\",policy_version=\"$pv1\"} 1$" "$DIR/metrics" &&
    ok "/metrics: the failed reload counted under the running policy_version" ||
    bad "/metrics: $(grep 'stage="reload"' "$DIR/metrics")"
wait_for 100 at_least 3 '^READY=1' "$N" || true
check "a failed reload: RELOADING=1 and READY=1 too" "$((nr + 1)) 3" \
    "$(count '^RELOADING=1' "$N") $(count '^READY=1' "$N")"
rm -f "$DIR/policy/c.csv"

# --- a new key: active.pem + SIGHUP
KD=$DIR/gw-home/keys
kid0=$("$TS" keys thumbprint "$(ls "$KD"/*.pem | head -1)")
st=$(gw_check GET /nodes "$AT" "$DIR/k0"); check "GET /nodes" 200 "$st"
check "the translated token: the first key's kid" "$kid0" "$(kid_of "$DIR/k0.h")"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KD/active.pem" 2>/dev/null &&
    chmod 600 "$KD/active.pem" || bad "openssl genpkey"
kid1=$("$TS" keys thumbprint "$KD/active.pem")
r=$(reloads)
kill -HUP "$GW_PID"
wait_for 100 at_least $((r + 1)) '"msg":"reloaded"' "$DIR/gateway.log" &&
    ok "SIGHUP with a new key: reloaded" || bad "no reload: $(tail -n 3 "$DIR/gateway.log")"
jwks
grep -q "\"kid\":\"$kid1\"" "$DIR/jwks" && ok "the JWKS lists the new kid" || bad "JWKS: $(cat "$DIR/jwks")"
grep -q "\"kid\":\"$kid0\"" "$DIR/jwks" && ok "the JWKS still lists the old kid" || bad "JWKS: $(cat "$DIR/jwks")"
AT2=$(new_token)
st=$(gw_check GET /nodes "$AT2" "$DIR/k1"); check "GET /nodes, a new caller token" 200 "$st"
check "a new translation: signed by active.pem" "$kid1" "$(kid_of "$DIR/k1.h")"
# The cache: the first caller's translation is reused until shortly before it expires.
st=$(gw_check GET /nodes "$AT" "$DIR/k2"); check "GET /nodes, the first caller again" 200 "$st"
[ -n "$(auth_of "$DIR/k0.h")" ] || bad "no translated token in the answer: $(cat "$DIR/k0.h")"
check "a cached translation: the same token" "$(auth_of "$DIR/k0.h")" "$(auth_of "$DIR/k2.h")"
check "a cached translation keeps its kid" "$kid0" "$(kid_of "$DIR/k2.h")"

# --- a bad fragment and a new key in one SIGHUP: the keys are reloaded, the policy is kept, and
# the log says exactly that (not "the running policy and keys are kept").
printf 'p, role:operator, metadata:groups, delete\nbogus line without sense\n' >"$DIR/policy/d.csv"
mv "$KD/active.pem" "$KD/second.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$KD/active.pem" 2>/dev/null &&
    chmod 600 "$KD/active.pem" || bad "openssl genpkey"
kid2=$("$TS" keys thumbprint "$KD/active.pem")
f=$(failures)
kill -HUP "$GW_PID"
wait_for 100 at_least $((f + 1)) '"msg":"reload failed' "$DIR/gateway.log" ||
    bad "no log line for the reload: $(tail -n 3 "$DIR/gateway.log")"
last=$(grep '"msg":"reload' "$DIR/gateway.log" | tail -1)
echo "$last" | grep -qF "$POLICY_KEPT$pv1\",\"policy\":\"kept\",\"keys\":\"reloaded\"" &&
    ok "bad fragment + new key: the log says the policy was kept and the keys reloaded" ||
    bad "bad fragment + new key: $last"
echo "$last" | grep -q 'd\.csv' && ok "... naming the fragment" || bad "no d.csv in: $last"
echo "$last" | grep -q 'running policy and keys are kept' && bad "the log says the keys were kept"
jwks
grep -q "\"kid\":\"$kid2\"" "$DIR/jwks" && ok "the JWKS lists the newest kid" || bad "JWKS: $(cat "$DIR/jwks")"
AT3=$(new_token)
st=$(gw_check GET /nodes "$AT3" "$DIR/k3"); check "GET /nodes, another new caller token" 200 "$st"
check "a new translation: signed by the newest key" "$kid2" "$(kid_of "$DIR/k3.h")"
st=$(gw_check DELETE /groups/1 "$AT" "$DIR/g3"); check "DELETE /groups/1: the policy kept" 403 "$st"
check "x-tokensmith-policy-version: kept" "$pv1" "$(header x-tokensmith-policy-version "$DIR/k3.h")"
rm -f "$DIR/policy/d.csv"

# --- a bad key file: the keys are kept, the policy reloaded; with a bad fragment too: both kept
printf -- '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n' >"$KD/bad.pem"
chmod 600 "$KD/bad.pem"
for case in keys both; do
    [ "$case" = both ] && printf 'bogus line without sense\n' >"$DIR/policy/e.csv"
    f=$(failures)
    kill -HUP "$GW_PID"
    wait_for 100 at_least $((f + 1)) '"msg":"reload failed' "$DIR/gateway.log" ||
        bad "no log line for the reload ($case): $(tail -n 3 "$DIR/gateway.log")"
    last=$(grep '"msg":"reload' "$DIR/gateway.log" | tail -1)
    if [ "$case" = keys ]; then
        want='"msg":"reload failed: the running keys are kept, the policy is reloaded","policy_version":"'$pv1'","policy":"reloaded","keys":"kept","where":"'
    else
        want='"msg":"reload failed: the running policy and keys are kept","policy_version":"'$pv1'","policy":"kept","keys":"kept","where":"'
        echo "$last" | grep -q '"where":"[^"]*e\.csv.*"keys_where":"[^"]*bad\.pem' &&
            ok "both bad: the fragment and the key file named" || bad "both bad: $last"
    fi
    echo "$last" | grep -qF "$want" && ok "a bad key file ($case): the log says what was kept" ||
        bad "a bad key file ($case): $last"
    jwks
    grep -q "\"kid\":\"$kid2\"" "$DIR/jwks" && ok "the JWKS is kept ($case)" || bad "JWKS: $(cat "$DIR/jwks")"
done
rm -f "$KD/bad.pem" "$DIR/policy/e.csv"

# --- SIGTERM: STOPPING=1, exit 0; never a token in the log
stop_gateway
check "SIGTERM: exit status" 0 "$GW_RC"
wait_for 50 at_least 1 '^STOPPING=1' "$N" && ok "STOPPING=1 sent" || bad "no STOPPING=1"
check "STOPPING=1 is the last message" STOPPING=1 "$(grep -v '^WATCHDOG' "$N" | tail -1)"
for t in "$AT" "$AT2" "$AT3"; do
    grep -qF "$t" "$DIR/gateway.log" && bad "the gateway logged a caller token"
done
# --- SIGINT stops it the same way; without $NOTIFY_SOCKET nothing is sent
n=$(wc -l <"$N")
start_gateway "$DIR/gw.json" || exit 1
kill -INT "$GW_PID"
wait "$GW_PID"
check "SIGINT: exit status" 0 $?
GW_PID=
check "no \$NOTIFY_SOCKET: nothing sent" "$n" "$(wc -l <"$N")"
[ "$fail" = 0 ] || { echo "--- notify"; cat "$N"; echo "--- gateway"; tail -n 20 "$DIR/gateway.log"; }
finish
