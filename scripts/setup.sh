#!/usr/bin/env bash
# Install everything tokensmith needs to build, test and benchmark on Debian 12 (run as root).
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake pkg-config git ca-certificates
      libpcre2-dev libjansson-dev libcmocka-dev libssl-dev libcurl4-openssl-dev
      libmicrohttpd-dev libgnutls28-dev libsqlite3-dev libjwt-dev
      postgresql-15 libpq-dev # the PostgreSQL store backend and its throwaway test cluster
      libyaml-dev # the agent's configuration (tokensmith agent)
      libprotobuf-c-dev protobuf-c-compiler # the gateway's gRPC messages (tokensmith gateway)
      libnghttp2-dev # the gateway's gRPC listener (HTTP/2)
      nginx # the gateway's auth_request tests (started by the tests on loopback, never as a service)
      libp11-kit-dev # pkcs11.h: signing keys in a PKCS#11 token (the module is loaded at run time)
      softhsm2 # the PKCS#11 token of the key tests (tokens made by the tests in their own directory)
      clang libclang-rt-14-dev clang-format valgrind python3 curl procps
      python3-prometheus-client # the metrics test parses every /metrics exposition with it
      lintian # package.deb checks the built packages
      systemd) # systemd-analyze verify of the installed unit (install.consumer)
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Interop peers (node casbin, ...) pinned by the committed lockfile.
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
