#!/bin/sh
# One rule for every command: exit 2 for a usage error (unknown option, missing or bad value of
# a flag or variable, bad combination, refused option), with the usage on stderr for an unknown
# option; exit 1 for a failure while working. A sample of each, for every command.
# usage: exit_codes_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
cd "$DIR" || exit 1
H="--home $DIR/h --listen 127.0.0.1:0"
t() { run timeout 10 "$TS" "$@"; } # a command that wrongly starts a server fails the check
: >"$DIR/file"

# --- unknown options print the command's usage on stderr
for cmd in "serve" "generate-config --config x" "bootstrap-token create --subject s --audience a" \
    "user-token create" "oidc status" "oidc configure" "policy check --model m" "policy version" \
    "keys generate" "keys thumbprint f" "token verify" "version"; do
    # shellcheck disable=SC2086 # the command is words
    t $cmd --frobnicate
    name=$(echo "$cmd" | sed 's/ --.*//; s/ [a-z]$//; s/ f$//')
    expect "$name: unknown option" 2 "usage: tokensmith $name"
    grep -q -- "--frobnicate" "$DIR/err" || bad "$name: the message does not name the option"
done
t nosuch
expect "unknown command" 2 "usage: tokensmith <command>"
t
expect "no command" 2 "usage: tokensmith <command>"
t keys frob
expect "unknown sub-command" 2 "usage: tokensmith keys"
t help nosuch
expect "help of an unknown command" 2 "unknown command"
t version extra
expect "version: unexpected argument" 2 "unexpected argument"

# --- missing values
t serve $H --threads
expect "serve: missing value" 2 "--threads needs a value"
t generate-config --config
expect "generate-config: missing value" 2 "needs a value"
t bootstrap-token create --subject s --audience a --ttl
expect "bootstrap-token create: missing value" 2 "--ttl needs a value"
t user-token create --enable-local-user-mint --subject s --scopes read --ttl
expect "user-token create: missing value" 2 "--ttl needs a value"
t oidc status --url
expect "oidc status: missing value" 2 "--url needs a value"
t oidc configure --file
expect "oidc configure: missing value" 2 "--file needs a value"
t policy check --model
expect "policy check: missing value" 2 "--model needs a value"
t policy version --grouping
expect "policy version: missing value" 2 "--grouping needs a value"
t keys generate --key-dir k --alg
expect "keys generate: missing value" 2 "--alg needs a value"
t keys thumbprint
expect "keys thumbprint: missing operand" 2 "expected FILE"
t token verify --jwks j --issuer i --audience a --leeway
expect "token verify: missing value" 2 "--leeway needs a value"

# --- bad values, from flags and from variables
t serve $H --threads 0
expect "serve: --threads out of range" 2 "--threads"
t serve $H --log-format xml
expect "serve: --log-format not a choice" 2 "--log-format"
t serve $H --alg HS256
expect "serve: --alg not a choice" 2 "--alg"
t serve $H --listen nonsense
expect "serve: --listen not HOST:PORT" 2 "--listen"
t serve $H --access-ttl 5s
expect "serve: --access-ttl too short" 2 "--access-ttl"
TOKENSMITH_THREADS=many t serve $H
expect "serve: bad TOKENSMITH_THREADS" 2 "TOKENSMITH_THREADS"
TOKENSMITH_ACCESS_TTL=5s t serve $H
expect "serve: bad TOKENSMITH_ACCESS_TTL" 2 "TOKENSMITH_ACCESS_TTL"
TOKENSMITH_TLS_CERT_FILE=/etc/cert.pem t serve $H
expect "serve: TLS variable refused" 2 "TOKENSMITH_TLS_CERT_FILE"
TOKENSMITH_TLS_KEY_FILE=/etc/key.pem t serve $H
expect "serve: TLS key variable refused" 2 "TOKENSMITH_TLS_KEY_FILE"
t serve $H --tls-cert-file x
expect "serve: --tls-cert-file without --tls-key-file" 2 "give both"
t serve $H --service-identity-ca /etc/ca.pem
expect "serve: --service-identity-ca without tlsCertFile" 2 "without tlsCertFile"
t serve $H --non-enforcing
expect "serve: --non-enforcing refused" 2 "--non-enforcing"
t generate-config --config x --force=perhaps
expect "generate-config: bad boolean" 2 "--force"
t bootstrap-token create --subject s --audience a --ttl 2h --store st.db
expect "bootstrap-token create: --ttl out of range" 2 "--ttl"
t bootstrap-token create --subject s --audience a --output-format yaml --store st.db
expect "bootstrap-token create: bad --output-format" 2 "--output-format"
TOKENSMITH_THREADS=0 t bootstrap-token create --subject s --audience a --store st.db
expect "bootstrap-token create: bad variable of the serve configuration" 2 "TOKENSMITH_THREADS"
t user-token create --enable-local-user-mint --subject s --scopes read --ttl 25h
expect "user-token create: --ttl over 24h" 2 "--ttl"
t user-token create --subject s --scopes read
expect "user-token create: no consent" 2 "--enable-local-user-mint"
t oidc configure --file f --issuer-url https://idp --client-id c
expect "oidc configure: --file with --issuer-url" 2 "give --file"
t policy check --model m --explain=perhaps
expect "policy check: bad boolean" 2 "--explain"
t policy version --policy-dir d --policy p
expect "policy version: exclusive options" 2 "exclusive"
t keys generate --key-dir k --alg HS256
expect "keys generate: bad --alg" 2 "--alg"
t keys generate --key-dir k --key-file f
expect "keys generate: both destinations" 2 "exactly one"
t keys thumbprint a b
expect "keys thumbprint: two files" 2 "unexpected argument"
t token verify --jwks j --issuer i --audience a --leeway 601 x
expect "token verify: --leeway out of range" 2 "--leeway"

