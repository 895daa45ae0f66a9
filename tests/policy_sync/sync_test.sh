#!/bin/sh
# `tokensmith policy bundle` and `tokensmith policy sync` end to end (docs/policy.md,
# "Distributing a policy over HTTP"): nginx on loopback serves the bundle document as a static
# file with its own ETag; `policy sync` installs it into a node's policy directory in the
# ConfigMap layout, and minisvc, watching that directory, applies each new policy.
#   - `policy bundle` publishes policy A with the policy_version `policy version` prints, and
#     refuses a broken policy;
#   - `policy sync --once`: installed (the layout, A's version), then unchanged;
#   - `policy sync --interval 1s` beside minisvc --watch-policy: B published, minisvc enforces B
#     (`policy fleet --expect`, and a request A refused is now allowed); nginx answers the polls
#     between changes with 304 (If-None-Match);
#   - refused, with the installed policy and minisvc left at B: a policy_version that the files
#     do not give (also when it is the installed one), a file named "../evil.csv" (nothing
#     written outside the directory), a document over --max-bytes, a rule the model refuses
#     (file:line in the log); `--once` exits 1 on a refused document;
#   - nginx stopped: "failed", the sync keeps running; `--once` against a dead port or a server
#     that never answers exits 3 within --timeout;
#   - a second sync of the same directory exits 1; SIGTERM stops the sync with exit 0, also
#     while a download hangs.
# Tokens are signed by node jose with a key of the test's own (minisvc reads its JWKS file).
# Skips (77) without nginx (fails instead when TS_REQUIRE_NGINX=1), node or node_modules/jose.
# usage: sync_test.sh TOKENSMITH MINISVC SOURCE_DIR
set -u
TS=$1
MINISVC=$2
SRC=$3
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not found"; exit 77; }
. "$SRC/tests/gateway/nginx_lib.sh" # need_nginx, start_nginx, stop_nginx, nginx_free_port
need_nginx
NODE=$(command -v node) || { echo "SKIP: node not installed"; exit 77; }
[ -d "$SRC/node_modules/jose" ] || { echo "SKIP: node_modules/jose missing (npm ci)"; exit 77; }

. "$SRC/tests/service/lib.sh" # DIR (removed at exit, KEEP=1 keeps it), check, fail
SYNC_PID=
MS_PID=
HANG_PID=
cleanup_more() {
    for p in $SYNC_PID $MS_PID $HANG_PID; do kill -TERM "$p" 2>/dev/null; done
    for p in $SYNC_PID $MS_PID $HANG_PID; do wait "$p" 2>/dev/null; done
    stop_nginx
}

ISS=https://issuer.example
AUD=sync-test
NX=$DIR/nginx # nginx's prefix: configuration, logs, temp directories
WWW=$NX/www/policy
N=$DIR/node # the node's policy directory: what `policy sync` writes and minisvc watches
mkdir -p "$WWW" "$DIR/a" "$DIR/b"

# ---- helpers ------------------------------------------------------------------------------

# wait_until TENTHS CMD...: runs CMD every 0.1 s until it succeeds, at most TENTHS times.
wait_until() {
    _n=$1
    shift
    while [ "$_n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.1
        _n=$((_n - 1))
    done
    return 1
}

# events LOG: the policy.sync lines of LOG, one per line: outcome status version previous files | error
events() {
    python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if isinstance(d, dict) and d.get("event") == "policy.sync":
        print(d.get("outcome"), d.get("status"), d.get("policy_version") or "-",
              d.get("previous_policy_version") or "-", d.get("files", "-"), "|", d.get("error", ""))
PY
}
count() { events "$1" | grep -c "^$2 "; }                # LOG OUTCOME
more_than() { [ "$(count "$1" "$2")" -gt "$3" ]; }     # LOG OUTCOME N
# seen LOG OUTCOME TEXT: an event with that outcome whose line holds TEXT (fixed string)
seen() { events "$1" | grep "^$2 " | grep -qF -- "$3"; }

# last_refused_says ERE: the latest refused event of the sync's log matches ERE
last_refused_says() { events "$SLOG" | grep '^refused ' | tail -1 | grep -Eqi -- "$1"; }

# publish FILE: FILE becomes the served bundle, replaced by rename. Each publication gets an
# mtime of its own, since nginx's ETag is "<mtime>-<size>" and two documents of one size
# written within a second would otherwise share it.
SERIAL=0
publish() {
    SERIAL=$((SERIAL + 1))
    cp "$1" "$WWW/.next" && touch -d "@$((1700000000 + SERIAL * 60))" "$WWW/.next" &&
        mv "$WWW/.next" "$WWW/bundle.json"
}

# doc SRC OUT PYTHON: OUT is the bundle SRC changed by PYTHON (d is the parsed document).
doc() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PY
}

