#!/bin/sh
# generate-config: every setting of the flag table has its "// name" comment (help, bounds,
# flag, variable); the file is written mode 0600 whatever the umask; it loads back as the
# defaults; the shipped example (packaging/tokensmith.json) is that output with only the issuer
# and the state directory changed.
# usage: generate_config_test.sh TOKENSMITH SOURCE_DIR
TS=$1
SRC=$2
. "$(dirname "$0")/lib.sh"

run sh -c "umask 000 && '$TS' generate-config --config '$DIR/a.json'"
expect "generate-config under umask 000" 0
check "mode under umask 000" 600 "$(stat -c %a "$DIR/a.json")"
run sh -c "umask 022 && '$TS' generate-config --config '$DIR/b.json'"
check "mode under umask 022" 600 "$(stat -c %a "$DIR/b.json")"
: >"$DIR/c.json" && chmod 644 "$DIR/c.json"
run "$TS" generate-config --config "$DIR/c.json" --force
expect "--force replaces" 0
check "mode of a replaced file" 600 "$(stat -c %a "$DIR/c.json")"

# Every field of the settings table, and only those, has a value and a comment.
"$TS" help settings | sed -n 's/^| `\([A-Za-z.]*\)` |.*/\1/p' >"$DIR/fields"
[ "$(wc -l <"$DIR/fields")" -gt 20 ] || bad "help settings lists $(wc -l <"$DIR/fields") fields"
while read -r f; do
    name=${f#*.}
    grep -q "^ *\"// $name\": \"[^\"]" "$DIR/a.json" || bad "no comment for $f"
    [ "$f" = port ] || grep -q "^ *\"$name\": " "$DIR/a.json" || bad "no value for $f"
done <"$DIR/fields"
for m in groupScopes oidc; do
    grep -q "^  \"// $m\": " "$DIR/a.json" || bad "no comment for $m"
done
grep -c '"// ' "$DIR/a.json" >"$DIR/n"
ok "comments: $(cat "$DIR/n")"
grep -q '"// threads": "worker threads.*Bounds: 1..256.*TOKENSMITH_THREADS' "$DIR/a.json" ||
    bad "threads comment: $(grep threads "$DIR/a.json")"
grep -q '"// jwks\|"// maxBodyBytes": ".*Bounds: 1024..65536' "$DIR/a.json" ||
    bad "maxBodyBytes comment: $(grep maxBodyBytes "$DIR/a.json")"

# It loads back, and as the defaults.
run "$TS" serve --config "$DIR/a.json" --print-config
expect "generated file loads" 0
cp "$DIR/out" "$DIR/from-file"
run env -u TOKENSMITH_HOME "$TS" serve --print-config
if cmp -s "$DIR/out" "$DIR/from-file"; then ok "generated file = defaults"; else
    bad "generated file differs from the defaults"
    diff "$DIR/out" "$DIR/from-file"
fi

# The example configuration that `cmake --install` ships.
sed 's#^  "issuer": "http://127.0.0.1:8080",#  "issuer": "https://tokensmith.example.com",#
s#^  "home": "./tokensmith-data",#  "home": "/var/lib/tokensmith",#' "$DIR/a.json" >"$DIR/shipped"
if cmp -s "$DIR/shipped" "$SRC/packaging/tokensmith.json"; then
    ok "packaging/tokensmith.json = generate-config output with its issuer and home"
else
    bad "packaging/tokensmith.json is not the generated configuration (issuer, home changed)"
    diff "$DIR/shipped" "$SRC/packaging/tokensmith.json"
fi
finish
