#!/bin/sh
# kill -9 of one of two replicas (one PostgreSQL database) in a burst of grants: four clients
# exchange a bootstrap token and then refresh in a loop, two more redeem bootstrap tokens one
# after another, half of them on each replica; A is killed mid-burst and its clients carry on
# on B, retrying the request that got no answer. Then:
# - every grant answered 200 carries a valid token: the last access token of each client
#   verifies against the JWKS of the replica that signed it, and its last refresh token
#   rotates on the survivor, unless the database shows that the request cut by the kill had
#   committed its rotation (usage_count one more than the answers), in which case the retry
#   was reuse and revoked the family, as documented;
# - no bootstrap token was redeemed twice: at most one 200 per token, one
#   bootstrap_token_exchanged audit row per consumed token, one family per consumed token, and
#   every token presented again is refused.
# usage: kill9_burst_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
TEST_NAME=kill9_burst
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_fixture_db "$3"
# X-Forwarded-For from the trusted proxy gives every client its own limiter key.
start_replica a --trusted-proxy 127.0.0.1
start_replica b --trusted-proxy 127.0.0.1
for r in a b; do curl -s -o "$DIR/$r.jwks" "$(eval "echo \$URL_$r")/.well-known/jwks.json"; done
WORKERS="1 2 3 4"
EXCHANGERS="1 2"
PER_EXCHANGER=6

# Bootstrap tokens, made in parallel (one CLI process each).
mk_tokens() { # FILE COUNT
    k=0
    while [ $k -lt "$2" ]; do create_token "$PGDB" >>"$1"; k=$((k + 1)); done
}
mk=
for w in $WORKERS; do : >"$DIR/w$w.tok"; mk_tokens "$DIR/w$w.tok" 1 & mk="$mk $!"; done
for e in $EXCHANGERS; do : >"$DIR/x$e.tokens"; mk_tokens "$DIR/x$e.tokens" $PER_EXCHANGER & mk="$mk $!"; done
wait $mk
for f in "$DIR"/w*.tok "$DIR"/x*.tokens; do
    grep -qv '^[0-9a-f]\{64\}$' "$f" && { echo "FAIL: bad bootstrap tokens in $f"; exit 1; }
done
[ "$(cat "$DIR"/w*.tok "$DIR"/x*.tokens | wc -l)" -eq 16 ] || { echo "FAIL: bootstrap tokens missing"; exit 1; }

req() { # REPLICA CLIENT OUTFILE CURL-ARGS... -> HTTP status, 000 when no answer
    eval "u=\$URL_$1"
    x=$2 o=$3
    shift 3
    curl -s -m 30 -o "$o" -w '%{http_code}' -X POST "$u/oauth/token" -H "X-Forwarded-For: $x" "$@"
}
xreq() { # REPLICA CLIENT OUTFILE TOKEN
    req "$1" "$2" "$3" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$BOOT" --data-urlencode "subject_token=$4"
}
rreq() { # REPLICA CLIENT OUTFILE TOKEN
    req "$1" "$2" "$3" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$4"
}