# version_of DIR: the policy_version of the baseline plus DIR's fragments, computed here from
# the definition (docs/policy.md), for a policy that `policy version` itself would refuse.
version_of() {
    python3 - "$SRC/policy" "$1" <<'PY'
import hashlib, os, sys
base, d = sys.argv[1], sys.argv[2]
def read(p):
    b = open(p, "rb").read()
    return b[3:] if b.startswith(b"\xef\xbb\xbf") else b
model = read(os.path.join(base, "model.conf")).replace(b"\r\n", b"\n").strip() + b"\n"
policy = read(os.path.join(base, "policy.csv"))
for n in sorted(os.listdir(d)):
    if n.endswith(".csv") and not n.startswith("."):
        f = read(os.path.join(d, n))
        policy += f if f.endswith(b"\n") else f + b"\n"
grouping = read(os.path.join(base, "grouping.csv"))
print(hashlib.sha256(model + b"\n--policy--\n" + policy + b"\n--grouping--\n" + grouping).hexdigest())
PY
}

# alive PID: the process runs (a child that exited stays a zombie until waited for)
alive() {
    _st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)
    [ -n "$_st" ] && [ "$_st" != Z ]
}
node_version() { "$TS" policy version --policy-dir "$N" 2>&1; }
stages() { find "$N" -mindepth 1 -maxdepth 1 -type d -name '..2*' | wc -l | tr -d ' '; }
# GET PATH with alice's token at minisvc: the status
call() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$MS_URL$1"; }
at_version() { "$TS" policy fleet --expect "$1" "$MS_URL" >/dev/null 2>&1; }
# the 304 answers nginx gave to requests carrying If-None-Match
not_modified() { grep -c '^304 inm=[^-]' "$NX/access.log"; }
more_304() { [ "$(not_modified)" -gt "$1" ]; }

# ---- nginx serving the bundle ---------------------------------------------------------------
cat >"$DIR/nginx.conf.in" <<'EOF'
@USER@
worker_processes 1;
pid @DIR@/nginx.pid;
error_log stderr notice;
events {
    worker_connections 64;
}
http {
    log_format sync '$status inm=$http_if_none_match $request_method $uri';
    access_log @DIR@/access.log sync;
    client_body_temp_path @DIR@/client_body;
    proxy_temp_path @DIR@/proxy;
    fastcgi_temp_path @DIR@/fastcgi;
    uwsgi_temp_path @DIR@/uwsgi;
    scgi_temp_path @DIR@/scgi;
    server {
        listen 127.0.0.1:@PORT@;
        root @DIR@/www;
        location = /policy/bundle.json {
            default_type application/json;
        }
        location / {
            return 404;
        }
    }
}
EOF
mkdir -p "$NX"
start_nginx "$NX" 0 0 "$DIR/nginx.conf.in" || { echo "FAIL: nginx did not start"; exit 1; }
BASE=http://127.0.0.1:$NGINX_PORT
URL=$BASE/policy/bundle.json

