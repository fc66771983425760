#!/usr/bin/env bash
# drill.sh - the RTO of `pgvault drill` (one physical backup + WAL, recovered to a target), phase
# by phase, beside what the same recovery costs with pgBackRest: `pgbackrest restore` + starting
# PostgreSQL + recovery to the same target, from the same backup moment and the same WAL.
#
# One throw-away cluster (initdb --data-checksums, autovacuum off) archives every WAL segment
# into BOTH repositories: archive_command = `pgbackrest archive-push %p && pgvault-wal archive-push %p`.
# It loads `pgbench -i -s SCALE`, takes one full backup with each tool (untimed: pgBackRest
# zst:3, PgVault zstd:3, parallelism PARALLEL), runs TX pgbench transactions (the WAL both
# recoveries replay), then marks the target: the count of pgbench_history (= the state at the
# target), a time stamp and a restore point `drill_bench`; TX_AFTER more transactions follow (so a
# time target has a commit after it), the WAL is switched and the cluster stopped (its archiver
# pushes what is left; nothing may stay .ready). Then, each after a quiet-machine wait:
#   pgBackRest  `pgbackrest restore --pg1-path=<new dir> --process-max=PARALLEL --type=name|time
#               --target=... --target-action=promote`, then the server is started there like
#               PgVault's drill starts its scratch server (free port, Unix socket only,
#               hot_standby=on, archive_mode=off, `pg_ctl start -W`) and polled every 0.1 s with
#               `SELECT pg_is_in_recovery()`:
#                 restore     the `pgbackrest restore` command
#                 start-up    after pg_ctl returned, until the first answer (consistent)
#                 WAL replay  from there until it answers false (target reached, promoted)
#               then (CHECKS=1) the checks by hand that PgVault's drill makes: `pg_amcheck --all
#               --install-missing` and `vacuumdb --all --analyze-only` (its table comparison
#               ANALYZEs), plus the pgbench_history count (must equal the one at the target).
#   PgVault     `pgvault drill --backup latest --target <same> --parallel PARALLEL --output json
#               --checks <one check: pgbench_history count = the one at the target>`: its
#               rto_seconds and restore/startup/wal_replay/checks_seconds.
# Report: a markdown table side by side, ratio PgVault ÷ pgBackRest per phase and for the total
# with and without the checks; written between markers in bench/README.md (a complete run only)
# and as JSON to bench/results/drill-<time>.json (always). Timings are never asserted anywhere.
#
# Usage (as root; the cluster, the tools and the restored servers run as postgres via runuser):
#   bench/drill.sh                    # SCALE=100 (~1.5 GB), ~7 min on this 2-core machine
#   SCALE=20 bench/drill.sh           # quick
#   TARGET_KIND=time FIRST=pgvault bench/drill.sh
#
# Environment (defaults in brackets):
#   SCALE        pgbench scale factor [100] (~15 MB per unit)
#   TX           pgbench transactions between the backups and the target, `pgbench -n -c 2 -j 2`
#                [SCALE * 200]
#   TX_AFTER     transactions after the target [200]
#   TARGET_KIND  name (restore point) | time [name]
#   PARALLEL     pgBackRest process-max, PgVault --parallel [2]
#   CHECKS       1 = also time the checks by hand on pgBackRest's server (see above) [1]
#   FIRST        pgbackrest | pgvault: which recovery is timed first [pgbackrest]
#   RECOVERY_TIMEOUT  seconds a recovery may take before the step fails [1800]
#   PGVAULT_REPO, SNAPSHOT, REQUIRE_AOT, QUIET_WAIT, QUIET_CORES, WORK, BENCH_TMPDIR, KEEP, PGBIN:
#                as in physical.sh / lib.sh
#   RESULTS_DIR  [<repo>/bench/results];  RESULTS_MD [<repo>/bench/README.md]; "" = none
#
# Method: wall seconds from date +%s%N (bash $EPOCHREALTIME), each figure measured once; CHECKPOINT
# is not needed (the source is stopped), `sync` and the quiet wait (lib.sh wait_quiet) before each
# recovery, page cache warm. "machine cores" = CPU busy of the whole machine during a recovery /
# its wall time (both tools' own work included: up to 2 on this box; more than what the tool
# itself can use means other work ran meanwhile).
set -euo pipefail
export LC_ALL=C

