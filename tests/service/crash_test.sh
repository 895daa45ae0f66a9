#!/bin/sh
# kill -9 of `tokensmith serve` during a burst of bootstrap exchanges and refreshes, then a
# restart: every refresh token answered with 200 still works (unless the store shows that a
# later rotation of it committed and only its answer was lost), no bootstrap token answered
# with 200 redeems again, and the database passes its integrity check.
# usage: crash_test.sh TOKENSMITH
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
command -v sqlite3 >/dev/null 2>&1 || { echo "skip: sqlite3 not installed"; exit 77; }
DIR=$(mktemp -d)
PID=
trap 'kill -9 $PID 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$DIR"' EXIT
. "$(dirname "$0")/lib.sh"
STORE=$DIR/h/tokensmith.db
start_server "$DIR/s.log" --home "$DIR/h" --alg ES256

b64url_json() { # decode the payload of a JWT
    p=$(printf '%s' "$1" | cut -d. -f2 | tr '_-' '/+')
    case $((${#p} % 4)) in 2) p="$p==" ;; 3) p="$p=" ;; esac
    printf '%s' "$p" | base64 -d 2>/dev/null
}

refresher() { # W TOKEN: exchange, then refresh in a loop until the server dies
    w=$1
    st=$(exchange "$2" "$DIR/w$w.ex")
    echo "$st" > "$DIR/w$w.exst"
    [ "$st" = 200 ] || return 0
    rt=$(json_field "$DIR/w$w.ex" refresh_token)
    b64url_json "$(json_field "$DIR/w$w.ex" access_token)" | sed -n 's/.*"session_id":"\([^"]*\)".*/\1/p' > "$DIR/w$w.fam"
    echo "$rt" > "$DIR/w$w.rt"
    n=0
    echo 0 > "$DIR/w$w.n"
    while :; do
        st=$(refresh "$rt" "$DIR/w$w.r")
        [ "$st" = 200 ] || break
        rt=$(json_field "$DIR/w$w.r" refresh_token)
        n=$((n + 1))
        echo "$rt" > "$DIR/w$w.rt"
        echo "$n" > "$DIR/w$w.n"
    done
}
exchanger() { # E: redeem its own tokens one after another
    e=$1; k=0
    while [ $k -lt 15 ]; do
        tok=$(sed -n "$((k + 1))p" "$DIR/x$e.tokens")
        st=$(exchange "$tok" "$DIR/x$e.r")
        echo "$tok $st" >> "$DIR/x$e.results"
        k=$((k + 1))
    done
}

for w in 1 2 3 4 5 6; do create_token "$STORE" > "$DIR/w$w.tok"; done
for e in 1 2; do
    k=0; : > "$DIR/x$e.tokens"
    while [ $k -lt 15 ]; do create_token "$STORE" >> "$DIR/x$e.tokens"; k=$((k + 1)); done
done
pids=
for w in 1 2 3 4 5 6; do refresher $w "$(cat "$DIR/w$w.tok")" & pids="$pids $!"; done
for e in 1 2; do exchanger $e & pids="$pids $!"; done
sleep 2
kill -9 $PID
wait $PID 2>/dev/null
wait $pids
start_server "$DIR/s2.log" --home "$DIR/h" --alg ES256

check "integrity check" ok "$(sqlite3 "$STORE" 'PRAGMA integrity_check')"
total=0
for w in 1 2 3 4 5 6; do
    [ "$(cat "$DIR/w$w.exst")" = 200 ] || { echo "FAIL: worker $w exchange $(cat "$DIR/w$w.exst")"; fail=1; continue; }
    fam=$(cat "$DIR/w$w.fam"); n=$(cat "$DIR/w$w.n"); total=$((total + n))
    used=$(sqlite3 "$STORE" "select usage_count from refresh_families where family_id='$fam'")
    st=$(refresh "$(cat "$DIR/w$w.rt")" "$DIR/w$w.after")
    if [ "$used" = "$n" ]; then
        check "worker $w: last answered refresh token works after the crash ($n rotations)" 200 "$st"
    elif [ "$used" = "$((n + 1))" ]; then
        check "worker $w: answer lost after commit, old token is reuse" 400 "$st"
    else
        echo "FAIL: worker $w: store rotations $used, answered $n"; fail=1
    fi
done
[ $total -gt 0 ] || { echo "FAIL: no refresh was answered before the crash"; fail=1; }
redeemed=0
for e in 1 2; do
    while read -r tok st; do
        [ "$st" = 200 ] || continue
        redeemed=$((redeemed + 1))
        again=$(exchange "$tok" "$DIR/again")
        # 429 once the limiter has counted ten of these refusals: still not redeemed.
        [ "$again" = 429 ] && again=400
        check "consumed bootstrap token stays consumed" 400 "$again"
    done < "$DIR/x$e.results"
done
[ $redeemed -gt 0 ] || { echo "FAIL: no exchange was answered before the crash"; fail=1; }
echo "refreshes answered before the crash: $total; exchanges answered: $redeemed"
stop_server
[ $fail -eq 0 ] && echo "PASS" || echo "FAILED"
exit $fail