# ---- a key and alice's token ----------------------------------------------------------------
TOKEN=$(cd "$SRC" && "$NODE" --input-type=module -e '
import * as jose from "jose";
import { writeFileSync } from "node:fs";
const [jwks, iss, aud] = process.argv.slice(1);
const { publicKey, privateKey } = await jose.generateKeyPair("ES256");
const jwk = { ...(await jose.exportJWK(publicKey)), kid: "sync-test", alg: "ES256", use: "sig" };
writeFileSync(jwks, JSON.stringify({ keys: [jwk] }));
process.stdout.write(await new jose.SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: "sync-test", typ: "at+jwt" })
    .setIssuer(iss).setAudience(aud).setSubject("alice").setIssuedAt()
    .setExpirationTime("10m").setJti("sync-test-1").sign(privateKey));
' "$DIR/jwks.json" "$ISS" "$AUD") || { echo "FAIL: node jose could not sign a token"; exit 1; }

# ---- 2. policy A published with `policy bundle` ---------------------------------------------
# A lets alice read the groups; B lets her read the boot configurations too (a second file).
printf 'p, user:alice, metadata:groups, read\n' >"$DIR/a/10-app.csv"
printf 'p, user:alice, metadata:groups, read\n' >"$DIR/b/10-app.csv"
printf '# boot configurations for alice\np, user:alice, boot:configs, read\n' >"$DIR/b/20-boot.csv"
V_A=$("$TS" policy version --policy-dir "$DIR/a")
V_B=$("$TS" policy version --policy-dir "$DIR/b")
[ ${#V_A} -eq 64 ] && [ ${#V_B} -eq 64 ] && [ "$V_A" != "$V_B" ] ||
    { echo "FAIL: policy versions '$V_A' '$V_B'"; exit 1; }
check "policy_version recomputed from its definition" "$V_B" "$(version_of "$DIR/b")"

"$TS" policy bundle --policy-dir "$DIR/a" --out "$DIR/a.json" >"$DIR/bundle.out" 2>&1
check "bundle A exit" 0 $?
check "bundle A prints nothing" "" "$(cat "$DIR/bundle.out")"
check "bundle A mode" 644 "$(stat -c %a "$DIR/a.json" 2>/dev/null)"
check "bundle A document" "tokensmith-policy-bundle/1 $V_A 10-app.csv" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["format"], d["policy_version"], ",".join(f["name"] for f in d["files"]))' "$DIR/a.json" 2>&1)"
"$TS" policy bundle --policy-dir "$DIR/b" >"$DIR/b.json" 2>"$DIR/bundle.err"
rc=$?
check "bundle B to stdout" "0 $V_B" "$rc $(python3 -c '
import json, sys; print(json.load(open(sys.argv[1]))["policy_version"])' "$DIR/b.json" 2>&1)"
mkdir -p "$DIR/broken"
printf 'p, user:alice, metadata:groups, read\np, user:alice, boot:configs\n' >"$DIR/broken/10-app.csv"
"$TS" policy bundle --policy-dir "$DIR/broken" --out "$DIR/broken.json" 2>"$DIR/bundle.err"
check "bundle of a broken policy exit" 1 $?
grep -q '10-app.csv:2' "$DIR/bundle.err"
check "bundle of a broken policy names file and line" 0 $?
check "a broken policy is not published" no "$([ -e "$DIR/broken.json" ] && echo yes || echo no)"

publish "$DIR/a.json"
check "nginx serves the bundle with an ETag" "200 yes" "$(curl -s -o /dev/null -D "$DIR/h" -w '%{http_code}' "$URL") $(
    grep -qi '^etag: "' "$DIR/h" && echo yes || echo no)"

