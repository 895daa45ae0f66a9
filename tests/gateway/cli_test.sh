#!/bin/sh
# gateway.cli: the `tokensmith gateway` command line (docs/cli.md, docs/gateway.md
# "Configuration"): --help from the settings rows, --check on good and bad files (exit 0/1, the
# message names the file and the member), defaults < file < variable < flag, usage errors
# (exit 2), and docs/cli.md's gateway settings block = `tokensmith help gateway settings`.
# usage: cli_test.sh TOKENSMITH SOURCE_DIR
TS=$1
SRC=$2
. "$(dirname "$0")/lib.sh"

run() { "$@" >"$DIR/out" 2>"$DIR/err" </dev/null; st=$?; }
expect() { # NAME STATUS [TEXT in stdout or stderr]
    if [ "$st" != "$2" ]; then
        bad "$1: exit $st, want $2: $(head -c 600 "$DIR/err")"
    elif [ $# -ge 3 ] && ! cat "$DIR/out" "$DIR/err" | grep -F -q -- "$3"; then
        bad "$1: output lacks '$3': $(head -c 600 "$DIR/out") / $(head -c 600 "$DIR/err")"
    else
        ok "$1"
    fi
}
# No variable of the caller's environment may change what this test sees.
for v in $(env | sed -n 's/^\(TOKENSMITH_GATEWAY_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

run "$TS" gateway --help
expect "--help" 0 "--translate-ttl DUR"
expect "--help names the variable" 0 "[TOKENSMITH_GATEWAY_TRANSLATE_TTL;"
run "$TS" help gateway settings
expect "help gateway settings: a row with its member, bounds and default" 0 \
    '| `translate.ttl` | `--translate-ttl DUR` | `TOKENSMITH_GATEWAY_TRANSLATE_TTL` | `5m` | 30s..1h |'
expect "--help: --config" 0 "TOKENSMITH_GATEWAY_CONFIG"
run "$TS" help gateway
expect "help gateway" 0 "--grpc-listen"

# The issue's example, verbatim but for the directories and ports of this test.
mkdir -p "$DIR/home/keys"
cat >"$DIR/gw.json" <<EOF2
{"listen": "127.0.0.1:0",            "grpc_listen": "127.0.0.1:0",
 "admin_listen": "127.0.0.1:0",      "issuer": "https://gateway.example",
 "home": "$DIR/home",
 "trust": [{"issuer": "https://tokens.example", "jwks_uri": "http://127.0.0.1:8080/.well-known/jwks.json",
            "audiences": ["gateway"]}],
 "translate": {"audience": "backend", "ttl": "5m"},
 "authz": {"mode": "enforce", "scope_roles": {"read": "viewer", "write": "operator", "admin": "admin"},
           "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"},
                      {"method": "DELETE", "path": "/nodes/:id", "object": "metadata:nodes"}],
           "policy_dir": null}}
EOF2

# --check reads the keys without creating one: none yet is a failure, after the summary.
run "$TS" gateway --config "$DIR/gw.json" --check
expect "--check without a key" 1 "translate: audience backend, ttl 300s"
[ -z "$(ls "$DIR/home/keys")" ] && ok "--check created no key" || bad "--check created a key"
run "$TS" keys generate --key-dir "$DIR/home/keys" --alg ES256
expect "a key for the gateway" 0
run "$TS" gateway --config "$DIR/gw.json" --check
expect "--check on the issue's example" 0 "verifiers, policy and keys: OK"
expect "--check summary: trust" 0 "trust[0] https://tokens.example (jwt)"
expect "--check summary: authz" 0 "authz: mode enforce, policy (embedded baseline), 2 routes, 3 scope roles"
TOKENSMITH_GATEWAY_CONFIG=$DIR/gw.json run "$TS" gateway --check
expect "TOKENSMITH_GATEWAY_CONFIG" 0 "configuration: $DIR/gw.json"

# Precedence: defaults < file < variable < flag.
run "$TS" gateway --config "$DIR/gw.json" --check
expect "file over default" 0 "ttl 300s"
TOKENSMITH_GATEWAY_TRANSLATE_TTL=2m run "$TS" gateway --config "$DIR/gw.json" --check
expect "variable over file" 0 "ttl 120s"
TOKENSMITH_GATEWAY_TRANSLATE_TTL=2m run "$TS" gateway --config "$DIR/gw.json" --check \
    --translate-ttl 90
expect "flag over variable" 0 "ttl 90s"
TOKENSMITH_GATEWAY_MODE=shadow run "$TS" gateway --config "$DIR/gw.json" --check
expect "authz.mode from its variable" 0 "authz: mode shadow"

