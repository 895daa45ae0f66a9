#!/bin/sh
# package.deb: the Debian packages as a user gets them (cmake/Packaging.cmake). A Release tree
# (tests, benchmarks, examples and testutil off) is built and `cpack -G DEB` makes tokensmith,
# libtokensmith and libtokensmith-dev; then:
#   - lintian: no error (warnings are printed);
#   - the contents: the command, the agent's program, the units, the example configuration in
#     tokensmith; versioned sonames only in libtokensmith; headers, links, .pc and the CMake
#     package in libtokensmith-dev; tokensmith-testutil in none of them;
#   - `dpkg -i` of the three; the installed units pass `systemd-analyze verify`;
#   - the INSTALLED /usr/bin/tokensmith serves with the INSTALLED example configuration (a copy:
#     issuer and listen on a free loopback port, home in a scratch directory): /health 200,
#     the JWKS has a key, SIGTERM stops it with status 0;
#   - examples/minisvc (the getting-started service) builds against the installed -dev
#     package, through find_package(tokensmith) and through pkg-config, and runs;
#   - `dpkg --purge` of the three, always (trap), and nothing of them is left in dpkg's list.
# Prints how long each step took. Skips (77) unless run as root with dpkg, cpack and lintian,
# and when a tokensmith package or a /usr/bin/tokensmith of another origin is present (the test
# would replace, then purge it).
# usage: package_test.sh SOURCE_DIR BUILD_DIR
set -u
SRC=$(cd "$1" && pwd)
BUILD=$2
PKGS="tokensmith libtokensmith libtokensmith-dev"
[ "$(id -u)" = 0 ] || { echo "SKIP: not root (dpkg -i needs it)"; exit 77; }
for t in dpkg dpkg-deb cpack lintian curl python3; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t missing (scripts/setup.sh)"; exit 77; }
done
present() { # PACKAGE: dpkg knows it in any state but not-installed (config-files included)
    st=$(dpkg-query -W -f '${db:Status-Status}' "$1" 2>/dev/null)
    [ -n "$st" ] && [ "$st" != not-installed ]
}
for p in $PKGS; do
    if present "$p"; then
        echo "SKIP: package $p is installed on this machine; the test would replace and purge it"
        exit 77
    fi
done
if [ -e /usr/bin/tokensmith ]; then
    echo "SKIP: /usr/bin/tokensmith exists (not from a package); the test would replace it"
    exit 77
fi