# ---- 3. `policy sync --once` ----------------------------------------------------------------
"$TS" policy sync --once --url "$URL" --dir "$N" 2>"$DIR/once1.log"
check "once: exit" 0 $?
check "once: installed A" "installed 200 $V_A" "$(events "$DIR/once1.log" | cut -d' ' -f1-3)"
check "once: node dir at A" "$V_A" "$(node_version)"
data=$(readlink "$N/..data")
case "$data" in
..[0-9][0-9][0-9][0-9]_[0-9][0-9]_[0-9][0-9]_[0-9][0-9]_[0-9][0-9]_[0-9][0-9].?*) shape=yes ;;
*) shape="no: '$data'" ;;
esac
check "layout: ..data -> ..<UTC time>.<random>" yes "$shape"
check "layout: the stage is a directory (0755)" 755 "$(stat -c %a "$N/$data" 2>/dev/null)"
check "layout: top-level link" "..data/10-app.csv" "$(readlink "$N/10-app.csv")"
check "layout: file mode 0644" 644 "$(stat -c %a "$N/$data/10-app.csv" 2>/dev/null)"
cmp -s "$N/10-app.csv" "$DIR/a/10-app.csv"
check "layout: the file's bytes" 0 $?

"$TS" policy sync --once --url "$URL" --dir "$N" 2>"$DIR/once2.log"
check "once again: exit" 0 $?
check "once again: unchanged" "unchanged $V_A" "$(events "$DIR/once2.log" | cut -d' ' -f1,3)"
check "once again: the same stage" "$data" "$(readlink "$N/..data")"

# ---- 4. a long-running sync beside minisvc watching the directory ---------------------------
"$MINISVC" --jwks "$DIR/jwks.json" --issuer "$ISS" --audience "$AUD" --mode enforce \
    --policy-dir "$N" --watch-policy --listen 127.0.0.1:0 --port-file "$DIR/ms.port" \
    2>"$DIR/minisvc.log" &
MS_PID=$!
wait_until 300 eval 'test -s "$DIR/ms.port" || ! alive "$MS_PID"'
[ -s "$DIR/ms.port" ] || { echo "FAIL: minisvc did not start"; cat "$DIR/minisvc.log"; exit 1; }
MS_URL=http://127.0.0.1:$(cat "$DIR/ms.port")
at_version "$V_A"
check "minisvc enforces A" 0 $?
check "A: alice reads the groups" 200 "$(call /v1/groups)"
check "A: alice may not read the boot configurations" 403 "$(call /v1/boot/configs)"

# The query is not logged (a URL may carry a secret there).
SLOG=$DIR/sync.log
"$TS" policy sync --url "$URL?access=hush-not-for-logs" --dir "$N" --interval 1s --timeout 2s \
    --max-bytes 65536 2>"$SLOG" &
SYNC_PID=$!
wait_until 100 more_304 0
check "nginx answers a poll with 304 (If-None-Match)" 0 $?
check "the first poll after a restart: unchanged, not reinstalled" "unchanged $V_A" \
    "$(events "$SLOG" | head -1 | cut -d' ' -f1,3)"

publish "$DIR/b.json"
t0=$(date +%s)
wait_until 150 at_version "$V_B"
check "B published: minisvc enforces B" 0 $?
echo "B reached minisvc in about $(($(date +%s) - t0)) s"
check "B: alice reads the boot configurations" 200 "$(call /v1/boot/configs)"
check "B: alice still reads the groups" 200 "$(call /v1/groups)"
check "B: installed, logged with both versions" "installed 200 $V_B $V_A 2" \
    "$(events "$SLOG" | grep '^installed ' | tail -1 | cut -d' ' -f1-5)"
check "B: node dir" "$V_B" "$(node_version)"
check "B: the new file's link" "..data/20-boot.csv" "$(readlink "$N/20-boot.csv")"
check "B: the old stage removed" 1 "$(stages)"
grep -q '"event":"authz.watch".*"ok":true' "$DIR/minisvc.log"
check "minisvc logged the change it applied" 0 $?
n304=$(not_modified)
wait_until 50 more_304 "$n304"
check "304 again between changes" 0 $?

