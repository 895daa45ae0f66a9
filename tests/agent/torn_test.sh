#!/bin/sh
# agent.torn: file sinks are replaced atomically. 40 http sources fetch a new 2,000-byte token
# from a loopback server every second or so (tokens that live 2 s are refreshed after half their
# life), each into its own file sink, while a reader re-reads all 40 files in a loop; after 1,000
# rotations the reader must never have seen an empty file or anything but one whole token. The
# first source also has an http and a uds sink, read in a loop too: every answer is whole.
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

APORT=0 # the agent picks a free port (agent_port)
CFG=$DIR/agent.yaml
files=
{
    echo "settings: { listen: 127.0.0.1:$APORT }"
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
    echo "  h1: { type: http, source_id: s1, path: /s1 }"
    echo "  u1: { type: uds, source_id: s1, path: $DIR/tokens/s1.sock }"
} > "$CFG"
i=1
while [ $i -le $N ]; do files="$files $DIR/tokens/s$i"; i=$((i + 1)); done

ALOG=$DIR/agent.log
start_agent "$CFG" "$ALOG"
agent_port "$ALOG" || exit 1
all_there() { for f in $files; do [ -s "$f" ] || return 1; done; }
wait_until 300 all_there || { echo "FAIL: the file sinks were not all written"; tail -n 20 "$ALOG"; exit 1; }
fetches() { grep -c ' /seq' "$DIR/http.log" 2>/dev/null || echo 0; }
start=$(fetches)
# shellcheck disable=SC2086 # the list of files
python3 "$HELPER" reader "$DIR/stop" "$DIR/reader.out" $files &
RPID=$!
python3 "$HELPER" httpreader "$DIR/stop" "$DIR/httpreader.out" "http://127.0.0.1:$APORT/s1" "$DIR/tokens/s1.sock" &
HRPID=$!
EXTRA_PIDS="$EXTRA_PIDS $RPID $HRPID"
# 1,000 rotations take about 25 s; 150 s is the bound on a loaded machine.
enough() { [ $(($(fetches) - start)) -ge "$ROTATIONS" ]; }
wait_until 1500 enough
check "$ROTATIONS rotations within 150 s" 0 $?
touch "$DIR/stop"
wait "$RPID" "$HRPID"
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
# Source s1 also has an http and a uds sink: every answer during its rotations was whole.
echo "http and uds sinks of s1: $(head -1 "$DIR/httpreader.out")"
# shellcheck disable=SC2046 # the words of the line
set -- $(head -1 "$DIR/httpreader.out")
check "torn http or uds answers" 0 "$6"
[ "$2" -gt 100 ] || { echo "FAIL: only $2 answers read"; fail=1; }
[ "$4" -ge 10 ] || { echo "FAIL: the http and uds answers showed $4 tokens of s1"; fail=1; }
[ $fail -eq 0 ] || { cat "$DIR/reader.out" "$DIR/httpreader.out"; tail -n 20 "$ALOG"; }
exit $fail