# Client W: exchange, then refresh until told to stop. Files: w$W.exst (status of the exchange,
# "000 then S" after a cut), w$W.n (answered rotations), w$W.rt (the last refresh token
# answered), w$W.at.R (the last access token replica R answered), w$W.cut (a request got no
# answer and was retried on B), w$W.refused (a refusal: its status).
refresher() {
    w=$1 x=10.7.0.$1 r=a
    [ $(($1 % 2)) = 0 ] && r=b
    tok=$(cat "$DIR/w$w.tok")
    st=$(xreq $r $x "$DIR/w$w.body" "$tok")
    if [ "$st" = 000 ] && [ $r = a ]; then
        r=b
        st=$(xreq $r $x "$DIR/w$w.body" "$tok")
        echo "000 then $st" >"$DIR/w$w.exst"
    else
        echo "$st" >"$DIR/w$w.exst"
    fi
    [ "$st" = 200 ] || return 0
    rt=$(json_field "$DIR/w$w.body" refresh_token)
    json_field "$DIR/w$w.body" access_token >"$DIR/w$w.at.$r"
    echo "$rt" >"$DIR/w$w.rt"
    n=0
    echo 0 >"$DIR/w$w.n"
    while [ ! -e "$DIR/stop" ] && [ $n -lt 500 ]; do
        st=$(rreq $r $x "$DIR/w$w.body" "$rt")
        case $st in
        200)
            rt=$(json_field "$DIR/w$w.body" refresh_token)
            n=$((n + 1))
            json_field "$DIR/w$w.body" access_token >"$DIR/w$w.at.$r"
            echo "$rt" >"$DIR/w$w.rt"
            echo "$n" >"$DIR/w$w.n"
            ;;
        000)
            if [ $r = a ]; then
                echo "$n" >"$DIR/w$w.cut"
                r=b
                continue
            fi
            echo "000 from b" >"$DIR/w$w.refused"
            return 0
            ;;
        *)
            echo "$st" >"$DIR/w$w.refused"
            return 0
            ;;
        esac
    done
}
# Client E: redeem its tokens one after another, alternating replicas (B once A is gone).
# Lines of x$E.results: "TOKEN REPLICA STATUS", and "TOKEN b STATUS" again after a cut.
exchanger() {
    e=$1 k=0 dead= i=0
    # start with the burst under way, so that the kill falls among the exchanges
    while [ ! -e "$DIR/go" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    while read -r tok; do
        r=a
        [ $(((k + e) % 2)) = 0 ] && r=b
        [ -n "$dead" ] && r=b
        st=$(xreq $r "10.6.$e.$k" "$DIR/x$e.body" "$tok")
        echo "$tok $r $st" >>"$DIR/x$e.results"
        if [ "$st" = 000 ] && [ $r = a ]; then
            dead=1
            st=$(xreq b "10.6.$e.$k" "$DIR/x$e.body" "$tok")
            echo "$tok b $st" >>"$DIR/x$e.results"
        fi
        k=$((k + 1))
    done <"$DIR/x$e.tokens"
    echo done >"$DIR/x$e.done"
}

pids=
for w in $WORKERS; do refresher $w & pids="$pids $!"; done
for e in $EXCHANGERS; do : >"$DIR/x$e.results"; exchanger $e & pids="$pids $!"; done

answered() { # rotations answered so far, over all clients
    cat "$DIR"/w*.n 2>/dev/null | awk '{s += $1} END {print s + 0}'
}
results() { cat "$DIR/x$1.results" | wc -l; }
# Let the exchangers go once rotations are under way, and kill A as soon as both have had
# answers, with most of their tokens still to go (bounded waits: 60 s each).
i=0
while [ "$(answered)" -lt 12 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
touch "$DIR/go"
i=0
while { [ "$(results 1)" -lt 2 ] || [ "$(results 2)" -lt 2 ]; } && [ $i -lt 1200 ]; do
    sleep 0.05
    i=$((i + 1))
done
before=$(answered)
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
check "replica A was killed (status 137)" 137 $?
PID_a=
echo "killed A after $before answered rotations"
# Let the clients carry on on B for a while: 16 more rotations (bounded wait: 60 s).
i=0
while [ "$(answered)" -lt $((before + 16)) ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
touch "$DIR/stop"
wait $pids
echo "answered rotations: $(answered) ($before before the kill)"

# --- refresh clients
for w in $WORKERS; do
    ex=$(cat "$DIR/w$w.exst")
    h=$(sha256_hex "$(cat "$DIR/w$w.tok")")
    fam=$(sql "select family_id from bootstrap_tokens where token_hash = '$h'")
    case $ex in
    200 | "000 then 200") ;;
    "000 then 400")
        check "client $w: exchange cut by the kill had committed (token consumed, one family)" 1 \
            "$(sql "select count(*) from bootstrap_tokens b join refresh_families f using (family_id) where b.token_hash = '$h'")"
        continue
        ;;
    *)
        echo "FAIL: client $w: exchange answered '$ex'"; fail=1; continue
        ;;
    esac
    n=$(cat "$DIR/w$w.n")
    used=$(sql "select usage_count from refresh_families where family_id = '$fam'")
    if [ -e "$DIR/w$w.refused" ]; then
        # only allowed right after a cut: the cut rotation committed, the retry was reuse
        check "client $w: a refusal ($(cat "$DIR/w$w.refused")) only right after a cut" "$n" "$(cat "$DIR/w$w.cut" 2>/dev/null)"
        check "client $w: the cut rotation had committed ($n answered)" $((n + 1)) "$used"
        check "client $w: the retry revoked the family as reuse" reuse_detected \
            "$(sql "select revoke_reason from refresh_families where family_id = '$fam'")"
        continue
    fi
    check "client $w: $n rotations answered, $n in the database" "$n" "$used"
    st=$(rreq b 10.7.1.$w "$DIR/w$w.last" "$(cat "$DIR/w$w.rt")")
    check "client $w: its last refresh token rotates on B" 200 "$st"
