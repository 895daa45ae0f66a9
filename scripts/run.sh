#!/usr/bin/env bash
# Set up, build and run tokensmith on this machine (Debian 12, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
if ./build/tokensmith help 2>/dev/null | grep -q '^  serve'; then
  exec ./build/tokensmith serve --listen 127.0.0.1:8080 "$@"
fi
# Until the token service is part of the build, run the policy engine on a built-in example.
printf 'alice,data1,read\nalice,data2,write\nbob,data2,write\n' |
  ./build/tokensmith policy check --model authz/tests/data/rbac_model.conf \
    --policy authz/tests/data/rbac_policy.csv --explain
