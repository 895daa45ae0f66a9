#!/bin/sh
# The footprint of `tokensmith agent` (issue 15's targets: RSS <= 8 MiB with 10 sources and 30
# sinks, idle CPU ~0) against a real `tokensmith serve` on loopback.
#
# The agent runs 10 sources: 6 of type tokensmith (each its own bootstrap token and refresh
# family), 2 http sources reading a metadata-style document from a loopback python server
# (tests/agent/helper.py), and 2 oauth2 sources exchanging those documents' tokens at serve
# (RFC 8693). Each source has a file, an http and a uds sink: 30 sinks. Once every sink holds a
# token (and each http and uds sink has answered once), the agent is left alone for SECONDS and
# its CPU time over that window (utime + stime of /proc/PID/stat) and its memory (VmRSS, VmHWM,
# RssAnon of /proc/PID/status) are read. Tokens live 1 h, so an idle agent has nothing to do
# in the window but wait; the watchdog is off (no $NOTIFY_SOCKET).
#
# usage: bench/agent_bench.sh [--seconds S] [--tokensmith PATH]
#   --seconds     the idle window (default 30)
#   --tokensmith  the binary (default $TS_BENCH_BUILD_DIR/tokensmith, TS_BENCH_BUILD_DIR
#                 defaulting to build-bench: a Release build without sanitizers)
# Prints the figures; writes nothing outside a scratch directory (KEEP=1 keeps it).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=30
ts=
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --tokensmith) ts=$2; shift 2 ;;
    *) echo "usage: bench/agent_bench.sh [--seconds S] [--tokensmith PATH]" >&2; exit 2 ;;
    esac
done
[ -n "$ts" ] || ts=$root/${TS_BENCH_BUILD_DIR:-build-bench}/tokensmith
[ -x "$ts" ] || { echo "no tokensmith at $ts (build it, or pass --tokensmith)" >&2; exit 2; }
ts=$(cd "$(dirname "$ts")" && pwd)/$(basename "$ts")
helper=$root/tests/agent/helper.py

DIR=$(mktemp -d)
SPID="" HPID="" APID=""
cleanup() {
    for p in $APID $HPID $SPID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
wait_until() { # TENTHS CMD...
    n=$1; shift
    while [ "$n" -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
    return 1
}

# --- serve (1 h access tokens: nothing to renew during the window)
"$ts" serve --listen 127.0.0.1:0 --home "$DIR/h" --alg ES256 --access-ttl 1h --log-format json \
    2>"$DIR/serve.log" &
SPID=$!
port=
wait_until 400 grep -q '"msg":"listening"' "$DIR/serve.log" || { echo "serve did not start" >&2; exit 1; }
port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$DIR/serve.log" | head -1)
url=http://127.0.0.1:$port
store=$DIR/h/tokensmith.db

# --- the metadata server
echo 3600 > "$DIR/meta.ttl"
python3 "$helper" http "$DIR" "$ts" "$store" &
HPID=$!
wait_until 100 test -s "$DIR/http.port" || { echo "helper did not start" >&2; exit 1; }
hport=$(cat "$DIR/http.port")
aport=$(python3 "$helper" freeport)

mkdir -p "$DIR/secrets" "$DIR/state" "$DIR/t"
cfg=$DIR/agent.yaml
{
    echo "settings: { listen: 127.0.0.1:$aport, logging: { level: warn } }"
    echo "sources:"
    for i in 1 2 3 4 5 6; do
        "$ts" bootstrap-token create --subject "svc$i" --audience smd --store "$store" \
            --output-format json 2>/dev/null |
            sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p' | tr -d '\n' > "$DIR/secrets/b$i"
        cat <<EOF
  ts$i:
    type: tokensmith
    token_endpoint: $url/oauth/token
    bootstrap_token: { from_file: $DIR/secrets/b$i }
    state_file: $DIR/state/ts$i.json
EOF
    done
    for i in 1 2; do
        cat <<EOF
  meta$i:
    type: http
    request:
      url: "http://127.0.0.1:$hport/meta?n=$i"
      headers: { Metadata-Flavor: Google }
    parse:
      tokens:
        - id: t
          pointer: access_token
          expiration: { source: json_body_field, pointer: expires_in, format: seconds }
  x$i:
    type: oauth2
    inputs: [meta$i]
    token_endpoint: $url/oauth/token
    grant_type: token_exchange
    subject_token: { source: meta$i, id: t }
    subject_token_type: urn:openchami:params:oauth:token-type:bootstrap-token
EOF
    done
    echo "sinks:"
    for s in ts1 ts2 ts3 ts4 ts5 ts6 meta1 meta2 x1 x2; do
        echo "  ${s}_file: { type: file, source_id: $s, path: $DIR/t/$s }"
        echo "  ${s}_sock: { type: uds, source_id: $s, path: $DIR/t/$s.sock }"
        echo "  ${s}_http: { type: http, source_id: $s, path: /t/$s }"
    done
} > "$cfg"

"$ts" agent --config "$cfg" 2>"$DIR/agent.log" &
APID=$!
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/health")" = 200 ]; }
wait_until 600 ready || { echo "the agent did not become ready" >&2; tail -n 20 "$DIR/agent.log" >&2; exit 1; }
# Every sink once: the files are there, each socket and path answers.
for s in ts1 ts2 ts3 ts4 ts5 ts6 meta1 meta2 x1 x2; do
    [ -s "$DIR/t/$s" ] || { echo "no token in $DIR/t/$s" >&2; exit 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$DIR/t/$s.sock" http://localhost/)" = 200 ] ||
        { echo "uds sink $s did not answer 200" >&2; exit 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/t/$s")" = 200 ] ||
        { echo "http sink $s did not answer 200" >&2; exit 1; }
