#!/usr/bin/env bash
# stream.sh - PgVault wal-stream as a synchronous standby beside pg_receivewal --synchronous,
# side by side in one run, under pgbench TPC-B on a throw-away cluster.
#
# Runs, on one cluster (scale SCALE), pgbench -c CLIENTS -j 2 -T RUN_SECONDS three times:
#   none       no synchronous standby (the primary alone: the ceiling)
#   receivewal pg_receivewal --synchronous --slot bench_rw, synchronous_standby_names = 'bench_rw'
#   pgvault    pgvault wal-stream --synchronous, synchronous_standby_names = 'pgvault_main'
# and samples pg_stat_replication every 0.2 s during each run: flush lag (the time a commit
# waits for the standby's flush) and the bytes between the primary's WAL end and the standby's
# flush. Prints tps, lag p50/p99 and the ratios pgvault / pg_receivewal.
#
# Usage (as root; the server and the streamers run as postgres):   bench/stream.sh
# Environment: SCALE [10], CLIENTS [4], RUN_SECONDS [30], PGBIN [/usr/lib/postgresql/15/bin],
#   PGVAULT [dotnet <repo>/src/PgVault.Cli/bin/Release/net10.0/pgvault.dll: build it first],
#   WORK [mktemp -d under /var/tmp; removed at exit unless KEEP=1].
set -euo pipefail
HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-4}
RUN_SECONDS=${RUN_SECONDS:-30}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DLL="$ROOT/src/PgVault.Cli/bin/Release/net10.0/pgvault.dll"
PGVAULT=${PGVAULT:-"$(command -v dotnet) $DLL"}
WORK=${WORK:-$(mktemp -d /var/tmp/pgvault-stream-bench.XXXXXX)}
KEEP=${KEEP:-0}
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
AS_PG=(runuser -u postgres --)

