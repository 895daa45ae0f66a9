#!/bin/sh
# agent.torn: file sinks are replaced atomically. 40 http sources fetch a new 2,000-byte token
# from a loopback server every second or so (tokens that live 2 s are refreshed after half their
# life), each into its own file sink, while a reader re-reads all 40 files in a loop; after 1,000
# rotations the reader must never have seen an empty file or anything but one whole token.
# usage: torn_test.sh TOKENSMITH SOURCE_DIR [ROTATIONS]
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
ROTATIONS=${3:-1000}
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
N=40
mkdir -p "$DIR/tokens"
echo 2 > "$DIR/seq.ttl"
python3 "$HELPER" http "$DIR" &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_until 100 test -s "$DIR/http.port" || { echo "FAIL: test server did not start"; exit 1; }
HPORT=$(cat "$DIR/http.port")

CFG=$DIR/agent.yaml
files=
{
    echo "settings: { listen: none, logging: { level: warn } }"
    echo "sources:"
    i=1
    while [ $i -le $N ]; do
        cat <<EOF
  s$i:
    type: http
    request: { url: "http://127.0.0.1:$HPORT/seq?s=$i" }
    parse:
      tokens:
        - id: t
          pointer: token
          expiration: { source: json_body_field, pointer: expires_in, format: seconds }
EOF
        i=$((i + 1))
    done
    echo "sinks:"
    i=1
    while [ $i -le $N ]; do
        echo "  f$i: { type: file, source_id: s$i, path: $DIR/tokens/s$i }"
        i=$((i + 1))
    done
} > "$CFG"
i=1
while [ $i -le $N ]; do files="$files $DIR/tokens/s$i"; i=$((i + 1)); done

ALOG=$DIR/agent.log
start_agent "$CFG" "$ALOG"
all_there() { for f in $files; do [ -s "$f" ] || return 1; done; }
wait_until 300 all_there || { echo "FAIL: the file sinks were not all written"; tail -n 20 "$ALOG"; exit 1; }
fetches() { grep -c ' /seq' "$DIR/http.log" 2>/dev/null || echo 0; }
start=$(fetches)
# shellcheck disable=SC2086 # the list of files
python3 "$HELPER" reader "$DIR/stop" "$DIR/reader.out" $files &
RPID=$!
EXTRA_PIDS="$EXTRA_PIDS $RPID"
# 1,000 rotations take about 25 s; 150 s is the bound on a loaded machine.
enough() { [ $(($(fetches) - start)) -ge "$ROTATIONS" ]; }
wait_until 1500 enough
check "$ROTATIONS rotations within 150 s" 0 $?
touch "$DIR/stop"
wait "$RPID"
rot=$(($(fetches) - start))
echo "rotations: $rot; reader: $(head -1 "$DIR/reader.out")"
# shellcheck disable=SC2046 # the words of the line
set -- $(head -1 "$DIR/reader.out")
reads=$2 distinct=$4 torn=$6
check "torn or empty reads" 0 "$torn"
[ "$reads" -gt "$rot" ] || { echo "FAIL: the reader read $reads times only"; fail=1; }
# The reader sees most tokens (each lives in its file for about a second).
[ "$distinct" -ge $((rot / 2)) ] || { echo "FAIL: the reader saw $distinct of $rot tokens"; fail=1; }
agent_alive; check "the agent is running" 0 $?
stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"
check "file sinks are left in place at stop" 0 "$(all_there; echo $?)"
[ $fail -eq 0 ] || { cat "$DIR/reader.out"; tail -n 20 "$ALOG"; }
exit $fail
