#!/bin/sh
# package.units: the systemd units of the service, the gateway and the agent as they are
# installed (ExecStart pointed at the built binary, which `verify` wants to exist):
#   - `systemd-analyze verify` says nothing (no warning, no error);
#   - `systemd-analyze security --offline=true` puts each at an exposure of 2.0 or less;
#   - each is Type=notify with NotifyAccess=main, a WatchdogSec and a TimeoutStopSec, and the
#     service's unit carries every setting of the hardening set (docs/operations.md,
#     "systemd").
# Skips (77) without systemd-analyze (the systemd package).
# usage: unit_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: systemd-analyze missing"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bindir=$(dirname "$TS")
sed -e "s#@CMAKE_INSTALL_FULL_BINDIR@#$bindir#" -e "s#@CMAKE_INSTALL_FULL_DATADIR@#/usr/share#" \
    "$SRC/packaging/tokensmith.service.in" >"$work/tokensmith.service"
for n in tokensmith-gateway tokensmith-agent; do
    sed "s#^ExecStart=/usr/bin/tokensmith #ExecStart=$bindir/tokensmith #" \
        "$SRC/packaging/$n.service" >"$work/$n.service"
done
fail=0
for u in tokensmith tokensmith-gateway tokensmith-agent; do
    f="$work/$u.service"
    grep -q "^ExecStart=$bindir/tokensmith " "$f" || { echo "FAIL: $u: ExecStart not rewritten"; fail=1; }
    if ! systemd-analyze verify "$f" >"$work/verify.out" 2>&1 || [ -s "$work/verify.out" ]; then
        echo "FAIL: $u: systemd-analyze verify:"; cat "$work/verify.out"; fail=1
    else
        echo "ok: $u: verify clean"
    fi
    systemd-analyze security --offline=true "$f" >"$work/sec.out" 2>&1
    level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/sec.out")
    if [ -z "$level" ]; then
        echo "FAIL: $u: no exposure level:"; cat "$work/sec.out"; fail=1
    elif awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
        echo "ok: $u: exposure $level"
    else
        echo "FAIL: $u: exposure $level > 2.0:"; grep '✗' "$work/sec.out"; fail=1
    fi
    for k in Type=notify NotifyAccess=main 'WatchdogSec=[1-9]' 'TimeoutStopSec=[1-9]' \
             'ExecReload=/bin/kill -HUP \$MAINPID$' DynamicUser=yes "StateDirectory=$u$" \
             ConfigurationDirectory=tokensmith; do
        grep -q "^$k" "$f" || { echo "FAIL: $u lacks $k"; fail=1; }
    done
done
# The hardening set of the service (docs/operations.md, "systemd"): each setting as written.
for k in NoNewPrivileges=yes 'CapabilityBoundingSet=$' 'AmbientCapabilities=$' \
         ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes PrivateUsers=yes \
         PrivateMounts=yes ProtectHostname=yes ProtectClock=yes ProtectKernelTunables=yes \
         ProtectKernelModules=yes ProtectKernelLogs=yes ProtectControlGroups=yes \
         ProtectProc=invisible ProcSubset=pid 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$' \
         RestrictNamespaces=yes RestrictRealtime=yes RestrictSUIDSGID=yes LockPersonality=yes \
         MemoryDenyWriteExecute=yes RemoveIPC=yes SystemCallArchitectures=native \
         'SystemCallFilter=@system-service$' 'SystemCallFilter=~@privileged @resources$' \
         SystemCallErrorNumber=EPERM DevicePolicy=closed KeyringMode=private UMask=0077 \
         StateDirectoryMode=0700 RuntimeDirectory=tokensmith; do
    grep -q "^$k" "$work/tokensmith.service" || { echo "FAIL: tokensmith.service lacks $k"; fail=1; }
done
[ "$fail" = 0 ] && echo "package.units: ok"
exit "$fail"