done
sleep 1

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$APID/stat"; }
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$APID/status"; }
threads() { awk '$1 == "Threads:" { print $2 }' "/proc/$APID/status"; }
# Per thread: TID NAME RUN_NS SLICES (/proc/PID/task/TID/schedstat: CPU time in ns and how
# many times it ran; a tick of utime is too coarse for threads that wake briefly).
thread_ticks() {
    for t in /proc/"$APID"/task/*; do
        [ -r "$t/schedstat" ] || continue
        printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' < "$t/comm")" "$(cat "$t/schedstat")"
    done
}
thread_ticks > "$DIR/threads0"
c0=$(cpu_ticks)
s0=$(awk '{ print $1 }' /proc/uptime)
g0=$(grep -c '"audit_event"' "$DIR/serve.log" || true)
m0=$(grep -c ' /meta' "$DIR/http.log" || true)
sleep "$seconds"
c1=$(cpu_ticks)
s1=$(awk '{ print $1 }' /proc/uptime)
rss=$(kb VmRSS) hwm=$(kb VmHWM) anon=$(kb RssAnon) file=$(kb RssFile)
# PSS: shared library pages divided among the processes that map them (serve maps the same
# libraries on this machine, so this is a lower bound of the agent's share when alone).
pss=$(awk '$1 == "Pss:" { print $2 }' "/proc/$APID/smaps_rollup" 2>/dev/null)
thread_ticks > "$DIR/threads1"
g1=$(grep -c '"audit_event"' "$DIR/serve.log" || true)
m1=$(grep -c ' /meta' "$DIR/http.log" || true)

echo "tokensmith agent: 10 sources (6 tokensmith, 2 http, 2 oauth2 token_exchange), 30 sinks (10 file, 10 uds, 10 http)"
echo "threads: $(threads)"
awk -v r="$rss" -v h="$hwm" -v a="$anon" -v f="$file" 'BEGIN {
    printf "RSS: %.2f MiB (peak %.2f MiB): anonymous %.2f MiB, file-backed %.2f MiB; target <= 8 MiB: %s\n",
        r / 1024, h / 1024, a / 1024, f / 1024, (h <= 8192 ? "met" : "NOT met") }'
[ -z "$pss" ] || awk -v p="$pss" 'BEGIN { printf "PSS: %.2f MiB\n", p / 1024 }'
# Where the resident memory is: the largest mappings by file (anonymous as [anon]).
echo "resident by mapping (KiB, the 8 largest):"
awk '/^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6 ? $6 : "[anon]") }
     /^Rss:/ { rss[name] += $2 }
     END { for (n in rss) if (rss[n] > 0) printf "%8d %s\n", rss[n], n }' "/proc/$APID/smaps" |
    sort -rn | head -8
awk -v c0="$c0" -v c1="$c1" -v s0="$s0" -v s1="$s1" -v hz="$clk" 'BEGIN {
    cpu = (c1 - c0) / hz; wall = s1 - s0
    printf "idle CPU over %.1f s: %.3f s of CPU (%.3f%% of one core)\n", wall, cpu, 100 * cpu / wall }'
echo "threads that ran during the window (tid, name, CPU ms, times it ran):"
awk 'NR == FNR { ns[$1] = $3; n[$1] = $5; next }
     ($1 in ns) && $5 > n[$1] { printf "  %s %s %.2f ms %d\n", $1, $2, ($3 - ns[$1]) / 1e6, $5 - n[$1] }' \
    "$DIR/threads0" "$DIR/threads1"
echo "requests during the idle window: $((g1 - g0)) grants at serve, $((m1 - m0)) at the metadata server"
echo "serve's grants: $(grep -c '"audit_event":"bootstrap_token_exchanged"' "$DIR/serve.log") exchanges, $(grep -c '"audit_event":"refresh_token_rotated"' "$DIR/serve.log") rotations"

# For scale: the smallest agent (one tokensmith source, one file sink, no listener) on the same
# binary, so that the fixed cost (the binary and its libraries) and the cost per source and
# sink can be told apart.
"$ts" bootstrap-token create --subject svc7 --audience smd --store "$store" --output-format json \
    2>/dev/null | sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p' | tr -d '\n' > "$DIR/secrets/b7"
cat > "$DIR/min.yaml" <<EOF2
settings: { listen: none, logging: { level: warn } }
sources:
  one: { type: tokensmith, token_endpoint: $url/oauth/token, bootstrap_token: { from_file: $DIR/secrets/b7 }, state_file: $DIR/state/one.json }
sinks:
  one_file: { type: file, source_id: one, path: $DIR/t/one }
EOF2
kill "$APID"; wait "$APID" 2>/dev/null || true
"$ts" agent --config "$DIR/min.yaml" 2>"$DIR/min.log" &
APID=$!
wait_until 300 test -s "$DIR/t/one" || { echo "the smallest agent wrote no token" >&2; exit 1; }
sleep 1
awk -v r="$(kb VmRSS)" -v a="$(kb RssAnon)" -v f="$(kb RssFile)" -v t="$(threads)" 'BEGIN {
    printf "the smallest agent (1 source, 1 file sink): RSS %.2f MiB: anonymous %.2f MiB, file-backed %.2f MiB; %d threads\n",
        r / 1024, a / 1024, f / 1024, t }'
