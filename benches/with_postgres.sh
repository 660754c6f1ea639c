#!/usr/bin/env bash
# Runs the command given with TENANTSYNC_BENCH_POSTGRES pointing at a throwaway PostgreSQL
# server (initdb + pg_ctl in a temp dir on a free port, fsync on, as `nobody` when run as
# root), stopped and removed afterwards.
#   benches/with_postgres.sh cargo bench --bench postgres_state
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
bin=${bin:-$(dirname "$(command -v initdb)")}
dir=$(mktemp -d)
as=()
if [ "$(id -u)" = 0 ]; then
  chown nobody "$dir"
  as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
stop() {
  HOME="$dir" "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
HOME="$dir" "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
HOME="$dir" "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
TENANTSYNC_BENCH_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable" "$@"
