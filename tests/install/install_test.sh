#!/bin/sh
# Installs the build into a temporary prefix and checks what a user of the package gets:
# libraries (shared and static: authn, authz, mhd, store, oidc), headers, pkg-config files, the
# CMake package, the CLI and the agent's program, the systemd units (service, agent, gateway)
# and the example configuration, and that the
# token-forging tokensmith-testutil is NOT part of that default installation; then installs the
# testutil component on top (cmake --install --component testutil) and checks it. Builds programs
# against the prefix: the authz, store, oidc and testutil consumers and examples/minisvc (authn,
# authz, mhd), each through pkg-config and through find_package, and runs minisvc's end-to-end
# test built against the installed tokensmith-testutil.
# usage: install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR [CFLAGS] [SOURCE_DIR]
set -eu
build=$1
src=$2
flags=${3:-}
top=${4:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
fail=0
need() { # file...
    for f in "$@"; do
        [ -e "$prefix/$f" ] || { echo "FAIL: not installed: $f"; fail=1; }
    done
}

testutil_files="lib/libtokensmith-testutil.so lib/libtokensmith-testutil.a include/tokensmith/testutil.h
    lib/pkgconfig/tokensmith-testutil.pc lib/cmake/tokensmith/tokensmithTestutilTargets.cmake"

echo "installed files"
for lib in authz authn mhd store oidc client; do
    need lib/libtokensmith-$lib.so lib/libtokensmith-$lib.a lib/pkgconfig/tokensmith-$lib.pc
done
need include/tokensmith/error.h include/tokensmith/export.h include/tokensmith/version.h \
     include/tokensmith/authz.h include/tokensmith/authz_http.h include/tokensmith/authn.h \
     include/tokensmith/jose.h include/tokensmith/mhd.h include/tokensmith/store.h \
     include/tokensmith/oidc.h
need lib/cmake/tokensmith/tokensmithConfig.cmake lib/cmake/tokensmith/tokensmithConfigVersion.cmake \
     lib/cmake/tokensmith/tokensmithTargets.cmake
need bin/tokensmith lib/systemd/system/tokensmith.service share/tokensmith/tokensmith.json \
     lib/systemd/system/tokensmith-gateway.service

echo "no testutil in the default installation"
for f in $testutil_files; do
    [ ! -e "$prefix/$f" ] || { echo "FAIL: installed by default: $f"; fail=1; }
done
[ "$fail" = 0 ] || exit 1

echo "tokensmith version"
"$prefix/bin/tokensmith" version | grep -q "^tokensmith [0-9]" || { echo "FAIL: version"; exit 1; }

echo "the agent's program"
# `tokensmith agent` becomes tokensmith-agent, found in libexec/tokensmith relative to bin.
need libexec/tokensmith/tokensmith-agent
cat >"$work/agent.yaml" <<EOF
sources:
  s:
    type: http
    request: { url: "http://127.0.0.1:9/token" }
    parse:
      tokens:
        - id: t
          pointer: token
          expiration: { source: json_body_field, pointer: expires_in, format: seconds }
sinks:
  plain:
    type: http
    source_id: s
    path: /token
EOF
"$prefix/bin/tokensmith" agent --check --config "$work/agent.yaml" >"$work/agent.out" ||
    { echo "FAIL: tokensmith agent --check from the installation"; cat "$work/agent.out"; exit 1; }
grep -q "^config $work/agent.yaml: ok, 1 source, 1 sink" "$work/agent.out" ||
    { echo "FAIL: tokensmith agent --check printed:"; cat "$work/agent.out"; exit 1; }

echo "example configuration"
if command -v python3 >/dev/null 2>&1; then
    python3 -m json.tool "$prefix/share/tokensmith/tokensmith.json" >/dev/null
fi
grep -q '"home": "/var/lib/tokensmith"' "$prefix/share/tokensmith/tokensmith.json"

echo "systemd unit"
unit="$prefix/lib/systemd/system/tokensmith.service"
for k in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
         'CapabilityBoundingSet=$' UMask=0077 StateDirectory=tokensmith \
         'SystemCallFilter=@system-service' 'RestrictAddressFamilies=' \
         'ExecStart=.*/tokensmith serve --config '; do
    grep -q "^$k" "$unit" || { echo "FAIL: unit lacks $k"; exit 1; }
done
# The unit names the binary and the example under the prefix given to `cmake --install`, not
# the one the build was configured with.
grep -qx "ExecStart=$prefix/bin/tokensmith serve --config /etc/tokensmith/tokensmith.json" "$unit" ||
    { echo "FAIL: unit ExecStart is not under $prefix: $(grep '^ExecStart=' "$unit")"; exit 1; }
grep -q "^# Before the first start: copy $prefix/share/tokensmith/tokensmith.json" "$unit" ||
    { echo "FAIL: unit does not name the example under $prefix"; exit 1; }
# A distribution layout: --prefix /usr into a staging directory.
DESTDIR="$work/stage" cmake --install "$build" --prefix /usr >/dev/null
grep -qx "ExecStart=/usr/bin/tokensmith serve --config /etc/tokensmith/tokensmith.json" \
    "$work/stage/usr/lib/systemd/system/tokensmith.service" ||
    { echo "FAIL: --prefix /usr: $(grep '^ExecStart=' "$work/stage/usr/lib/systemd/system/tokensmith.service")"; exit 1; }
if command -v systemd-analyze >/dev/null 2>&1; then
    # The installed unit as it is: its ExecStart is this prefix's binary.
    systemd-analyze verify "$unit"
else
    echo "systemd-analyze not found (install the systemd package): unit not verified"
fi

echo "systemd unit of the agent"
# The agent's unit: the installed one, else the source's (packaging/tokensmith-agent.service)
# with its ExecStart pointed at this prefix's binary (verify wants an executable there).
aunit="$prefix/lib/systemd/system/tokensmith-agent.service"
if [ ! -e "$aunit" ] && [ -n "$top" ]; then
    mkdir -p "$work/agent-unit"
    aunit="$work/agent-unit/tokensmith-agent.service"
    sed "s#^ExecStart=/usr/bin/tokensmith #ExecStart=$prefix/bin/tokensmith #" \
        "$top/packaging/tokensmith-agent.service" >"$aunit"
fi
if [ -e "$aunit" ]; then
    for k in Type=notify 'WatchdogSec=' 'ExecReload=' NoNewPrivileges=yes ProtectSystem=strict \
             ProtectHome=yes PrivateTmp=yes 'CapabilityBoundingSet=$' DynamicUser=yes UMask=0077 \
             StateDirectory=tokensmith-agent RuntimeDirectory=tokensmith-agent \
             'SystemCallFilter=@system-service' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$' \
             'ExecStart=.*/tokensmith agent --config /etc/tokensmith/agent.yaml$'; do
        grep -q "^$k" "$aunit" || { echo "FAIL: agent unit lacks $k"; exit 1; }
    done
    if command -v systemd-analyze >/dev/null 2>&1; then
        systemd-analyze verify "$aunit"
    fi
else
    echo "agent unit not checked: no source directory given"
fi

echo "systemd unit of the gateway"
gunit="$prefix/lib/systemd/system/tokensmith-gateway.service"
for k in Type=notify NotifyAccess=main 'WatchdogSec=' 'ExecReload=/bin/kill -HUP \$MAINPID$' \
         NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
         'CapabilityBoundingSet=$' DynamicUser=yes UMask=0077 StateDirectory=tokensmith-gateway \
         'Environment=TOKENSMITH_GATEWAY_HOME=/var/lib/tokensmith-gateway$' \
         'SystemCallFilter=@system-service' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$'; do
    grep -q "^$k" "$gunit" || { echo "FAIL: gateway unit lacks $k"; exit 1; }
done
# Its ExecStart is the binary of this prefix (and /usr/bin with --prefix /usr).
grep -qx "ExecStart=$prefix/bin/tokensmith gateway --config /etc/tokensmith/gateway.json" "$gunit" ||
    { echo "FAIL: gateway unit ExecStart is not under $prefix: $(grep '^ExecStart=' "$gunit")"; exit 1; }
grep -qx "ExecStart=/usr/bin/tokensmith gateway --config /etc/tokensmith/gateway.json" \
    "$work/stage/usr/lib/systemd/system/tokensmith-gateway.service" ||
    { echo "FAIL: --prefix /usr: gateway unit: $(grep '^ExecStart=' "$work/stage/usr/lib/systemd/system/tokensmith-gateway.service")"; exit 1; }
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify "$gunit"
fi

PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
# DT_RPATH (not RUNPATH), so that it also finds what the libraries need (testutil needs mhd).
rpath="-Wl,--disable-new-dtags,-rpath,$prefix/lib"

echo "pkg-config consumer"
cc -std=c11 $flags -o "$work/pc" "$src/main.c" $(pkg-config --cflags --libs tokensmith-authz) $rpath
"$work/pc" "$src/model.conf" "$src/policy.csv"

echo "pkg-config store and oidc consumers"
cc -std=c11 $flags -o "$work/pc-store" "$src/store_main.c" $(pkg-config --cflags --libs tokensmith-store) $rpath
"$work/pc-store" "$work/pc-store.db"
cc -std=c11 $flags -o "$work/pc-oidc" "$src/oidc_main.c" $(pkg-config --cflags --libs tokensmith-oidc) $rpath
"$work/pc-oidc"

echo "find_package consumers (shared and static)"
cmake -S "$src" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/cm" >/dev/null
"$work/cm/consumer" "$src/model.conf" "$src/policy.csv"
"$work/cm/consumer_static" "$src/model.conf" "$src/policy.csv"
"$work/cm/consumer_store" "$work/cm-store.db"
"$work/cm/consumer_store_static" "$work/cm-store-static.db"
"$work/cm/consumer_oidc"
"$work/cm/consumer_oidc_static"

echo "find_package(tokensmith COMPONENTS testutil) fails without the component"
if cmake -S "$src" -B "$work/cm-tu0" -DCMAKE_PREFIX_PATH="$prefix" -DWITH_TESTUTIL=ON \
     >"$work/cm-tu0.log" 2>&1; then
    echo "FAIL: find_package found testutil in the default installation"; exit 1
fi
grep -q "component testutil is not installed" "$work/cm-tu0.log" ||
    { cat "$work/cm-tu0.log"; echo "FAIL: no hint to install the component"; exit 1; }

echo "testutil component"
cmake --install "$build" --prefix "$prefix" --component testutil >/dev/null
for f in $testutil_files; do
    need "$f"
done
[ "$fail" = 0 ] || exit 1
cmake -S "$src" -B "$work/cm-tu" -DCMAKE_PREFIX_PATH="$prefix" -DWITH_TESTUTIL=ON \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/cm-tu" >/dev/null
"$work/cm-tu/consumer_testutil"
"$work/cm-tu/consumer_testutil_static"
cc -std=c11 $flags -o "$work/pc-testutil" "$src/testutil_main.c" \
  $(pkg-config --cflags --libs tokensmith-testutil) $rpath
"$work/pc-testutil"

if [ -n "$top" ]; then
    mini="$top/examples/minisvc"
    echo "minisvc through pkg-config"
    cc -std=c11 $flags -o "$work/minisvc-pc" "$mini"/*.c \
      $(pkg-config --cflags --libs tokensmith-authn tokensmith-authz tokensmith-mhd libmicrohttpd) -lpthread $rpath
    "$work/minisvc-pc" --help | grep -q "usage: minisvc"

    echo "minisvc through find_package"
    cmake -S "$mini" -B "$work/mini" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
    cmake --build "$work/mini" >/dev/null
    "$work/mini/minisvc" --help | grep -q "usage: minisvc"

    echo "minisvc end to end, test built against the installed tokensmith-testutil"
    cc -std=c11 $flags -I"$top/tests/harness" -o "$work/minisvc-test" \
      "$top/tests/minisvc/minisvc_test.c" "$top"/tests/harness/*.c \
      $(pkg-config --cflags --libs tokensmith-testutil libcurl) -lpthread $rpath
    "$work/minisvc-test" "$work/mini/minisvc" "$mini/policy/10-minisvc.csv" > "$work/e2e.log" ||
        { cat "$work/e2e.log"; exit 1; }
    tail -n 1 "$work/e2e.log"
fi
echo "install consumer: ok"
