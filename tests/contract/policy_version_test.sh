#!/bin/sh
# `tokensmith policy version` against policy_version recomputed here with sha256sum over the
# bytes the definition names: normalized model, "\n--policy--\n", baseline policy.csv and the
# fragments (BOM stripped, newline ensured, byte order of name), "\n--grouping--\n", baseline
# grouping.csv and the grouping file.
# usage: policy_version_test.sh PATH/TO/tokensmith PATH/TO/policy
set -u

ts=${1:?usage: policy_version_test.sh TOKENSMITH POLICY_DIR}
base=${2:?usage: policy_version_test.sh TOKENSMITH POLICY_DIR}
command -v sha256sum > /dev/null 2>&1 || { echo "sha256sum not found: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ts-pv-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
unset TOKENSMITH_POLICY_DIR AUTHZ_POLICY_DIR

# normalize_model FILE: CRLF -> LF, surrounding white space trimmed, one "\n" appended.
normalize_model() {
  tr -d '\r' < "$1" | awk '{ lines[NR] = $0 } END {
      s = 1; while (s <= NR && lines[s] ~ /^[ \t]*$/) s++
      e = NR; while (e >= s && lines[e] ~ /^[ \t]*$/) e--
      for (i = s; i <= e; i++) {
        l = lines[i]
        if (i == s) sub(/^[ \t]+/, "", l)
        if (i == e) sub(/[ \t]+$/, "", l)
        print l
      } }'
}
# strip_bom FILE
strip_bom() {
  if [ "$(head -c 3 "$1" | od -An -tx1 | tr -d ' \n')" = "efbbbf" ]; then tail -c +4 "$1"; else cat "$1"; fi
}
# fragment FILE: BOM stripped, "\n" appended when non-empty and not ending in one.
fragment() {
  strip_bom "$1" > "$tmp/frag"
  cat "$tmp/frag"
  if [ -s "$tmp/frag" ] && [ "$(tail -c 1 "$tmp/frag" | od -An -tx1 | tr -d ' \n')" != "0a" ]; then
    printf '\n'
  fi
}
# expect NAME MODEL GROUPING_FILE_OR_- FRAGMENT... -- ARGS...
expect() {
  name=$1 model=$2 grouping=$3
  shift 3
  {
    normalize_model "$model"
    printf '\n--policy--\n'
    strip_bom "$base/policy.csv"
    while [ "$1" != "--" ]; do fragment "$1"; shift; done
    printf '\n--grouping--\n'
    strip_bom "$base/grouping.csv"
    if [ "$grouping" != "-" ]; then strip_bom "$grouping"; fi
  } > "$tmp/stream"
  shift
  want=$(sha256sum < "$tmp/stream" | cut -d' ' -f1)
  got=$("$ts" policy version "$@" 2> "$tmp/err")
  status=$?
  if [ $status -ne 0 ]; then bad "$name: exit $status: $(cat "$tmp/err")"
  elif [ "$got" != "$want" ]; then bad "$name: got $got, want $want"
  else ok; fi
}

expect "baseline only" "$base/model.conf" - --

mkdir "$tmp/d"
printf 'p, role:viewer, extra:b, read' > "$tmp/d/b.csv"
printf '\357\273\277g, user:alice, role:operator, *\n' > "$tmp/d/a.csv"
printf '# comment only\r\n' > "$tmp/d/A.csv"
printf 'p, ignored\n' > "$tmp/d/notes.txt"
: > "$tmp/d/empty.csv"
expect "directory" "$base/model.conf" - "$tmp/d/A.csv" "$tmp/d/a.csv" "$tmp/d/b.csv" "$tmp/d/empty.csv" -- --policy-dir "$tmp/d"
got_env=$(TOKENSMITH_POLICY_DIR="$tmp/d" "$ts" policy version)
got_dir=$("$ts" policy version --policy-dir "$tmp/d")
[ "$got_env" = "$got_dir" ] && ok || bad "TOKENSMITH_POLICY_DIR differs from --policy-dir"
got_env=$(AUTHZ_POLICY_DIR="$tmp/d" "$ts" policy version)
[ "$got_env" = "$got_dir" ] && ok || bad "AUTHZ_POLICY_DIR differs from --policy-dir"

printf 'g, user:bob, role:viewer, t1\n' > "$tmp/grouping.csv"
expect "single file + grouping" "$base/model.conf" "$tmp/grouping.csv" "$tmp/d/b.csv" -- --policy "$tmp/d/b.csv" --grouping "$tmp/grouping.csv"

# A CRLF model with surrounding blank lines hashes like its normalized form.
{ printf '\r\n  \r\n'; sed 's/$/\r/' "$base/model.conf"; printf '\r\n\r\n'; } > "$tmp/model-crlf.conf"
expect "crlf model" "$tmp/model-crlf.conf" - -- --model "$tmp/model-crlf.conf"
a=$("$ts" policy version --model "$tmp/model-crlf.conf")
b=$("$ts" policy version)
[ "$a" = "$b" ] && ok || bad "normalized model changes the version"

# ConfigMap layout is accepted; a link out of the directory is not.
mkdir -p "$tmp/cm/..2024" && printf 'p, role:viewer, cm:x, read\n' > "$tmp/cm/..2024/x.csv"
ln -s ..2024 "$tmp/cm/..data" && ln -s ..data/x.csv "$tmp/cm/x.csv"
expect "configmap" "$base/model.conf" - "$tmp/cm/..2024/x.csv" -- --policy-dir "$tmp/cm"
ln -s "$tmp/d/b.csv" "$tmp/cm/y.csv"
"$ts" policy version --policy-dir "$tmp/cm" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "y.csv: symlink leaves the policy directory" "$tmp/err"; then ok; else bad "escaping symlink: $(cat "$tmp/err")"; fi
rm "$tmp/cm/y.csv"

# Errors name the file and its own line.
mkdir "$tmp/e"
printf 'p, role:viewer, a, read\n' > "$tmp/e/a.csv"
printf '# header\n\np, role:viewer, b\n' > "$tmp/e/b.csv"
"$ts" policy version --policy-dir "$tmp/e" > "$tmp/out" 2> "$tmp/err"
if [ $? -eq 1 ] && [ ! -s "$tmp/out" ] && grep -q "e/b.csv:3" "$tmp/err"; then ok; else bad "field count: $(cat "$tmp/err")"; fi
printf 'z, role:viewer, b, read\n' > "$tmp/e/b.csv"
"$ts" policy version --policy-dir "$tmp/e" > /dev/null 2> "$tmp/err"
if [ $? -eq 1 ] && grep -q "e/b.csv:1" "$tmp/err"; then ok; else bad "unknown ptype: $(cat "$tmp/err")"; fi

# Usage errors.
"$ts" policy version --policy-dir "$tmp/d" --policy "$tmp/d/b.csv" > /dev/null 2>&1
[ $? -eq 2 ] && ok || bad "--policy-dir with --policy"
"$ts" policy version --bogus > /dev/null 2>&1
[ $? -eq 2 ] && ok || bad "unknown flag"
"$ts" policy version --help | grep -q "usage: tokensmith policy version" && ok || bad "--help"

echo "policy_version: $pass passed, $fail failed"
[ $fail -eq 0 ]