work=$(mktemp -d)
SPID=
installed=0
cleanup() {
    [ -n "$SPID" ] && { kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
    if [ "$installed" = 1 ]; then
        dpkg --purge $PKGS >"$work/purge.log" 2>&1 || { echo "FAIL: dpkg --purge"; cat "$work/purge.log"; }
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail=0
t0=$(date +%s)
step_t=$t0
step() { # NAME: the time since the previous step
    now=$(date +%s)
    echo "time: $1 $((now - step_t)) s"
    step_t=$now
}
die() {
    echo "FAIL: $*"
    exit 1
}

echo "build (Release, tests off) in $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DTS_BUILD_TESTS=OFF -DTS_BUILD_BENCH=OFF -DTS_BUILD_EXAMPLES=OFF -DTS_BUILD_TESTUTIL=OFF \
    -DTS_PACKAGE_TESTUTIL=OFF >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; die "configure"; }
nice -n 10 cmake --build "$BUILD" -j"$(nproc)" >"$work/build.log" 2>&1 ||
    { tail -n 60 "$work/build.log"; die "build"; }
step build
(cd "$BUILD" && cpack -G DEB -B "$work/debs") >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log"; die "cpack"; }
step cpack
debs=""
for p in $PKGS; do
    f=$(ls "$work/debs/${p}_"*.deb 2>/dev/null)
    [ -n "$f" ] || die "no package $p: $(ls "$work/debs")"
    debs="$debs $f"
done

echo "lintian"
# shellcheck disable=SC2086
lintian --tag-display-limit 0 $debs >"$work/lintian.log" 2>&1
grep -v '^running with root privileges' "$work/lintian.log"
if grep -q '^E: ' "$work/lintian.log"; then
    echo "FAIL: lintian reports errors"
    fail=1
fi
step lintian

echo "contents"
contents() { dpkg-deb -c "$work/debs/${1}_"*.deb | awk '{print $6}' | sed 's#^\./#/#'; }
has() { # PACKAGE REGEX
    contents "$1" | grep -Eq "$2" || { echo "FAIL: $1 lacks $2"; fail=1; }
}
hasnt() { # PACKAGE REGEX
    contents "$1" | grep -Eq "$2" && { echo "FAIL: $1 holds $2"; fail=1; }
    return 0
}
has tokensmith '^/usr/bin/tokensmith$'
has tokensmith '^/usr/libexec/tokensmith/tokensmith-agent$'
for u in tokensmith tokensmith-gateway tokensmith-agent; do
    has tokensmith "^/(usr/)?lib/systemd/system/$u.service$"
done
has tokensmith '^/usr/share/tokensmith/tokensmith.json$'
for p in $PKGS; do
    has "$p" "^/usr/share/doc/$p/copyright$"
    hasnt "$p" 'libtokensmith-testutil|tokensmith/testutil\.h|tokensmith-testutil\.pc|Testutil'
done
for lib in authn authz mhd store oidc client; do
    has libtokensmith "^/usr/lib/[^/]*/libtokensmith-$lib\\.so\\.[0-9]+$"
    hasnt libtokensmith "libtokensmith-$lib\\.(so|a)$"
    has libtokensmith-dev "^/usr/lib/[^/]*/libtokensmith-$lib\\.so$"
    has libtokensmith-dev "^/usr/lib/[^/]*/libtokensmith-$lib\\.a$"
    has libtokensmith-dev "^/usr/lib/[^/]*/pkgconfig/tokensmith-$lib\\.pc$"
done
has libtokensmith-dev '^/usr/include/tokensmith/version\.h$'
has libtokensmith-dev '^/usr/lib/[^/]*/cmake/tokensmith/tokensmithConfig\.cmake$'
hasnt tokensmith '^/usr/(include|lib/[^/]*/lib)'
dpkg-deb -f "$work/debs/libtokensmith-dev_"*.deb Depends | grep -q '^libtokensmith (= ' ||
    { echo "FAIL: libtokensmith-dev does not depend on its libtokensmith"; fail=1; }
# The soname in the file is the one the package's shlibs file announces.
dpkg-deb --ctrl-tarfile "$work/debs/libtokensmith_"*.deb | tar -xO ./shlibs | grep -q '^libtokensmith-authn 0 libtokensmith' ||
    { echo "FAIL: libtokensmith's shlibs file"; fail=1; }

echo "dpkg -i"
installed=1
# shellcheck disable=SC2086
dpkg -i $debs >"$work/install.log" 2>&1 || { cat "$work/install.log"; die "dpkg -i"; }
for p in $PKGS; do
    [ "$(dpkg-query -W -f '${db:Status-Status}' "$p")" = installed ] || die "$p not installed"
done
step "dpkg -i"
unitdir=$(dirname "$(dpkg -L tokensmith | grep '/systemd/system/tokensmith.service$')")
grep -qx 'ExecStart=/usr/bin/tokensmith serve --config /etc/tokensmith/tokensmith.json' \
    "$unitdir/tokensmith.service" || { echo "FAIL: unit ExecStart: $(grep ^ExecStart= "$unitdir/tokensmith.service")"; fail=1; }
if command -v systemd-analyze >/dev/null 2>&1; then
    for u in tokensmith tokensmith-gateway tokensmith-agent; do
        out=$(systemd-analyze verify "$unitdir/$u.service" 2>&1) && [ -z "$out" ] ||
            { echo "FAIL: installed $u.service: $out"; fail=1; }
    done
fi

echo "the installed tokensmith serve with the installed example configuration"
/usr/bin/tokensmith version | grep -q '^tokensmith [0-9]' || die "tokensmith version"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$work" "$port" <<'EOF' || die "cannot edit the example configuration"
import json, sys
work, port = sys.argv[1], sys.argv[2]
c = json.load(open("/usr/share/tokensmith/tokensmith.json"))
c["issuer"] = "http://127.0.0.1:%s" % port
c["listen"] = "127.0.0.1:%s" % port
c["home"] = work + "/home"
json.dump(c, open(work + "/tokensmith.json", "w"), indent=1)
EOF
mkdir -m 0700 "$work/home"
/usr/bin/tokensmith serve --config "$work/tokensmith.json" >"$work/serve.log" 2>&1 &
SPID=$!
code=
i=0
while [ $i -lt 300 ]; do
    code=$(curl -s -o "$work/health" -w '%{http_code}' "http://127.0.0.1:$port/health")
    [ "$code" = 200 ] && break
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ "$code" = 200 ]; then
    echo "ok: /health 200"
else
    echo "FAIL: /health: $code"; cat "$work/serve.log"; fail=1
fi
curl -s "http://127.0.0.1:$port/.well-known/jwks.json" | grep -q '"kid"' ||
    { echo "FAIL: no key in the JWKS"; fail=1; }
curl -s "http://127.0.0.1:$port/.well-known/openid-configuration" |
    grep -q "\"issuer\": *\"http://127.0.0.1:$port\"" || { echo "FAIL: issuer not the configured one"; fail=1; }
kill -TERM "$SPID"
wait "$SPID"
rc=$?
SPID=
[ "$rc" = 0 ] || { echo "FAIL: serve exited $rc after SIGTERM"; tail -n 20 "$work/serve.log"; fail=1; }
step serve

echo "examples/minisvc against the installed libtokensmith-dev"
cmake -S "$SRC/examples/minisvc" -B "$work/minisvc" -DCMAKE_BUILD_TYPE=Release \
    >"$work/minisvc.log" 2>&1 && cmake --build "$work/minisvc" >>"$work/minisvc.log" 2>&1 ||
    { cat "$work/minisvc.log"; die "minisvc through find_package"; }
grep -q "tokensmith_DIR:PATH=/usr/lib/[^/]*/cmake/tokensmith" "$work/minisvc/CMakeCache.txt" ||
    { echo "FAIL: find_package did not take the installed package"; grep tokensmith_DIR "$work/minisvc/CMakeCache.txt"; fail=1; }
"$work/minisvc/minisvc" --help 2>&1 | grep -q "usage: minisvc" || { echo "FAIL: minisvc (find_package)"; fail=1; }
ldd "$work/minisvc/minisvc" | grep -Eq 'libtokensmith-authn\.so\.[0-9]+ => (/usr)?/lib/' ||
    { echo "FAIL: minisvc does not load the installed library"; ldd "$work/minisvc/minisvc"; fail=1; }
# shellcheck disable=SC2046
cc -std=c11 -O2 -o "$work/minisvc-pc" "$SRC"/examples/minisvc/*.c \
    $(pkg-config --cflags --libs tokensmith-authn tokensmith-authz tokensmith-mhd libmicrohttpd) \
    -lpthread >"$work/minisvc-pc.log" 2>&1 || { cat "$work/minisvc-pc.log"; die "minisvc through pkg-config"; }
"$work/minisvc-pc" --help 2>&1 | grep -q "usage: minisvc" || { echo "FAIL: minisvc (pkg-config)"; fail=1; }
step minisvc

echo "dpkg --purge"
installed=0
dpkg --purge $PKGS >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; die "dpkg --purge"; }
for p in $PKGS; do
    ! present "$p" || { echo "FAIL: $p left behind: $(dpkg-query -W -f '${db:Status-Status}' "$p")"; fail=1; }
done
[ ! -e /usr/bin/tokensmith ] || { echo "FAIL: /usr/bin/tokensmith left behind"; fail=1; }
step purge

echo "-DTS_PACKAGE_TESTUTIL=ON: tokensmith-testutil in libtokensmith-dev, lintian clean"
cmake "$BUILD" -DTS_BUILD_TESTUTIL=ON -DTS_PACKAGE_TESTUTIL=ON >"$work/configure-tu.log" 2>&1 &&
    nice -n 10 cmake --build "$BUILD" -j"$(nproc)" >"$work/build-tu.log" 2>&1 &&
    (cd "$BUILD" && cpack -G DEB -B "$work/debs-tu") >"$work/cpack-tu.log" 2>&1 ||
    { tail -n 40 "$work/configure-tu.log" "$work/build-tu.log" "$work/cpack-tu.log"; die "testutil packages"; }
# The tree goes back to the default for the next run (and for anyone packaging from it).
cmake "$BUILD" -DTS_BUILD_TESTUTIL=OFF -DTS_PACKAGE_TESTUTIL=OFF >/dev/null 2>&1
for f in usr/include/tokensmith/testutil.h 'usr/lib/[^/]*/libtokensmith-testutil\.so\.[0-9]+$' \
         'usr/lib/[^/]*/pkgconfig/tokensmith-testutil\.pc' \
         'usr/lib/[^/]*/cmake/tokensmith/tokensmithTestutilTargets\.cmake'; do
    dpkg-deb -c "$work/debs-tu/libtokensmith-dev_"*.deb | awk '{print $6}' | grep -Eq "$f" ||
        { echo "FAIL: testutil: libtokensmith-dev lacks $f"; fail=1; }
done
for p in tokensmith libtokensmith; do
    dpkg-deb -c "$work/debs-tu/${p}_"*.deb | grep -q 'libtokensmith-testutil' &&
        { echo "FAIL: testutil: in $p"; fail=1; }
done
lintian --tag-display-limit 0 "$work/debs-tu/libtokensmith-dev_"*.deb >"$work/lintian-tu.log" 2>&1
if grep -q '^E: ' "$work/lintian-tu.log"; then
    grep '^E: ' "$work/lintian-tu.log"
    echo "FAIL: lintian reports errors (testutil)"
    fail=1
fi
step testutil
echo "time: total $(($(date +%s) - t0)) s"
[ "$fail" = 0 ] && echo "package.deb: ok"
exit "$fail"