# Bad files: exit 1, the file and the member named.
sed 's/"audiences": \["gateway"\]/"audiences": ["gateway", 7]/' "$DIR/gw.json" >"$DIR/bad1.json"
run "$TS" gateway --config "$DIR/bad1.json" --check
expect "a member's path in the message" 1 \
    "tokensmith: gateway: $DIR/bad1.json: trust[0].audiences[1]: not a string"
sed 's/"mode": "enforce"/"mode": "enforce", "mode": "off"/' "$DIR/gw.json" >"$DIR/bad2.json"
run "$TS" gateway --config "$DIR/bad2.json" --check
expect "a duplicate member" 1 "duplicate"
sed 's/"translate": {/"translate": {"tll": 1, /' "$DIR/gw.json" >"$DIR/bad3.json"
run "$TS" gateway --config "$DIR/bad3.json" --check
expect "an unknown member" 1 "translate.tll: unknown member"
sed 's/"issuer": "https:\/\/gateway.example",//' "$DIR/gw.json" >"$DIR/bad4.json"
run "$TS" gateway --config "$DIR/bad4.json" --check
expect "issuer required" 1 "issuer: required"
run "$TS" gateway --config "$DIR/no-such.json" --check
expect "a missing file" 1 "no-such.json"

# Usage errors: exit 2.
run "$TS" gateway --config "$DIR/gw.json" --check --no-such-option
expect "unknown option" 2 "unknown option '--no-such-option'"
run "$TS" gateway --config "$DIR/gw.json" --check --threads 0
expect "a flag out of bounds" 2 "--threads (threads): '0' is not an integer in 1..256"
TOKENSMITH_GATEWAY_MODE=audit run "$TS" gateway --config "$DIR/gw.json" --check
expect "a variable out of bounds" 2 "TOKENSMITH_GATEWAY_MODE (authz.mode)"
run "$TS" gateway --config "$DIR/gw.json" --check --grpc-listen nonsense
expect "grpc_listen must be HOST:PORT" 2 "--grpc-listen: 'nonsense' is not HOST:PORT"
run "$TS" gateway --config
expect "--config without a value" 2 "--config needs a value"

# A run: the listening line with every port, the admin listener, SIGHUP, SIGTERM.
command -v curl >/dev/null 2>&1 || { bad "curl not found"; finish; }
if start_gateway "$DIR/gw.json"; then
    ok "listening: port $GW_PORT, grpc_port $GW_GRPC_PORT, admin_port $GW_ADMIN_PORT"
    [ "$GW_GRPC_PORT" -gt 0 ] && [ "$GW_PORT" -gt 0 ] && ok "every port bound" ||
        bad "ports: $GW_PORT $GW_GRPC_PORT"
    A=http://127.0.0.1:$GW_ADMIN_PORT
    check "GET /health" 200 "$(curl -s -o "$DIR/h" -w '%{http_code}' "$A/health")"
    check "/health body" '{"status":"ok"}' "$(cat "$DIR/h")"
    check "HEAD /health" 200 "$(curl -s -I -o /dev/null -w '%{http_code}' "$A/health")"
    check "GET /metrics" 200 "$(curl -s -o "$DIR/m" -w '%{http_code}' "$A/metrics")"
    grep -q '^# TYPE ' "$DIR/m" && ok "/metrics is Prometheus text" || bad "/metrics: $(head -c 300 "$DIR/m")"
    check "GET /.well-known/jwks.json" 200 \
        "$(curl -s -o "$DIR/jwks" -w '%{http_code}' "$A/.well-known/jwks.json")"
    kid=$("$TS" keys thumbprint "$(ls "$DIR"/home/keys/*.pem | head -1)")
    grep -q "\"kid\":\"$kid\"" "$DIR/jwks" && ok "the JWKS holds the gateway's key ($kid)" ||
        bad "JWKS lacks kid $kid: $(head -c 300 "$DIR/jwks")"
    check "another path" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$A/admin")"
    check "another method" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$A/health")"
    kill -HUP "$GW_PID"
    i=0
    while [ $i -lt 100 ] && ! grep -q '"msg":"reloaded"' "$DIR/gateway.log"; do
        sleep 0.1; i=$((i + 1))
    done
    grep -q '"msg":"reloaded".*"policy_version":"[0-9a-f]\{64\}"' "$DIR/gateway.log" &&
        ok "SIGHUP reloads" || bad "no reload line: $(tail -n 5 "$DIR/gateway.log")"
    kill -0 "$GW_PID" 2>/dev/null && ok "alive after SIGHUP" || bad "SIGHUP stopped the gateway"
    stop_gateway
    check "SIGTERM: exit status" 0 "$GW_RC"
