#!/usr/bin/env bash
# The ctest fixture of the PostgreSQL store tests (store.pg.*): start a throwaway cluster with
# scripts/pg.sh and write its conninfo to FILE, or stop it. When the cluster cannot be started,
# FILE is left empty and the tests skip (exit 77) with a message, unless TS_REQUIRE_PG=1: then
# this setup fails, and with it every test that needs the cluster.
#   pg_fixture.sh start|stop SRCDIR DIR FILE
set -uo pipefail
cmd=$1 src=$2 dir=$3 file=$4
case "$cmd" in
start)
  : >"$file"
  if out=$("$src/scripts/pg.sh" start "$dir"); then
    echo "$out" >"$file"
    echo "PostgreSQL test cluster: $out"
    exit 0
  fi
  echo "could not start a PostgreSQL test cluster in $dir (see above); the store.pg tests skip"
  if [ "${TS_REQUIRE_PG:-}" = 1 ]; then
    echo "TS_REQUIRE_PG=1: failing"
    exit 1
  fi
  exit 0
  ;;
stop)
  "$src/scripts/pg.sh" stop "$dir"
  rm -f "$file"
  ;;
*)
  echo "usage: pg_fixture.sh start|stop SRCDIR DIR FILE" >&2
  exit 64
  ;;
esac