# ------------------------------------------------------------------ settings --
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
SCALE=${SCALE:-100}
TX=${TX:-$((SCALE * 200))}
TX_AFTER=${TX_AFTER:-200}
TARGET_KIND=${TARGET_KIND:-name}
PARALLEL=${PARALLEL:-2}
CHECKS=${CHECKS:-1}
FIRST=${FIRST:-pgbackrest}
RECOVERY_TIMEOUT=${RECOVERY_TIMEOUT:-1800}
PV_ROOT=${PGVAULT_REPO:-$(cd "$HERE/.." && pwd)}
BIN=${PGBIN:-/usr/lib/postgresql/15/bin}
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
RESULTS_MD=${RESULTS_MD-$HERE/README.md}
WORK_GIVEN=${WORK:-}
REQUIRE_AOT=${REQUIRE_AOT:-1}
. "$HERE/lib.sh"
unset_env 'PG*'   # PG*, PGBACKREST_*, PGVAULT_* (PGVAULT_REPO and PGBIN were read above)

need_int SCALE "$SCALE" 1
need_int TX "$TX" 2
need_int TX_AFTER "$TX_AFTER" 2
need_int PARALLEL "$PARALLEL" 1
need_int RECOVERY_TIMEOUT "$RECOVERY_TIMEOUT" 1
[[ $TARGET_KIND == name || $TARGET_KIND == time ]] || die "TARGET_KIND must be name or time"
[[ $FIRST == pgbackrest || $FIRST == pgvault ]] || die "FIRST must be pgbackrest or pgvault"
[[ -x $BIN/postgres ]] || die "no postgres binary in $BIN"
pg_user_setup root
need_tools awk date sync find jq pgbackrest
PGBR_EXE=$(command -v pgbackrest)
need_results_dir "$RESULTS_DIR"

LEFTOVER_MATCH=(archive-push archive-get bin/postgres)   # bin/postgres: a recovered server in WORK that outlived a kill
make_work "$WORK_GIVEN" "$TMPBASE/pgvault-drill" 755
cd "$WORK"
NEED_MB=$((SCALE * 16 * 3 + 2000))   # the cluster, one restored copy at a time, WAL, two repositories
AVAIL_MB=$(df -Pm "$WORK" | awk 'NR==2{print $4}')
((AVAIL_MB >= NEED_MB)) || die "$WORK has ${AVAIL_MB} MB free; SCALE=$SCALE needs about ${NEED_MB} MB"

PGDATA_DIR=$WORK/data
SOCK=$WORK/sock
LOGDIR=$WORK/logs
PGBR_DIR=$WORK/pgbr
PGBR_CONF=$PGBR_DIR/pgbackrest.conf
PV_DIR=$WORK/pv
PV_CONF=$PV_DIR/pgvault.yaml
RS_PGBR=$WORK/restore-pgbackrest
as_pg mkdir -p "$SOCK" "$PGBR_DIR" "$PV_DIR"
mkdir -p "$LOGDIR"
chmod 700 "$SOCK"

PV="" PVWAL="" PV_VERSION="" PV_KIND="" PV_HOW=""
pgvault_prepare "$PV_ROOT/pgvault" "$LOGDIR" built
pgbr() { as_pg "$PGBR_EXE" --config="$PGBR_CONF" --config-include-path="$PGBR_DIR/conf.d" "$@"; }
pv()   { as_pg "$PV" --config "$PV_CONF" "$@"; }
pgb()  { as_pg "$BIN/pgbench" -h "$SOCK" -p "$PORT" -U "$PG_OS_USER" "$@"; }
NOTES=()