[[ $EUID -eq 0 ]] || { echo "run as root" >&2; exit 1; }
[[ -f $DLL || -n ${PGVAULT_SET:-} ]] || { echo "build first: dotnet build PgVault.sln -c Release" >&2; exit 1; }
chown postgres:postgres "$WORK"; chmod 755 "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA="$WORK/data"; SOCK="$WORK"
STREAMER_PID=""
cleanup() {
  [[ -n $STREAMER_PID ]] && kill "$STREAMER_PID" 2>/dev/null || true
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  [[ $KEEP == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

log "cluster in $WORK (port $PORT), pgbench scale $SCALE"
"${AS_PG[@]}" "$PGBIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
cat >>"$DATA/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$SOCK'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
archive_mode = on
archive_command = '/bin/true'
max_wal_size = 1GB
EOF
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w start >/dev/null
PSQL=("${AS_PG[@]}" "$PGBIN/psql" -X -q -h "$SOCK" -p "$PORT" -U postgres -d postgres -At)
"${AS_PG[@]}" "$PGBIN/pgbench" -i -q -s "$SCALE" -h "$SOCK" -p "$PORT" -U postgres postgres >/dev/null 2>&1

cat >"$WORK/pgvault.yaml" <<EOF
repositories:
  - name: local
    path: $WORK/repo
clusters:
  main:
    connection: host=$SOCK port=$PORT user=postgres dbname=postgres
    spool_path: $WORK/spool
EOF
chmod 644 "$WORK/pgvault.yaml"
mkdir -p "$WORK/repo" "$WORK/spool" "$WORK/rw"; chown postgres:postgres "$WORK/repo" "$WORK/spool" "$WORK/rw"
# shellcheck disable=SC2086
"${AS_PG[@]}" $PGVAULT --config "$WORK/pgvault.yaml" repo init >/dev/null
# shellcheck disable=SC2086
"${AS_PG[@]}" $PGVAULT --config "$WORK/pgvault.yaml" wal-stream --create-slot >/dev/null 2>&1
"${AS_PG[@]}" "$PGBIN/pg_receivewal" -h "$SOCK" -p "$PORT" -U postgres --slot bench_rw --create-slot >/dev/null 2>&1

wait_streaming() { # APP
  for _ in $(seq 1 300); do
    [[ $("${PSQL[@]}" -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$1' AND state = 'streaming'") == 1 ]] && return 0
    sleep 0.1
  done
  echo "standby $1 never streamed" >&2; exit 1
}

# run NAME APP: one pgbench run with APP as the synchronous standby (none: no standby); prints
# "NAME tps lag_p50_ms lag_p99_ms bytes_p50 bytes_p99"
run() {
  local name=$1 app=$2 samples="$WORK/$1.samples"
  "${PSQL[@]}" -c "ALTER SYSTEM SET synchronous_standby_names = '$([[ $app == none ]] && echo '' || echo "$app")'" -c "SELECT pg_reload_conf()" >/dev/null
  if [[ $app != none ]]; then
    for _ in $(seq 1 100); do
      [[ $("${PSQL[@]}" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$app'") == sync ]] && break
      sleep 0.1
    done
    [[ $("${PSQL[@]}" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$app'") == sync ]] || { echo "$app is not a synchronous standby" >&2; exit 1; }
  fi
  sleep 1
  : >"$samples"
  ( while :; do
      "${PSQL[@]}" -c "SELECT coalesce(extract(epoch FROM flush_lag) * 1000, 0), pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) FROM pg_stat_replication WHERE application_name = '$app'" >>"$samples" 2>/dev/null || true
      sleep 0.2
    done ) &
  local sampler=$!
  local tps
  tps=$("${AS_PG[@]}" "$PGBIN/pgbench" -c "$CLIENTS" -j 2 -T "$RUN_SECONDS" -h "$SOCK" -p "$PORT" -U postgres postgres 2>/dev/null \
    | awk '/^tps = / { print $3; exit }')
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  python3 - "$name" "$tps" "$samples" <<'EOF'
import sys
name, tps, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rows = [l.strip().split('|') for l in open(path) if '|' in l]
ms = sorted(float(r[0]) for r in rows); by = sorted(float(r[1]) for r in rows)
def pct(v, p): return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float('nan')
print(f"{name} {tps:.1f} {pct(ms, 50):.2f} {pct(ms, 99):.2f} {pct(by, 50):.0f} {pct(by, 99):.0f}")
EOF
}

results=()
log "run 1/3: no synchronous standby"
results+=("$(run none none)")

log "run 2/3: pg_receivewal --synchronous"
"${AS_PG[@]}" "$PGBIN/pg_receivewal" -h "$SOCK" -p "$PORT" -U postgres --slot bench_rw --synchronous -D "$WORK/rw" \
  -d "host=$SOCK port=$PORT user=postgres application_name=bench_rw" 2>"$WORK/rw.log" &
STREAMER_PID=$!
wait_streaming bench_rw
results+=("$(run receivewal bench_rw)")
kill "$STREAMER_PID"; wait "$STREAMER_PID" 2>/dev/null || true; STREAMER_PID=""

log "run 3/3: pgvault wal-stream --synchronous"
# shellcheck disable=SC2086
"${AS_PG[@]}" $PGVAULT --config "$WORK/pgvault.yaml" wal-stream --synchronous 2>"$WORK/pgvault.log" >/dev/null &
STREAMER_PID=$!
wait_streaming pgvault_main
results+=("$(run pgvault pgvault_main)")
"${PSQL[@]}" -c "ALTER SYSTEM SET synchronous_standby_names = ''" -c "SELECT pg_reload_conf()" >/dev/null
kill "$STREAMER_PID"; wait "$STREAMER_PID" 2>/dev/null || true; STREAMER_PID=""

printf '\n%-12s %10s %14s %14s %14s %14s\n' "standby" "tps" "lag p50 ms" "lag p99 ms" "bytes p50" "bytes p99"
for r in "${results[@]}"; do
  # shellcheck disable=SC2086
  printf '%-12s %10s %14s %14s %14s %14s\n' $r
done
python3 - "${results[@]}" <<'EOF'
import sys
r = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in sys.argv[1:]}
n, w, v = r['none'], r['receivewal'], r['pgvault']
print(f"\npgvault tps / pg_receivewal tps: x{v[0] / w[0]:.2f}   pgvault tps / no standby: x{v[0] / n[0]:.2f}   pg_receivewal / no standby: x{w[0] / n[0]:.2f}")
if w[1] > 0: print(f"flush lag p50 pgvault / pg_receivewal: x{v[1] / w[1]:.2f}   p99: x{v[2] / max(w[2], 1e-9):.2f}")
EOF
