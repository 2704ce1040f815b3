#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests, owned by the test run: initdb into a temp dir,
# listening on 127.0.0.1 on a free port, trust auth. Never touches a system cluster.
#   eval "$(scripts/pg-temp.sh start)"   prints PG_TEMP_DIR=… and PRAXIS_TEST_PG_URL=…
#   scripts/pg-temp.sh stop DIR
set -euo pipefail
bin=/usr/lib/postgresql/15/bin

as_owner() {
  # initdb refuses to run as root: use the postgres account the Debian package creates.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
  dir=$(mktemp -d /tmp/praxis-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  echo "PG_TEMP_DIR=$dir"
  echo "PRAXIS_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  dir=${2:?usage: pg-temp.sh stop DIR}
  [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: pg-temp.sh start | stop DIR" >&2; exit 2 ;;
esac
