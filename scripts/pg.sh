#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests and for trying the PostgreSQL store by hand.
#   scripts/pg.sh start DIR    create (if needed) and start a cluster in DIR; prints a libpq
#                              conninfo on stdout ("host=DIR port=5432 user=... dbname=postgres")
#   scripts/pg.sh restart DIR  restart it (fast: open connections are cut, as in a failover);
#                              a halted cluster is started again; fails when DIR holds none
#   scripts/pg.sh halt DIR     stop it (an outage) but keep DIR: `restart DIR` or `start DIR`
#                              brings the same cluster and its databases back
#   scripts/pg.sh stop DIR     stop it and remove DIR
# The cluster listens only on a Unix socket in DIR (no TCP), trusts local connections, and runs
# with fsync off: it is for tests, never for data that matters. initdb refuses to run as root, so
# as root the server runs as the `postgres` user (DIR is chowned to it). Every wait is bounded
# (pg_ctl -w -t 30). Idempotent: starting a running cluster only prints its conninfo, halting a
# stopped one does nothing, stopping a stopped one only removes DIR. Exit status 2 when the
# PostgreSQL binaries are missing.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PORT=5432

usage() {
  echo "usage: scripts/pg.sh start|restart|halt|stop DIR" >&2
  exit 64
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
[ -n "$dir" ] || usage

if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
  echo "pg.sh: PostgreSQL 15 server binaries not found in $PGBIN" \
    "(install postgresql-15: scripts/setup.sh)" >&2
  exit 2
fi

if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    echo "pg.sh: running as root but there is no 'postgres' user to run the server as" >&2
    exit 2
  fi
  as_pg() { runuser -u postgres -- "$@"; }
  dbuser=postgres
else
  as_pg() { "$@"; }
  dbuser=$(id -un)
fi

abs_dir() { # the absolute path of $dir (which exists)
  (cd "$dir" && pwd -P)
}

conninfo() {
  echo "host=$(abs_dir) port=$PORT user=$dbuser dbname=postgres"
}

running() {
  [ -f "$dir/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

start() {
  mkdir -p "$dir"
  local abs
  abs=$(abs_dir)
  # A Unix socket path is limited to 107 bytes (sun_path).
  if [ $((${#abs} + 16)) -gt 107 ]; then
    echo "pg.sh: $abs is too long for a Unix socket path; use a shorter DIR" >&2
    exit 1
  fi
  if running; then
    conninfo
    return
  fi
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
  fi
  chmod 0700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    rm -rf "$dir/data"
    if ! as_pg "$PGBIN/initdb" -D "$dir/data" -U "$dbuser" --auth=trust --no-sync \
      -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      echo "pg.sh: initdb failed" >&2
      exit 1
    fi
    cat >>"$dir/data/postgresql.conf" <<EOF
# scripts/pg.sh: a throwaway test cluster
listen_addresses = ''
port = $PORT
unix_socket_directories = '$abs'
unix_socket_permissions = 0700
max_connections = 300
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$abs/server.log" -w -t 30 start >/dev/null; then
    tail -n 20 "$dir/server.log" >&2 || true
    echo "pg.sh: the server did not start within 30 s" >&2
    exit 1
  fi
  conninfo
}

halt_server() {
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null ||
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null
}

case "$cmd" in
start)
  start
  ;;
restart)
  if running; then
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$(abs_dir)/server.log" -m fast -w -t 30 restart \
      >/dev/null
  elif [ -f "$dir/data/PG_VERSION" ]; then
    start >/dev/null # halted: the same cluster, started again (no initdb)
  else
    echo "pg.sh: no cluster in $dir" >&2
    exit 1
  fi
  ;;
halt)
  # Fast, then immediate (the next start recovers from the log); a server still up after both
  # fails the halt, since the caller counts on the outage.
  if running && ! halt_server; then
    echo "pg.sh: the server in $dir did not stop within 30 s" >&2
    exit 1
  fi
  ;;
stop)
  if [ -d "$dir" ]; then
    if running; then
      halt_server || true
    fi
    rm -rf "$dir"
  fi
  ;;
*)
  usage
  ;;
esac