# ------------------------------------------------------------------ cluster ---
pick_port 54800 54899
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK; SCALE=$SCALE TX=$TX TARGET_KIND=$TARGET_KIND PARALLEL=$PARALLEL port $PORT; loadavg $LOAD_START"
pg_init "$LOGDIR" --data-checksums
PGBR_ARCHIVE="$PGBR_EXE --config=$PGBR_CONF --config-include-path=$PGBR_DIR/conf.d --stanza=bench archive-push %p"
pg_archiving_conf "$PGBR_ARCHIVE && $PVWAL --config $PV_CONF archive-push %p"
pgbr_write_conf "$PGBR_CONF" "$PGBR_DIR" "$PARALLEL"
pv_write_conf "$PV_CONF" "$PV_DIR/repo" "$PARALLEL"
pg_start "$WORK/postgres.log"
pgbr --stanza=bench stanza-create >"$LOGDIR/pgbr-stanza-create.log" 2>&1 ||
  { tail "$LOGDIR/pgbr-stanza-create.log" >&2; die "pgbackrest stanza-create failed"; }
pv repo init >"$LOGDIR/pv-repo-init.log" 2>&1 || { tail "$LOGDIR/pv-repo-init.log" >&2; die "pgvault repo init failed"; }

q "CREATE DATABASE bench TEMPLATE template0" >/dev/null
log "pgbench -i -s $SCALE"
t0=$(now_ns)
pgb -i -q -s "$SCALE" bench >"$LOGDIR/pgbench-init.log" 2>&1 || { tail "$LOGDIR/pgbench-init.log" >&2; die "pgbench -i failed"; }
LOAD_SECS=$(elapsed "$t0")
q "CHECKPOINT" >/dev/null
DB_BYTES=$(q "SELECT pg_database_size('bench')")
log "loaded in ${LOAD_SECS}s; database 'bench' $(mb "$DB_BYTES") MB"

# ------------------------------------------------- backups, workload, target --
log "full backups (untimed): pgBackRest, then PgVault"
t0=$(now_ns)
pgbr --stanza=bench --type=full backup >"$LOGDIR/pgbr-backup.log" 2>&1 || { tail "$LOGDIR/pgbr-backup.log" >&2; die "pgbackrest backup failed"; }
PGBR_BACKUP_SECS=$(elapsed "$t0")
t0=$(now_ns)
pv backup --type full --output json >"$LOGDIR/pv-backup.json" 2>"$LOGDIR/pv-backup.err" || { tail "$LOGDIR/pv-backup.err" >&2; die "pgvault backup failed"; }
PV_BACKUP_SECS=$(elapsed "$t0")
PV_BACKUP_ID=$(json_field id "$LOGDIR/pv-backup.json")
PGBR_BACKUP_JSON=$(pgbr --stanza=bench --output=json info)
PGBR_BACKUP_ID=$(jq -r '.[0].backup[-1].label' <<<"$PGBR_BACKUP_JSON")
PGBR_START_LSN=$(jq -r '.[0].backup[-1].lsn.start' <<<"$PGBR_BACKUP_JSON")
log "pgBackRest $PGBR_BACKUP_ID in ${PGBR_BACKUP_SECS}s (start LSN $PGBR_START_LSN), PgVault $PV_BACKUP_ID in ${PV_BACKUP_SECS}s"