done
cuts=$(ls "$DIR"/w*.cut 2>/dev/null | wc -l)
echo "refresh clients cut by the kill: $cuts"
# the last access token each replica answered each client verifies against that replica's
# JWKS (fetched at start; A's died with it), two verifications at a time
verify() { # REPLICA TOKEN-FILE
    "$TS" token verify --jwks "$DIR/$1.jwks" --issuer "$ISSUER" --audience smd - <"$2" >/dev/null 2>"$2.err" ||
        echo "FAIL: $2 (from $1) does not verify: $(cat "$2.err")"
}
: >"$DIR/verify.out"
nv=0
for r in a b; do
    for f in "$DIR"/w*.at.$r; do
        [ -e "$f" ] || continue
        verify $r "$f" >>"$DIR/verify.out" &
        vp="${vp:-} $!"
        nv=$((nv + 1))
        [ $((nv % 2)) = 0 ] && { wait $vp; vp=; }
    done
done
[ -n "${vp:-}" ] && wait $vp # never a bare wait: B is a child too
[ $nv -ge 4 ]; check "access tokens to verify: $nv (at least one per client)" 0 $?
check "they all verify" "" "$(cat "$DIR/verify.out")"

# --- bootstrap tokens
for e in $EXCHANGERS; do
    check "exchanger $e finished" done "$(cat "$DIR/x$e.done" 2>/dev/null)"
    echo "exchanger $e: $(awk '{print $2 ":" $3}' "$DIR/x$e.results" | sort | uniq -c | tr -s ' \n' ' ')"
    bad=$(awk '!($3 == 200 || ($2 == "a" && $3 == "000") || ($2 == "b" && $3 == 400))' "$DIR/x$e.results")
    check "exchanger $e: only 200, a cut on A, or (after a cut) 400" "" "$bad"
    # a 400 is only the retry of a cut exchange that had committed
    awk '$3 == "000" {cut[$1] = 1} $3 == 400 && !cut[$1] {print "FAIL: 400 without a cut: " $1}' \
        "$DIR/x$e.results" | grep -q FAIL && { echo "FAIL: exchanger $e: a refusal without a cut"; fail=1; }
done
cat "$DIR"/x*.results | awk '$3 == 200 {print $1}' | sort | uniq -d >"$DIR/twice"
check "no bootstrap token answered 200 twice" "" "$(cat "$DIR/twice")"
all=$(cat "$DIR"/w*.tok "$DIR"/x*.tokens | wc -l)
check "every token of the burst consumed" "$all" "$(sql "select count(*) from bootstrap_tokens where consumed_at is not null")"
check "one family per consumed token" "$all" "$(sql "select count(*) from refresh_families")"
check "every consumed token's family exists" "$all" "$(sql "select count(*) from bootstrap_tokens b join refresh_families f using (family_id)")"
check "one bootstrap_token_exchanged row per token" "$all" "$(sql "select count(distinct ref_id) from audit_log where type = 'bootstrap_token_exchanged'")"
check "no token exchanged twice in the audit log" 0 "$(sql "select count(*) from (select ref_id from audit_log where type = 'bootstrap_token_exchanged' group by ref_id having count(*) > 1) t")"
# every token presented again on the survivor is refused
k=0
for tok in $(cat "$DIR"/w*.tok "$DIR"/x*.tokens); do
    st=$(xreq b "10.5.0.$k" "$DIR/again" "$tok")
    [ "$st" = 400 ] || { echo "FAIL: a bootstrap token presented again answered $st"; fail=1; }
    k=$((k + 1))
done
check "all $all tokens refused when presented again" "$all" "$k"
stop_replica b
[ $fail = 0 ] && echo "kill9_burst: all checks passed"
exit $fail
