#!/usr/bin/env bash
# A throw-away PostgreSQL server on 127.0.0.1 for the integration tests, from Debian packages.
#
#   eval "$(scripts/test-postgres.sh start)"   # exports MOTION_R1_TEST_POSTGRES (a URL with a
#                                              # fresh random password; the tests create and drop
#                                              # their own databases through it)
#   scripts/test-postgres.sh stop              # stops the server and deletes its cluster
#
# Needs root (apt-get, pg_createcluster); installs the `postgresql` package when it is missing.
# The cluster is separate from any the machine already runs: its own name and port.
set -euo pipefail
CLUSTER=motionr1test
PORT=${MOTION_R1_TEST_POSTGRES_PORT:-54329}

version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1; }

case "${1:-}" in
start)
  if ! command -v pg_createcluster >/dev/null || [ -z "$(version)" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  fi
  v=$(version)
  pg_dropcluster --stop "$v" "$CLUSTER" >/dev/null 2>&1 || true
  pg_createcluster -p "$PORT" "$v" "$CLUSTER" >/dev/null
  echo "listen_addresses = '127.0.0.1'" > "/etc/postgresql/$v/$CLUSTER/conf.d/listen.conf"
  pg_ctlcluster "$v" "$CLUSTER" start
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  su postgres -c "psql -q -p $PORT -c \"CREATE ROLE motion LOGIN CREATEDB PASSWORD '$password'\"" >&2
  echo "PostgreSQL $v on 127.0.0.1:$PORT (cluster $CLUSTER)" >&2
  echo "export MOTION_R1_TEST_POSTGRES=postgresql://motion:$password@127.0.0.1:$PORT"
  ;;
stop)
  v=$(version)
  [ -n "$v" ] && pg_dropcluster --stop "$v" "$CLUSTER" 2>/dev/null || true
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