# --- failures while working
echo '{"bogus": 1}' >"$DIR/bad.json"
t serve $H --config "$DIR/bad.json"
expect "serve: bad config file" 1 "bogus"
t serve $H --config "$DIR/missing.json"
expect "serve: missing config file" 1 "missing.json"
t generate-config --config "$DIR/file"
expect "generate-config: existing file" 1 "--force"
t bootstrap-token create --subject s --audience a --store "$DIR/file/st.db"
expect "bootstrap-token create: store directory is a file" 1 "not a directory"
t user-token create --enable-local-user-mint --subject s --scopes read --home "$DIR/empty"
expect "user-token create: no key" 1 "no signing key"
t oidc status --url http://127.0.0.1:1
expect "oidc status: unreachable" 1
t oidc configure --url http://127.0.0.1:1 --issuer-url https://idp.example --client-id c
expect "oidc configure: unreachable" 1
t policy check --model "$DIR/missing.conf"
expect "policy check: missing model" 1 "missing.conf"
t policy version --policy-dir "$DIR/missing"
expect "policy version: missing directory" 1 "missing"
t keys generate --key-file "$DIR/file"
expect "keys generate: existing file" 1
t keys thumbprint "$DIR/file"
expect "keys thumbprint: not a key" 1
t token verify --jwks "$DIR/missing.json" --issuer i --audience a x
expect "token verify: missing JWKS" 1 "keys_unavailable"

# --- tokensmith agent: a usage error is the command's (before its program is looked for); a
# tokensmith with no tokensmith-agent next to it nor in ../libexec/tokensmith fails with 1 and
# says where it looked; the agent's program refuses a bad command line of its own with 2
t agent
expect "agent: no --config" 2 "--config FILE"
mkdir -p "$DIR/alone/bin"
cp "$TS" "$DIR/alone/bin/tokensmith"
run timeout 10 "$DIR/alone/bin/tokensmith" agent --config "$DIR/file"
expect "agent: no tokensmith-agent" 1 "tokensmith-agent is neither next to this one nor in $DIR/alone/bin/"
AGENT=$(dirname "$TS")/tokensmith-agent
run timeout 10 "$AGENT" --config "$DIR/file" --frobnicate
expect "tokensmith-agent: unknown argument" 2 "unknown argument: --frobnicate"
run timeout 10 "$AGENT"
expect "tokensmith-agent: no --config" 2 "--config FILE is required"
t agent --config "$DIR/missing.yaml" --check
expect "agent --check: a missing file, through the agent's program" 1 "tokensmith: agent: "

# --- help exits 0 on stdout
for cmd in serve generate-config "bootstrap-token create" "user-token create" "oidc status" \
    "oidc configure" "policy check" "policy version" "keys generate" "keys thumbprint" \
    "token verify" version help; do
    # shellcheck disable=SC2086
    t $cmd --help
    [ "$st" = 0 ] && grep -q "^usage: tokensmith $cmd" "$DIR/out" && ok "$cmd --help" ||
        bad "$cmd --help: exit $st: $(head -3 "$DIR/out")"
done
finish