else
    bad "the gateway did not start on the issue's example"
fi
# The first run creates its state and key directories (0700) and its key.
gateway_config "$DIR/fresh.json" https://tokens.example http://127.0.0.1:9/jwks.json
if start_gateway "$DIR/fresh.json"; then
    check "a new key directory" 700 "$(stat -c %a "$DIR/gw-home/keys" 2>/dev/null)"
    [ -n "$(ls "$DIR"/gw-home/keys/*.pem 2>/dev/null)" ] && ok "a new key" || bad "no key made"
    stop_gateway
    check "SIGTERM after a fresh start" 0 "$GW_RC"
else
    bad "the gateway did not start with a new state directory"
fi

# SIGHUP with a policy directory: a new fragment changes policy_version, a bad one is logged
# and the running policy kept.
mkdir -p "$DIR/policy"
echo 'g, user:alice, role:viewer, *' >"$DIR/policy/a.csv"
sed "s|\"policy_dir\": null|\"policy_dir\": \"$DIR/policy\"|" "$DIR/gw.json" >"$DIR/pol.json"
pv_of() { sed -n "s/.*\"msg\":\"$1\".*\"policy_version\":\"\([0-9a-f]*\)\".*/\1/p" "$DIR/gateway.log" | tail -1; }
wait_log() { # PATTERN COUNT: until COUNT lines match
    i=0
    while [ $i -lt 100 ] && [ "$(grep -c "$1" "$DIR/gateway.log")" -lt "$2" ]; do
        sleep 0.1; i=$((i + 1))
    done
}
if start_gateway "$DIR/pol.json"; then
    pv0=$(pv_of listening)
    check "policy_version of the fragment at start" "$("$TS" policy version --policy-dir "$DIR/policy")" "$pv0"
    echo 'g, user:bob, role:operator, *' >"$DIR/policy/b.csv"
    n=$(grep -c '"msg":"reloaded"' "$DIR/gateway.log")
    kill -HUP "$GW_PID"
    wait_log '"msg":"reloaded"' $((n + 1))
    pv1=$(pv_of reloaded)
    check "SIGHUP: the new policy_version" "$("$TS" policy version --policy-dir "$DIR/policy")" "$pv1"
    [ "$pv1" != "$pv0" ] && ok "the policy_version changed" || bad "policy_version unchanged: $pv1"
    echo 'bogus line without sense' >"$DIR/policy/c.csv"
    kill -HUP "$GW_PID"
    wait_log '"msg":"reload failed' 1
    grep -q '"msg":"reload failed.*c\.csv' "$DIR/gateway.log" && ok "a bad fragment: reload failed, naming it" ||
        bad "no failed reload: $(tail -n 3 "$DIR/gateway.log")"
    kill -0 "$GW_PID" 2>/dev/null && ok "alive after a bad reload" || bad "a bad reload stopped it"
    check "/health after a bad reload" 200 \
        "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_ADMIN_PORT/health")"
    stop_gateway
    check "SIGTERM after reloads" 0 "$GW_RC"
else
    bad "the gateway did not start with a policy directory"
fi

# A listener that cannot bind: exit 1, nothing left running.
python3 -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1]); sys.stdout.flush(); time.sleep(30)' >"$DIR/busy" &
BUSY=$!
cleanup_more() { kill "$BUSY" 2>/dev/null; }
i=0; while [ $i -lt 50 ] && [ ! -s "$DIR/busy" ]; do sleep 0.1; i=$((i + 1)); done
run "$TS" gateway --config "$DIR/gw.json" --admin-listen "127.0.0.1:$(cat "$DIR/busy")"
expect "admin port taken" 1 "admin_listen"
kill "$BUSY" 2>/dev/null

# docs/cli.md's gateway settings = `tokensmith help gateway settings`.
"$TS" help gateway settings >"$DIR/want"
sed -n '/^<!-- gateway settings reference: generated by `tokensmith help gateway settings` -->$/,/^$/p' \
    "$SRC/docs/cli.md" | sed '1d;$d' >"$DIR/got"
if [ -s "$DIR/got" ] && cmp -s "$DIR/want" "$DIR/got"; then
    ok "docs/cli.md gateway settings = help gateway settings"
else
    bad "docs/cli.md's gateway settings block differs from \`tokensmith help gateway settings\`"
    diff "$DIR/want" "$DIR/got"
fi
finish