log "pgbench -n -c 2 -j 2: $TX transactions (the WAL to replay)"
LSN0=$(q "SELECT pg_current_wal_lsn()")
t0=$(now_ns)
pgb -n -c 2 -j 2 -t $((TX / 2)) bench >"$LOGDIR/pgbench-tx.log" 2>&1 || { tail "$LOGDIR/pgbench-tx.log" >&2; die "pgbench failed"; }
TX_SECS=$(elapsed "$t0")
HIST=$(q "SELECT count(*) FROM pgbench_history" bench)
sleep 0.2
TARGET_TIME=$(q "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 0.2
TARGET_NAME=drill_bench
# through PgVault, which records it in its catalog (a drill looks the name up there); the
# restore point is one WAL record that both tools' archives hold
pv restore-point "$TARGET_NAME" >"$LOGDIR/pv-restore-point.log" 2>&1 || { cat "$LOGDIR/pv-restore-point.log" >&2; die "pgvault restore-point failed"; }
TARGET_LSN=$(q "SELECT pg_current_wal_lsn()")
TX_WAL_BYTES=$(q "SELECT pg_wal_lsn_diff('$TARGET_LSN', '$LSN0')::bigint")
pgb -n -c 2 -j 2 -t $((TX_AFTER / 2)) bench >"$LOGDIR/pgbench-after.log" 2>&1 || die "pgbench after the target failed"
q "SELECT pg_switch_wal()" >/dev/null
if [[ $TARGET_KIND == name ]]; then TARGET=$TARGET_NAME PGBR_TYPE=name
else TARGET=$TARGET_TIME PGBR_TYPE=time; fi
log "target: $TARGET_KIND '$TARGET' (pgbench_history = $HIST rows, $(mb "$TX_WAL_BYTES") MB of WAL since the backups, pgbench ${TX_SECS}s)"
log "stopping the source cluster (its archiver pushes the rest)"
stop_cluster
(($(ready_count) == 0)) || die "$(ready_count) WAL segment(s) left .ready at shutdown: archiving failed (see $WORK/postgres.log)"
ARCHIVED_WAL=$(find "$PGBR_DIR/repo/archive" -name '0000*-*' -type f | wc -l)

# ---------------------------------------------------------------- recoveries --
# step_begin / step_end NAME : wall clock, machine-wide CPU busy and loadavg around a recovery
declare -A T_BUSY0=() MACHINE_CORES=() LOADAVG=()
step_begin() {
  sync
  wait_quiet
  LOADAVG[$1]=$(cut -d' ' -f1 /proc/loadavg)
  log "timing: $1 (loadavg ${LOADAVG[$1]})"
  T_BUSY0[$1]=$(busy_ticks)
}
step_end() {  # NAME START_US : right after the timed part
  local end b1
  end=$(now_us)
  b1=$(busy_ticks)
  MACHINE_CORES[$1]=$(awk -v a="${T_BUSY0[$1]}" -v b="$b1" -v h="$CLK_TCK" -v w="$((end - $2))" \
    'BEGIN{ if (w > 0) printf "%.2f", (b-a)/h/(w/1e6) }')
}
s_between() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", (b-a)/1e6}'; }  # US_FROM US_TO -> s

postmaster_runs() {  # DATADIR
  local pid=""
  { read -r pid <"$1/postmaster.pid"; } 2>/dev/null || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# pgBackRest: restore, start, poll until consistent and until promoted; then the checks by hand
declare -A BR=()
recover_pgbr() {
  local t0 t1 t1b t2="" t3="" r port rc=0
  as_pg mkdir -m 700 "$RS_PGBR"
  step_begin pgbackrest
  t0=$(now_us)
  pgbr --stanza=bench --pg1-path="$RS_PGBR" --process-max="$PARALLEL" --type="$PGBR_TYPE" --target="$TARGET" \
    --target-action=promote restore >"$LOGDIR/pgbr-restore.log" 2>&1 || rc=$?
  t1=$(now_us)
  if ((rc)); then tail "$LOGDIR/pgbr-restore.log" >&2; BR[status]="FAILED: pgbackrest restore exit $rc"; return 1; fi
  # from here on the restored server is "the cluster" of lib.sh: q talks to it, the cleanup stops it
  PGDATA_DIR=$RS_PGBR SOCK=$WORK/sock-pgbr
  as_pg mkdir -m 700 "$SOCK"
  pick_port $((PORT + 1)) 54899; port=$PORT
  as_pg "$BIN/pg_ctl" -D "$RS_PGBR" -l "$WORK/postgres-pgbr.log" -W -o \
    "-p $port -k $SOCK -c listen_addresses='' -c hot_standby=on -c archive_mode=off -c synchronous_standby_names='' -c logging_collector=off -c cluster_name=bench-pgbr" \
    start >/dev/null
  t1b=$(now_us)
  while :; do
    if r=$(q "SELECT pg_is_in_recovery()" 2>/dev/null); then
      [[ -n $t2 ]] || t2=$(now_us)
      if [[ $r == f ]]; then t3=$(now_us); step_end pgbackrest "$t0"; break; fi
    elif ! postmaster_runs "$RS_PGBR" && { [[ -f $RS_PGBR/postmaster.pid ]] || (($(now_us) - t1b > 30000000)); }; then
      tail -n 5 "$WORK/postgres-pgbr.log" >&2; BR[status]="FAILED: the restored server exited"; return 1
    fi
    if (($(now_us) - t1b > RECOVERY_TIMEOUT * 1000000)); then BR[status]="FAILED: no promotion after ${RECOVERY_TIMEOUT}s"; return 1; fi
    sleep 0.1
  done
  BR[restore]=$(s_between "$t0" "$t1"); BR[launch]=$(s_between "$t1" "$t1b")
  BR[startup]=$(s_between "$t1b" "$t2"); BR[wal_replay]=$(s_between "$t2" "$t3")
  BR[total]=$(s_between "$t0" "$t3")
  BR[replayed_bytes]=$(q "SELECT pg_wal_lsn_diff(coalesce(pg_last_wal_replay_lsn(), pg_current_wal_lsn()), '$PGBR_START_LSN')::bigint")
  BR[hist]=$(q "SELECT count(*) FROM pgbench_history" bench)
  [[ ${BR[hist]} == "$HIST" ]] || NOTES+=("pgBackRest's recovery holds ${BR[hist]} pgbench_history rows, the source had $HIST at the target")
  log "  -> restore ${BR[restore]}s, start-up ${BR[startup]}s, WAL replay ${BR[wal_replay]}s, total ${BR[total]}s (pgbench_history ${BR[hist]})"
  if [[ $CHECKS == 1 ]]; then
    t0=$(now_us)
    as_pg "$BIN/pg_amcheck" -h "$SOCK" -p "$port" -U "$PG_OS_USER" --all --install-missing >"$LOGDIR/pgbr-amcheck.log" 2>&1 ||
      NOTES+=("pg_amcheck on pgBackRest's recovery: exit $? ($(head -n 2 "$LOGDIR/pgbr-amcheck.log" | tr '\n' ' ' | cut -c1-200))")
    as_pg "$BIN/vacuumdb" -h "$SOCK" -p "$port" -U "$PG_OS_USER" --all --analyze-only -q >"$LOGDIR/pgbr-analyze.log" 2>&1 ||
      NOTES+=("vacuumdb --analyze-only on pgBackRest's recovery failed")
    BR[checks]=$(s_between "$t0" "$(now_us)")
    log "  -> checks by hand (pg_amcheck --all, vacuumdb --analyze-only) ${BR[checks]}s"
  fi
  BR[status]=ok
  stop_cluster
  BR[restored_bytes]=$(du -sb --exclude=pg_wal "$RS_PGBR" | awk '{print $1}')
  rm -rf --one-file-system "$RS_PGBR"
}

# PgVault: one drill, its own phase timings from the JSON record
declare -A PVD=()
recover_pv() {
  local t0 rc=0 f
  cat >"$PV_DIR/checks.yaml" <<EOF
checks:
  - name: history-at-target
    sql: select count(*) from pgbench_history
    expect: "= $HIST"
    database: bench
EOF
  chmod 644 "$PV_DIR/checks.yaml"
  step_begin pgvault
  t0=$(now_us)
  # in the background, so that an interrupted run's cleanup (lib.sh) can TERM the drill, which then
  # stops its scratch server and removes its scratch place itself
  "${AS_PG[@]}" "$PV" --config "$PV_CONF" drill --backup latest --target "$TARGET" --parallel "$PARALLEL" \
    --scratch-dir "$WORK/drills" --checks "$PV_DIR/checks.yaml" --output json >"$LOGDIR/pv-drill.json" 2>"$LOGDIR/pv-drill.err" &
  CUR_TPID=$!
  wait "$CUR_TPID" || rc=$?
  CUR_TPID=""
  step_end pgvault "$t0"
  PVD[wall]=$(s_between "$t0" "$(now_us)")
  for f in rto restore startup wal_replay checks; do PVD[$f]=$(json_field "${f}_seconds" "$LOGDIR/pv-drill.json"); done
  PVD[result]=$(json_field result "$LOGDIR/pv-drill.json")
  PVD[replayed_bytes]=$(json_field wal_replayed_bytes "$LOGDIR/pv-drill.json")
  PVD[restored_bytes]=$(json_field bytes_restored "$LOGDIR/pv-drill.json")
  if ((rc)) || [[ ${PVD[result]} != passed ]]; then
    tail -n 5 "$LOGDIR/pv-drill.err" >&2
    PVD[status]="FAILED: exit $rc, result '${PVD[result]}' ($(json_field failed_phase "$LOGDIR/pv-drill.json"): $(json_field failure "$LOGDIR/pv-drill.json" | cut -c1-200))"
    return 1
  fi
  PVD[status]=ok
  PVD[no_checks]=$(awk -v r="${PVD[rto]}" -v c="${PVD[checks]}" 'BEGIN{printf "%.3f", r-c}')
  PVD[between]=$(awk -v r="${PVD[no_checks]}" -v a="${PVD[restore]}" -v b="${PVD[startup]}" -v c="${PVD[wal_replay]}" 'BEGIN{printf "%.3f", r-a-b-c}')
  log "  -> rto ${PVD[rto]}s: restore ${PVD[restore]}s, start-up ${PVD[startup]}s, WAL replay ${PVD[wal_replay]}s, checks ${PVD[checks]}s; process wall ${PVD[wall]}s"
}

BR[status]="not run" PVD[status]="not run"
if [[ $FIRST == pgbackrest ]]; then recover_pgbr || true; recover_pv || true
else recover_pv || true; recover_pgbr || true; fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --------------------------------------------------------------------- report --
host_facts
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
sum3() { awk -v a="${1:-}" -v b="${2:-}" -v c="${3:-}" 'BEGIN{ if (a != "" && b != "") printf "%.3f", a+b+c }'; }
BR[startup_replay]=$(sum3 "${BR[startup]:-}" "${BR[wal_replay]:-}")
PVD[startup_replay]=$(sum3 "${PVD[startup]:-}" "${PVD[wal_replay]:-}")
BR[with_checks]=$([[ -n ${BR[checks]:-} ]] && sum3 "${BR[total]:-}" "${BR[checks]}")
line() {  # LABEL PGVAULT PGBACKREST
  md_row "$1" "$(secs "$2")" "$(secs "$3")" "$(ratio "$2" "$3")"
}
report() {
  echo "#### Drill of SCALE=$SCALE, target $TARGET_KIND, parallelism $PARALLEL ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "- host: $HOST_DESC; CPU: $CPU_MODEL; $("$BIN/postgres" --version); $("$PGBR_EXE" version); pgvault $PV_VERSION ($PV_KIND, $PV_HOW)"
  echo "- database 'bench' $(mb "$DB_BYTES") MB; full backups: pgBackRest $PGBR_BACKUP_ID (${PGBR_BACKUP_SECS} s), PgVault $PV_BACKUP_ID (${PV_BACKUP_SECS} s); then $TX pgbench transactions (${TX_SECS} s), $(mb "$TX_WAL_BYTES") MB of WAL up to the target; $ARCHIVED_WAL WAL segments archived in each repository"
  echo "- target: $TARGET_KIND \`$TARGET\` (pgbench_history had $HIST rows there; both recoveries were checked to hold exactly that)"
  echo "- machine: loadavg ${LOAD_START%% *} at start, ${LOAD_END%% *} at end; before each recovery the script waited up to ${QUIET_WAIT} s for the rest of the machine to use ≤ ${QUIET_CORES} cores (waited ${QUIET_WAITED} s in all); loadavg at the start of each: pgBackRest ${LOADAVG[pgbackrest]:-–}, PgVault ${LOADAVG[pgvault]:-–}; machine cores busy during each (both tools' own work included, 2 = the whole box): pgBackRest ${MACHINE_CORES[pgbackrest]:-–}, PgVault ${MACHINE_CORES[pgvault]:-–}"
  echo
  md_row phase "PgVault drill s" "pgBackRest + PostgreSQL s" "× (PgVault ÷ pgBackRest)"
  md_row --- ---: ---: ---:
  line "restore (fetch, decompress, write)" "${PVD[restore]:-}" "${BR[restore]:-}"
  line "server launch (pg_ctl -W) and the rest between phases" "${PVD[between]:-}" "${BR[launch]:-}"
  line "start-up (until it accepts connections: consistent)" "${PVD[startup]:-}" "${BR[startup]:-}"
  line "WAL replay (until the target is reached and promoted)" "${PVD[wal_replay]:-}" "${BR[wal_replay]:-}"
  line "start-up + WAL replay" "${PVD[startup_replay]:-}" "${BR[startup_replay]:-}"
  line "**RTO without checks**" "${PVD[no_checks]:-}" "${BR[total]:-}"
  line "checks (PgVault: server, pg_amcheck --all, ANALYZE + table list, 1 user check; pgBackRest: pg_amcheck --all + vacuumdb --analyze-only by hand)" "${PVD[checks]:-}" "${BR[checks]:-}"
  line "**RTO with checks** (PgVault: rto_seconds)" "${PVD[rto]:-}" "${BR[with_checks]:-}"
  md_row "pgvault drill process wall (+ catalog, scratch place, record)" "$(secs "${PVD[wall]:-}")" "" ""
  echo
  echo "Restored: PgVault $(mb "${PVD[restored_bytes]:-}") MB (bytes_restored), pgBackRest $(mb "${BR[restored_bytes]:-}") MB (du -sb of the data directory without pg_wal, after recovery). WAL replayed from each backup's start LSN: PgVault $(mb "${PVD[replayed_bytes]:-}") MB, pgBackRest $(mb "${BR[replayed_bytes]:-}") MB (pgBackRest's backup ran first, so its span also covers PgVault's backup: a checkpoint and a few switched, mostly empty segments). Status: PgVault ${PVD[status]}, pgBackRest ${BR[status]}; timed first: $FIRST."
  print_notes
}
REPORT=$(report)
echo "$REPORT"

JSON_FILE=$RESULTS_DIR/drill-$STAMP.json
jobj() {  # NAME ASSOC-ARRAY-NAME KEYS...
  local -n a=$2; local k s=""
  for k in "${@:3}"; do s+="${s:+, }\"$k\": $(jnum "${a[$k]:-}")"; done
  printf '  %s: {"status": %s, %s}' "$(jstr "$1")" "$(jstr "${a[status]}")" "$s"
}
{
  echo "{"
  echo "  \"benchmark\": \"drill\", \"timestamp\": $(jstr "$STAMP"), \"host\": $(jstr "$HOST_DESC"), \"cpu\": $(jstr "$CPU_MODEL"),"
  echo "  \"pgvault_version\": $(jstr "$PV_VERSION"), \"pgvault_build\": $(jstr "$PV_KIND"), \"pgbackrest_version\": $(jstr "$("$PGBR_EXE" version)"),"
  echo "  \"scale\": $SCALE, \"tx\": $TX, \"tx_after\": $TX_AFTER, \"parallel\": $PARALLEL, \"first\": $(jstr "$FIRST"), \"db_bytes\": $DB_BYTES,"
  echo "  \"target_kind\": $(jstr "$TARGET_KIND"), \"target\": $(jstr "$TARGET"), \"history_rows_at_target\": $HIST, \"wal_bytes_to_target\": $(jnum "$TX_WAL_BYTES"),"
  echo "  \"loadavg_start\": $(jstr "$LOAD_START"), \"loadavg_end\": $(jstr "$LOAD_END"), \"quiet_waited_seconds\": $QUIET_WAITED,"
  echo "  \"machine_cores\": {\"pgbackrest\": $(jnum "${MACHINE_CORES[pgbackrest]:-}"), \"pgvault\": $(jnum "${MACHINE_CORES[pgvault]:-}")},"
  jobj pgvault PVD rto restore startup wal_replay checks no_checks between wall restored_bytes replayed_bytes; echo ","
  jobj pgbackrest BR restore launch startup wal_replay total checks with_checks restored_bytes replayed_bytes hist; echo ","
  echo "  \"notes\": $(jstr_array "${NOTES[@]}")"
  echo "}"
} >"$JSON_FILE"
check_json "$JSON_FILE"
log "JSON: $JSON_FILE"

if [[ ${BR[status]} == ok && ${PVD[status]} == ok ]]; then
  if [[ -n $RESULTS_MD ]]; then
    write_between_markers "$RESULTS_MD" '<!-- drill.sh results: begin (generated; replaced by every complete run) -->' \
      '<!-- drill.sh results: end -->' "$REPORT"
    log "report written to $RESULTS_MD"
  fi
  log "done"
else
  log "done, with a FAILED recovery: $RESULTS_MD not updated"; exit 1
fi