# ---- 5. refused documents: nothing installed, minisvc stays at B ---------------------------
# 5a. policy_version edited: the files give B, the document says otherwise.
FAKE=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
doc "$DIR/b.json" "$DIR/tampered.json" "d['policy_version'] = '$FAKE'"
publish "$DIR/tampered.json"
wait_until 60 seen "$SLOG" refused "$FAKE"
check "tampered policy_version refused" 0 $?
events "$SLOG" | grep '^refused ' | grep "$FAKE" | tail -1 | grep -q "mismatch.*$V_B"
check "the refusal says mismatch and names the files' version" 0 $?
check "tampered: node dir still at B" "$V_B" "$(node_version)"
check "tampered: no stage left behind" 1 "$(stages)"
# Also with --once into an empty directory: exit 1, nothing installed.
"$TS" policy sync --once --url "$URL" --dir "$DIR/node2" 2>"$DIR/once3.log"
check "once, refused document: exit" 1 $?
check "once, refused document: outcome" refused "$(events "$DIR/once3.log" | cut -d' ' -f1)"
check "once, refused document: nothing installed" "no" \
    "$([ -e "$DIR/node2/..data" ] || [ -e "$DIR/node2/10-app.csv" ] && echo yes || echo no)"

# 5b. A's files under B's version (an attacker replaying the installed version): refused too.
doc "$DIR/a.json" "$DIR/replayed.json" "d['policy_version'] = '$V_B'"
publish "$DIR/replayed.json"
wait_until 60 seen "$SLOG" refused "$V_A"
check "A's files claiming B's version refused" 0 $?

# 5c. A file named ../evil.csv.
doc "$DIR/b.json" "$DIR/evil.json" \
    'd["files"].append({"name": "../evil.csv", "text": "p, user:alice, boot:scripts, read\n"})'
publish "$DIR/evil.json"
wait_until 60 seen "$SLOG" refused "../evil.csv"
check "../evil.csv refused" 0 $?
check "nothing named evil.csv written" "" "$(find "$DIR" -name 'evil.csv' 2>/dev/null)"

# 5d. Over --max-bytes (65536): B padded by a member the parser would otherwise ignore.
doc "$DIR/b.json" "$DIR/big.json" 'd["padding"] = "x" * 100000'
publish "$DIR/big.json"
wait_until 60 last_refused_says 'bytes|large|size|max'
check "a document over --max-bytes refused, saying why" 0 $?

# 5e. A rule the model refuses (two fields), with the right policy_version for its files.
mkdir -p "$DIR/bad"
cp "$DIR/b/10-app.csv" "$DIR/b/20-boot.csv" "$DIR/bad/"
printf '# two fields\np, user:alice, boot:scripts\n' >"$DIR/bad/30-bad.csv"
V_BAD=$(version_of "$DIR/bad")
doc "$DIR/b.json" "$DIR/badrule.json" "d['files'].append({'name': '30-bad.csv',
    'text': '# two fields\\np, user:alice, boot:scripts\\n'}); d['policy_version'] = '$V_BAD'"
publish "$DIR/badrule.json"
wait_until 60 seen "$SLOG" refused "30-bad.csv:2"
check "a rule the model refuses: refused with file:line" 0 $?

check "after the refusals: node dir at B" "$V_B" "$(node_version)"
check "after the refusals: one stage" 1 "$(stages)"
check "after the refusals: no link to a refused file" "no" \
    "$([ -e "$N/30-bad.csv" ] || [ -L "$N/30-bad.csv" ] && echo yes || echo no)"
at_version "$V_B"
check "after the refusals: minisvc at B" 0 $?
check "after the refusals: alice reads the boot configurations" 200 "$(call /v1/boot/configs)"
check "the sync is still running" yes "$(alive "$SYNC_PID" && echo yes || echo no)"

