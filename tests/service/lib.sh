# Shared helpers of the service tests (sourced). Needs TS (the tokensmith binary).
# TS_TEST_WRAPPER, when set, is a command put in front of `tokensmith serve` (scripts/valgrind.sh
# sets "valgrind --error-exitcode=99 ..."); the server then gets more time to start, and a
# non-zero exit status at stop_server fails the test.
#
# Unless the test made its own DIR first (and so cleans up itself), this file makes a scratch
# directory DIR and removes it at exit (KEEP=1 keeps it), stopping the server PID first; a test
# with processes of its own defines cleanup_more(), which runs before that.
command -v curl >/dev/null 2>&1 || { echo "FAIL: curl not found"; exit 1; }
if [ -z "${DIR:-}" ]; then
    DIR=$(mktemp -d)
    PID=
    cleanup_more() { :; }
    cleanup() {
        cleanup_more
        [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
        if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
    }
    trap cleanup EXIT
fi
fail=0
check() { # name want got
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1: got '$3', want '$2'"
        fail=1
    else
        echo "ok: $1"
    fi
}
# start_server LOG ARGS...: start `tokensmith serve` on an ephemeral loopback port; sets PID, PORT, URL.
start_server() {
    log=$1; shift
    # shellcheck disable=SC2086 # the wrapper is a command line: split on blanks
    ${TS_TEST_WRAPPER:-} "$TS" serve --listen 127.0.0.1:0 "$@" 2>>"$log" &
    PID=$!
    PORT=
    i=0
    tries=400 # 40 s: a bound for a loaded machine (ASan, PostgreSQL start-up), not the expected time
    [ -z "${TS_TEST_WRAPPER:-}" ] || tries=1200
    while [ $i -lt $tries ]; do
        PORT=$(sed -n -e 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' \
            -e 's/^[^ ]* info  listening .*port=\([0-9]*\).*/\1/p' "$log" | tail -1)
        [ -n "$PORT" ] && kill -0 $PID 2>/dev/null && break
        kill -0 $PID 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$PORT" ]; then
        echo "FAIL: server did not start"; cat "$log"; exit 1
    fi
    URL=http://127.0.0.1:$PORT
    : > "$log.offset"
}
stop_server() {
    kill -TERM $PID 2>/dev/null
    wait $PID 2>/dev/null
    rc=$?
    if [ -n "${TS_TEST_WRAPPER:-}" ] && [ $rc -ne 0 ]; then
        echo "FAIL: tokensmith serve under '$TS_TEST_WRAPPER' exited $rc"
        tail -n 40 "$log"
        fail=1
    fi
}
# post PATH OUTFILE CURL-ARGS...: prints the HTTP status; the body goes to OUTFILE.
post() {
    p=$1; o=$2; shift 2
    curl -s -o "$o" -w '%{http_code}' -X POST "$URL$p" "$@"
}
json_field() { # FILE FIELD: a top-level string or number field of a JSON object
    sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$1"
}
BOOT='urn:openchami:params:oauth:token-type:bootstrap-token'
GRANT='urn:ietf:params:oauth:grant-type:token-exchange'
exchange() { # TOKEN OUTFILE -> status
    post /oauth/token "$2" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$BOOT" --data-urlencode "subject_token=$1"
}
refresh() { # TOKEN OUTFILE -> status
    post /oauth/token "$2" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$1"
}
create_token() { # STORE [more flags]: prints the bootstrap token
    st=$1; shift
    "$TS" bootstrap-token create --subject svc-a --audience smd --scopes "read,write" --store "$st" \
        --output-format json "$@" 2>/dev/null | sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p'
}

# start_provider: the OpenID providers of tests/oidc/provider.mjs (node oidc-provider) for as
# long as the test runs, or exit 77 when its node modules are missing; sets NPID. prov_field
# NAME prints a URL it announced (a, b, raw, control). Needs SRC and NODE; a test that starts
# it calls stop_provider from its cleanup_more().
NPID=
start_provider() {
    mkfifo "$DIR/prov.in"
    (cd "$SRC" && exec "$NODE" tests/oidc/provider.mjs) <"$DIR/prov.in" >"$DIR/prov" 2>"$DIR/prov.err" &
    NPID=$!
    exec 3>"$DIR/prov.in" # the provider exits when its stdin closes
    local i=0
    while [ ! -s "$DIR/prov" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    if [ ! -s "$DIR/prov" ]; then
        if grep -q 'missing (run npm ci)' "$DIR/prov.err"; then
            echo "SKIP: $(cat "$DIR/prov.err")"; exit 77
        fi
        echo "FAIL: provider did not start"; cat "$DIR/prov.err"; exit 1
    fi
}
prov_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$DIR/prov"; }
stop_provider() {
    exec 3>&- 2>/dev/null
    [ -n "$NPID" ] && { kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null; }
    NPID=
}
