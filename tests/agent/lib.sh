# Shared helpers of the agent tests (sourced after tests/service/lib.sh, which gives DIR, check,
# start_server, create_token, ...). Needs TS (the tokensmith binary), SRC (the source tree) and
# python3. A test that starts processes of its own lists their pids in EXTRA_PIDS; they and the
# agent are stopped at exit before the server.
# shellcheck disable=SC2034 # JOSE_OUT, AGENT_RC, AURL, ISS, STORE, SLOG and fail are read by the test that sources this file
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
HELPER=$SRC/tests/agent/helper.py
AGENT_PID=
EXTRA_PIDS=
cleanup_more() {
    [ -n "$AGENT_PID" ] && { kill -KILL "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; }
    for p in $EXTRA_PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    :
}

# wait_until TENTHS CMD...: run CMD every 0.1 s until it succeeds (0), or 1 after TENTHS tries.
# (Its counter has a name of its own: sh has no local variables.)
wait_until() {
    wu_left=$1; shift
    while [ "$wu_left" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        wu_left=$((wu_left - 1))
    done
    return 1
}
freeport() { python3 "$HELPER" freeport; }

# start_serve_for_agent [ARGS...]: the `tokensmith serve` most agent tests talk to (ES256, 1 min
# access tokens, JSON logs, state under $DIR/h) with ARGS added; sets ISS, STORE and SLOG, and
# through start_server PORT, URL and PID.
start_serve_for_agent() {
    ISS=https://tokensmith.test
    STORE=$DIR/h/tokensmith.db
    SLOG=$DIR/serve.log
    start_server "$SLOG" --home "$DIR/h" --issuer "$ISS" --alg ES256 --access-ttl 1m \
        --log-format json "$@"
}

# start_agent CONFIG LOG [ARGS...]: `tokensmith agent --config CONFIG` in the background, its
# stderr appended to LOG; sets AGENT_PID. NOTIFY_SOCKET passes through when set.
start_agent() {
    acfg=$1; alog=$2; shift 2
    # shellcheck disable=SC2086 # the wrapper is a command line
    ${TS_TEST_WRAPPER:-} "$TS" agent --config "$acfg" "$@" 2>>"$alog" &
    AGENT_PID=$!
}
# stop_agent [SIGNAL]: signal the agent (TERM) and wait for it; its exit status in AGENT_RC.
# (Not in a $(...): a subshell cannot wait for the agent.)
stop_agent() {
    kill "-${1:-TERM}" "$AGENT_PID" 2>/dev/null
    wait "$AGENT_PID" 2>/dev/null
    AGENT_RC=$?
    AGENT_PID=
}
agent_alive() { [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; }
# agent_port LOG: wait for the agent's "agent started" line (JSON or text) and set APORT and AURL
# from the address it bound (a configuration with settings.listen port 0: no port picked ahead
# of time that another process could take). 1 when the agent exited or never said it.
agent_port() {
    wait_until 300 sh -c "grep -q 'agent started' '$1' || ! kill -0 $AGENT_PID"
    APORT=$(sed -n -e 's/.*"msg":"agent started".*"listen":"[^"]*:\([0-9]*\)".*/\1/p' \
        -e 's/.*"agent started".* listen=[^ ]*:\([0-9]*\).*/\1/p' "$1" | tail -1)
    AURL=http://127.0.0.1:$APORT
    [ -n "$APORT" ] && [ "$APORT" != 0 ] || { echo "FAIL: the agent did not start"; tail -n 20 "$1"; return 1; }
}

# http_status URL [CURL-ARGS...]: the status of a GET (000 when nothing answered).
http_status() {
    hs_url=$1; shift
    curl -s -o /dev/null -m 5 -w '%{http_code}' "$@" "$hs_url"
}
health_ready() { [ "$(http_status "$AURL/health")" = 200 ]; }

# jose_verify TOKEN: 0 when node jose verifies TOKEN through serve's JWKS (issuer $ISS, audience
# smd); JOSE_OUT holds its output. Call jose_available first.
jose_available() { command -v node >/dev/null 2>&1 && [ -d "$SRC/node_modules/jose" ]; }
jose_verify() {
    JOSE_OUT=$(node "$SRC/tests/service/jose_verify.mjs" "$URL/.well-known/jwks.json" "$ISS" smd "$1" 2>&1)
}

# json_str FILE FIELD: a top-level string field (the JSON written on one line).
json_str() { sed -n "s/.*\"$2\" *: *\"\([^\"]*\)\".*/\1/p" "$1"; }
json_num() { sed -n "s/.*\"$2\" *: *\([0-9][0-9]*\).*/\1/p" "$1"; }

# no_secrets_in FILE TOKEN...: fail when FILE holds any of the tokens (or a JWT's signature part).
no_secrets_in() {
    f=$1; shift
    for t in "$@"; do
        [ -n "$t" ] || continue
        if grep -qF -- "$t" "$f"; then echo "FAIL: $f holds a token or secret"; fail=1; fi
        sig=${t##*.}
        if [ "$sig" != "$t" ] && [ ${#sig} -gt 20 ] && grep -qF -- "$sig" "$f"; then
            echo "FAIL: $f holds a JWT signature"; fail=1
        fi
    done
}

# serve_events NAME: the count of audit events NAME in serve's log (json format).
serve_events() { grep -c "\"audit_event\":\"$1\"" "$SLOG" 2>/dev/null || true; }
# family_intact: no refresh token reused, replayed or revoked, no bootstrap token presented
# twice, at the server (its log and its store).
family_intact() {
    for ev in refresh_token_reused refresh_token_replay_detected refresh_token_family_revoked \
        refresh_token_family_already_revoked refresh_token_not_found bootstrap_token_replay_attempted; do
        check "server log: no $ev" 0 "$(serve_events "$ev")"
    done
    if command -v sqlite3 >/dev/null 2>&1; then
        n=$(sqlite3 "$STORE" "SELECT count(*) FROM audit_log WHERE type LIKE '%reuse%' OR type LIKE '%replay%' OR type LIKE '%revoked%' OR type LIKE '%not_found%';")
        check "store audit: no reuse, replay, revocation or unknown token" 0 "$n"
        n=$(sqlite3 "$STORE" "SELECT count(*) FROM refresh_families WHERE revoked_at IS NOT NULL;")
        check "store: no family revoked" 0 "$n"
    fi
}