# ---- 6. the server gone -----------------------------------------------------------------------
DEAD_PORT=$NGINX_PORT
n=$(count "$SLOG" failed)
stop_nginx
wait_until 60 more_than "$SLOG" failed "$n"
check "nginx stopped: failed logged" 0 $?
sleep 1.5
check "nginx stopped: the sync keeps running" yes "$(alive "$SYNC_PID" && echo yes || echo no)"
at_version "$V_B"
check "nginx stopped: minisvc still at B" 0 $?
check "nginx stopped: node dir at B" "$V_B" "$(node_version)"

t0=$(date +%s)
"$TS" policy sync --once --timeout 2s --url "http://127.0.0.1:$DEAD_PORT/policy/bundle.json" \
    --dir "$DIR/node3" 2>"$DIR/once4.log"
rc=$?
t1=$(date +%s)
check "once, dead port: exit 3" 3 $rc
check "once, dead port: outcome" failed "$(events "$DIR/once4.log" | cut -d' ' -f1)"
check "once, dead port: within the timeout" yes "$([ $((t1 - t0)) -le 3 ] && echo yes || echo "no: $((t1 - t0)) s")"

# A server that accepts the connection and never answers: bounded by --timeout.
python3 -c '
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' >"$DIR/hang.port" &
HANG_PID=$!
wait_until 100 test -s "$DIR/hang.port"
t0=$(date +%s)
"$TS" policy sync --once --timeout 2s --url "http://127.0.0.1:$(cat "$DIR/hang.port")/b.json" \
    --dir "$DIR/node3" 2>"$DIR/once5.log"
rc=$?
t1=$(date +%s)
check "once, silent server: exit 3" 3 $rc
check "once, silent server: bounded by --timeout" yes \
    "$([ $((t1 - t0)) -ge 1 ] && [ $((t1 - t0)) -le 4 ] && echo yes || echo "no: $((t1 - t0)) s")"

# ---- 7. one sync per directory --------------------------------------------------------------
"$TS" policy sync --once --url "$URL" --dir "$N" 2>"$DIR/second.log"
check "a second sync of the directory: exit 1" 1 $?
grep -q "another policy sync" "$DIR/second.log"
check "a second sync of the directory: says why" 0 $?

# ---- 8. SIGTERM -------------------------------------------------------------------------------
kill -TERM "$SYNC_PID"
wait_until 30 eval '! alive "$SYNC_PID"'
check "SIGTERM: the sync stops promptly" 0 $?
kill -KILL "$SYNC_PID" 2>/dev/null # only if it did not stop: then the exit status fails too
wait "$SYNC_PID"
check "SIGTERM: exit 0" 0 $?
SYNC_PID=
# A download in flight stops at once too (the silent server holds it far longer than this).
"$TS" policy sync --url "http://127.0.0.1:$(cat "$DIR/hang.port")/b.json" --dir "$DIR/node4" \
    --timeout 30s 2>"$DIR/hung.log" &
SYNC_PID=$!
sleep 1
kill -TERM "$SYNC_PID"
wait_until 30 eval '! alive "$SYNC_PID"'
check "SIGTERM during a download: the sync stops promptly" 0 $?
kill -KILL "$SYNC_PID" 2>/dev/null
wait "$SYNC_PID"
check "SIGTERM during a download: exit 0" 0 $?
SYNC_PID=

# ---- the logs ---------------------------------------------------------------------------------
grep -q 'hush-not-for-logs' "$SLOG" "$DIR"/once*.log
check "no query string in the logs" 1 $?
grep -qF "$TOKEN" "$DIR/minisvc.log"
check "minisvc does not log the token" 1 $?
if grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$SLOG" "$DIR"/once*.log \
    "$DIR/second.log" "$DIR/hung.log" "$DIR/minisvc.log"; then
    echo "FAIL: sanitizer report"
    fail=1
fi
[ $fail -eq 0 ] || { echo "--- sync log"; cat "$SLOG"; echo "--- nginx access log"; cat "$NX/access.log"; }
exit $fail
