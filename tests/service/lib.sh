# Shared helpers of the service tests (sourced). Needs TS (the tokensmith binary) and DIR.
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
    "$TS" serve --listen 127.0.0.1:0 "$@" 2>>"$log" &
    PID=$!
    PORT=
    i=0
    while [ $i -lt 100 ]; do
        PORT=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$log" | tail -1)
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
