#!/usr/bin/env bash
# logical.sh - PgVault logical backup/restore vs pg_dump/pg_restore, side by side in one run.
#
# Creates a throw-away PostgreSQL cluster in WORK, loads pgbench data and times, in this order
# (each into a fresh output location; page cache is never dropped):
#   1  pg_dump -Fc                        (default gzip -Z6)          <- the reference
#   2  pg_dump -Fc -Z0                    (no compression)
#   3  pg_dump -Fd -j JOBS                (default gzip)              <- reference for parallel rows
#   4  pgvault backup custom --compression gzip:6   (equal compression to row 1)
#   5  pgvault backup custom (default zstd:3)
#   6  pgvault backup custom --compression lz4
#   7  pgvault backup --format directory --jobs JOBS (zstd:3)
#   7g pgvault backup --format directory --jobs JOBS --compression gzip:6 (pg_dump's workers
#      compress, as in row 3: equal compression to row 3)
#   x  (diagnostic, EXTRAS=1) pgvault backup custom --compression none
#   y  (diagnostic, EXTRAS=1) row 4 again with DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1
#      (completes async pipe reads on the epoll thread instead of a thread-pool hop; see README)
#   8a pg_restore -j JOBS of dump 3 into a new database (createdb included)
#   8b pgvault restore --jobs JOBS of backup 7
#   8c pgvault restore of backup 5 (custom, one stream into pg_restore)
#   8d pgvault restore --jobs JOBS of backup 7g
# then prints a table (wall s, stored bytes, peak RSS, ratios), a "targets" block, and writes
# the same results as JSON to bench/results/logical-<timestamp>.json.
#
# Usage (as root, or as the postgres OS user):   SCALE=50 RUNS=3 bench/logical.sh
#
# Environment (defaults in brackets):
#   SCALE     pgbench scale factor [50]   (50 ~ 0.8 GB database, 200 ~ 3.1 GB)
#   RUNS      rounds of all rows; with RUNS>1 every figure is the median [1]
#   WORK      work directory [a new mktemp -d under /var/tmp]; everything the run creates lives
#             there and is removed at exit (a given WORK must be empty or absent; KEEP=1 keeps it).
#             The cluster is stopped at exit, also on failure or Ctrl-C.
#   JOBS      parallel jobs of rows 3, 7, 8a, 8b [2]
#   EXTRAS    1 = also run the diagnostic rows x and y [1]
#   PGBIN     PostgreSQL binaries [/usr/lib/postgresql/15/bin]
#   PGVAULT   the PgVault launcher [<repo>/pgvault]
#   SNAPSHOT  1 = call the launcher once (it builds if needed), copy the built binary into WORK
#             and time that copy, so a concurrent source edit cannot put a rebuild inside a timed
#             run; 0 = time the launcher itself [1]
#   QUIET_WAIT   before each step wait up to this many seconds for the rest of the machine to use
#             at most QUIET_CORES cores (1 s samples of /proc/stat); 0 = do not wait [60]
#   QUIET_CORES  see QUIET_WAIT [0.3]
#   NOISE_MAX    a step during which the rest of the machine used more than this many cores on
#             average is discarded and measured again, at most NOISE_RETRIES times [0.3, 2]
#   RESULTS_DIR  where the JSON goes [<repo>/bench/results]
#   KEEP      1 = keep WORK (cluster still stopped) for inspection [0]
#
# Method:
#   * wall seconds: date +%s%N around one invocation (of /usr/bin/time around the command).
#   * before every timed step, untimed: CHECKPOINT + sync.  Warm cache, as in shared/bench/anchors.sh.
#   * RSS "tree": /usr/bin/time %M = ru_maxrss as returned by wait4, i.e. the largest of the
#     process and the children it waited for (for pgvault rows: max(pgvault, pg_dump/pg_restore)).
#     RSS "own": VmHWM of the pgvault process itself, sampled from /proc every 50 ms.
#   * CPU client: user+sys of the command's process tree (/usr/bin/time %U+%S); CPU server: ticks
#     of the throw-away cluster (postmaster + children + reaped children, /proc/PID/stat); CPU
#     others: the rest of the machine during the step (/proc/stat busy ticks minus both): noise.
#   * stored bytes: pg_dump rows `du -sb` of the output; pgvault rows the JSON stored_bytes.
#   * MB = 10^6 bytes.  Ratios are of medians.  Never assert these timings in tests.
set -euo pipefail

# ------------------------------------------------------------------ settings --
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
SCALE=${SCALE:-50}
RUNS=${RUNS:-1}
JOBS=${JOBS:-2}
EXTRAS=${EXTRAS:-1}
BIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGVAULT_LAUNCHER=${PGVAULT:-$HERE/../pgvault}
SNAPSHOT=${SNAPSHOT:-1}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_CORES=${QUIET_CORES:-0.3}
NOISE_MAX=${NOISE_MAX:-0.3}
NOISE_RETRIES=${NOISE_RETRIES:-2}
WORK_GIVEN=${WORK:-}
. "$HERE/lib.sh"
unset_env 'PG*'   # the caller's libpq environment must not leak into the run

need_int SCALE "$SCALE" 1
need_int RUNS "$RUNS" 1
need_int JOBS "$JOBS" 1
[[ -x $BIN/postgres ]] || die "no postgres binary in $BIN"
pg_user_setup
if [[ ! -x /usr/bin/time ]]; then
  [[ $EUID -eq 0 ]] || die "/usr/bin/time is missing (apt-get install -y time)"
  log "installing GNU time (/usr/bin/time is missing)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y time >/dev/null || die "apt-get install time failed"
fi
need_tools awk du date sort sed sync getconf
need_results_dir "$RESULTS_DIR"

# ------------------------------------------------------------ work + cleanup --
make_work "$WORK_GIVEN" /var/tmp/pgvault-bench 755

PGDATA_DIR=$WORK/data
SOCK=$WORK/sock
OUT=$WORK/out            # pg_dump outputs (written by the postgres OS user)
LOGDIR=$WORK/logs
TMPW=$WORK/tmp           # TMPDIR of pgvault (its directory-format staging lands here)
as_pg mkdir -p "$SOCK" "$OUT"
mkdir -p "$LOGDIR" "$TMPW"
chmod 700 "$SOCK"

# --------------------------------------------------------------- pgvault -----
pgvault_prepare "$PGVAULT_LAUNCHER" "$LOGDIR" launcher

# ---------------------------------------------------------------- cluster ----
pick_port 54340 54439

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK; SCALE=$SCALE RUNS=$RUNS JOBS=$JOBS port $PORT; loadavg $LOAD_START"
log "initdb"
pg_init "$LOGDIR"
cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
shared_buffers = 128MB
fsync = on
logging_collector = off
EOF
pg_start "$WORK/postgres.log"

export PGHOST=$SOCK PGPORT=$PORT PGUSER=$PG_OS_USER
CONN="host=$SOCK port=$PORT user=$PG_OS_USER dbname=postgres"

as_pg "$BIN/createdb" -T template0 bench
log "pgbench -i -s $SCALE"
t0=$(date +%s%N)
as_pg "$BIN/pgbench" -i -q -s "$SCALE" bench >"$LOGDIR/pgbench-init.log" 2>&1 ||
  { tail "$LOGDIR/pgbench-init.log" >&2; die "pgbench -i failed"; }
LOAD_SECS=$(elapsed "$t0")
q "CHECKPOINT" >/dev/null
q "VACUUM ANALYZE" bench >/dev/null
q "CHECKPOINT" >/dev/null
DB_BYTES=$(q "SELECT pg_database_size('bench')")
ACCOUNTS=$((SCALE * 100000))
log "loaded in ${LOAD_SECS}s; database 'bench' $DB_BYTES bytes"

# ------------------------------------------------------------- measuring -----
RAW=$WORK/raw.tsv      # key run wall cpu rss_tree_kib rss_own_kib bytes server_cpu others_cpu
: >"$RAW"

# measure KEY RUN SAMPLE(0|1) CMD...  -> WALL CPU SRV OTHERS RSS_TREE RSS_OWN set; stdout in
# $LOGDIR/KEY.RUN.out. A step during which the rest of the machine used more than NOISE_MAX cores
# on average is measured again (up to NOISE_RETRIES times; RETRY_CLEAN is eval'd first to remove
# its output); the discarded figures are listed in the report's notes.
STEP_OUT=""
RETRY_CLEAN=""
measure() {
  local key=$1 run=$2 attempt=0
  while :; do
    measure_once "$@"
    if ((attempt < NOISE_RETRIES)) &&
       awk -v o="$OTHERS" -v w="$WALL" -v m="$NOISE_MAX" 'BEGIN{exit !(w > 0 && o / w > m)}'; then
      attempt=$((attempt + 1))
      log "  machine busy during the step (others used ${OTHERS} CPU s in ${WALL} s): measuring again ($attempt/$NOISE_RETRIES)"
      NOTES+=("$key run $run: discarded ${WALL} s (others used ${OTHERS} CPU s meanwhile) and measured again")
      if [[ -n $RETRY_CLEAN ]]; then eval "$RETRY_CLEAN"; fi
      continue
    fi
    break
  done
  RETRY_CLEAN=""
}
measure_once() {
  local key=$1 run=$2 sample=$3; shift 3
  local base="$LOGDIR/$key.$run" t0 t1 tpid rc=0
  STEP_OUT=$base.out
  q "CHECKPOINT" >/dev/null
  sync
  wait_quiet
  log "run $run: $key (loadavg $(cut -d" " -f1 /proc/loadavg))"
  local srv0 busy0 srv1 busy1
  srv0=$(server_ticks); busy0=$(busy_ticks)
  t0=$(date +%s%N)
  /usr/bin/time -f '%e %M %U %S' -o "$base.time" "$@" >"$base.out" 2>"$base.err" &
  tpid=$!
  CUR_TPID=$tpid
  if [[ $sample == 1 ]]; then sample_hwm "$tpid" "$base.hwm" & SAMPLER_PID=$!; fi
  wait "$tpid" || rc=$?
  t1=$(date +%s%N)
  CUR_TPID=""
  busy1=$(busy_ticks)
  if [[ $sample == 1 ]]; then wait "$SAMPLER_PID" || true; SAMPLER_PID=""; fi
  sleep 0.1   # let the postmaster reap the backends that just ended
  srv1=$(server_ticks)
  if ((rc != 0)); then
    log "  -> FAILED (exit $rc); last lines of $base.err:"
    tail -n 15 "$base.err" >&2
    die "$key failed"
  fi
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  local tl; tl=$(grep -E '^[0-9.]+ [0-9]+ [0-9.]+ [0-9.]+$' "$base.time" | tail -n1)
  read -r _ RSS_TREE u s <<<"$tl"
  CPU=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
  SRV=$(awk -v a="$srv0" -v b="$srv1" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/h}')
  OTHERS=$(awk -v a="$busy0" -v b="$busy1" -v h="$CLK_TCK" -v c="$CPU" -v s="$SRV" \
    'BEGIN{o=(b-a)/h-c-s; if (o<0) o=0; printf "%.2f", o}')
  RSS_OWN=""
  [[ $sample == 1 ]] && RSS_OWN=$(cat "$base.hwm")
  if grep -q 'pgvault: building' "$base.err"; then
    log "  WARNING: the launcher rebuilt PgVault inside this timed run; figure is not valid"
    NOTES+=("$key run $run: the launcher rebuilt PgVault inside the timed run (use SNAPSHOT=1)")
  fi
  log "  -> ${WALL}s, cpu ${CPU}s client + ${SRV}s server (others ${OTHERS}s), rss ${RSS_TREE} KiB${RSS_OWN:+ (pgvault own $RSS_OWN KiB)}"
}
record() {  # KEY RUN BYTES
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$WALL" "$CPU" "$RSS_TREE" "${RSS_OWN:--}" "$3" "$SRV" "$OTHERS" >>"$RAW"
}
NOTES=()

# pgvault command line (an array: /usr/bin/time runs programs, not shell functions)
pvcmd() { PVCMD=(env TMPDIR="$TMPW" "$PV" --repo-path "$REPO" --connection "$CONN"); }
PVCMD_ENV=()   # extra leading words, e.g. (env VAR=1)
pv() { pvcmd; "${PVCMD[@]}" "$@"; }
pv_backup() {  # KEY RUN EXPECTED_COMPRESSION ARGS...   -> PV_ID
  local key=$1 run=$2 expect=$3; shift 3
  pvcmd
  measure "$key" "$run" 1 "${PVCMD_ENV[@]}" "${PVCMD[@]}" backup --type logical --db bench --output json "$@"
  PV_ID=$(json_field id "$STEP_OUT")
  local comp; comp=$(json_field compression "$STEP_OUT")
  [[ $comp == "$expect" ]] || die "$key: backup compression is '$comp', expected '$expect' (a pgvault configuration file?)"
  local stored; stored=$(json_field stored_bytes "$STEP_OUT")
  [[ -n $PV_ID && $stored =~ ^[0-9]+$ ]] || die "$key: no id/stored_bytes in the JSON output ($STEP_OUT)"
  record "$key" "$run" "$stored"
  PV_SELF[$key.$run]=$(json_field duration_seconds "$STEP_OUT")
}
declare -A PV_SELF=()
check_restored() {  # DB
  local n; n=$(q "SELECT count(*) FROM pgbench_accounts" "$1")
  [[ $n == "$ACCOUNTS" ]] || die "restored database $1 has $n rows in pgbench_accounts, expected $ACCOUNTS"
}
drop_db() { q "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null; }

for ((run = 1; run <= RUNS; run++)); do
  REPO=$WORK/repo.$run
  mkdir -p "$REPO"
  pv repo init >"$LOGDIR/repo-init.$run.log" 2>&1 || { cat "$LOGDIR/repo-init.$run.log" >&2; die "pgvault repo init failed"; }
  D=$OUT/run$run
  as_pg mkdir -p "$D"

  # 1-3: pg_dump
  RETRY_CLEAN='rm -f "$D/dump.fc"'
  measure fc "$run" 0 "${AS_PG[@]}" "$BIN/pg_dump" -Fc -f "$D/dump.fc" bench
  record fc "$run" "$(bytes_of "$D/dump.fc")"; rm -f "$D/dump.fc"
  RETRY_CLEAN='rm -f "$D/dump.fc0"'
  measure fc_z0 "$run" 0 "${AS_PG[@]}" "$BIN/pg_dump" -Fc -Z0 -f "$D/dump.fc0" bench
  record fc_z0 "$run" "$(bytes_of "$D/dump.fc0")"; rm -f "$D/dump.fc0"
  RETRY_CLEAN='rm -rf "$D/dump.fd"'
  measure fd_j "$run" 0 "${AS_PG[@]}" "$BIN/pg_dump" -Fd -j "$JOBS" -f "$D/dump.fd" bench
  record fd_j "$run" "$(bytes_of "$D/dump.fd")"

  # 4-7: pgvault (backups 5 and 7 are restored below)
  pv_backup pv_gzip6 "$run" gzip:6 --compression gzip:6
  pv_backup pv_zstd3 "$run" zstd:3
  ID_CUSTOM=$PV_ID
  pv_backup pv_lz4 "$run" lz4 --compression lz4
  pv_backup pv_dir_j "$run" zstd:3 --format directory --jobs "$JOBS"
  ID_DIR=$PV_ID
  pv_backup pv_dir_gz "$run" gzip:6 --format directory --jobs "$JOBS" --compression gzip:6
  ID_DIR_GZ=$PV_ID
  if [[ $EXTRAS == 1 ]]; then
    pv_backup pv_none "$run" none --compression none
    PVCMD_ENV=(env DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1)
    pv_backup pv_gzip6_inline "$run" gzip:6 --compression gzip:6
    PVCMD_ENV=()
  fi

  # 8: restores into new databases, checked, then dropped
  RETRY_CLEAN='drop_db r_pg_restore'
  measure rs_pg "$run" 0 "${AS_PG[@]}" sh -c "'$BIN/createdb' -T template0 r_pg_restore && '$BIN/pg_restore' -j '$JOBS' -d r_pg_restore '$D/dump.fd'"
  record rs_pg "$run" ""
  check_restored r_pg_restore; drop_db r_pg_restore
  rm -rf "$D/dump.fd"

  pvcmd
  RETRY_CLEAN='drop_db r_pv_dir'
  measure rs_pv_dir "$run" 1 "${PVCMD[@]}" restore --backup "$ID_DIR" --db r_pv_dir --jobs "$JOBS" --output json
  record rs_pv_dir "$run" ""
  check_restored r_pv_dir; drop_db r_pv_dir

  RETRY_CLEAN='drop_db r_pv_dir_gz'
  measure rs_pv_dir_gz "$run" 1 "${PVCMD[@]}" restore --backup "$ID_DIR_GZ" --db r_pv_dir_gz --jobs "$JOBS" --output json
  record rs_pv_dir_gz "$run" ""
  check_restored r_pv_dir_gz; drop_db r_pv_dir_gz

  RETRY_CLEAN='drop_db r_pv_custom'
  measure rs_pv_custom "$run" 1 "${PVCMD[@]}" restore --backup "$ID_CUSTOM" --db r_pv_custom --output json
  record rs_pv_custom "$run" ""
  check_restored r_pv_custom; drop_db r_pv_custom
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- results ----
# Row definitions: key|label (time ratios: every backup row vs fc, directory rows also vs fd_j,
# restore rows vs rs_pg)
ROWDEFS=(
  "fc|1  pg_dump -Fc (gzip -Z6, default)"
  "fc_z0|2  pg_dump -Fc -Z0"
  "fd_j|3  pg_dump -Fd -j $JOBS (gzip)"
  "pv_gzip6|4  pgvault custom gzip:6"
  "pv_zstd3|5  pgvault custom zstd:3 (default)"
  "pv_lz4|6  pgvault custom lz4"
  "pv_dir_j|7  pgvault directory -j $JOBS zstd:3"
  "pv_dir_gz|7g pgvault directory -j $JOBS gzip:6 (pg_dump compresses)"
)
[[ $EXTRAS == 1 ]] && ROWDEFS+=("pv_none|x  pgvault custom none (diagnostic)"
  "pv_gzip6_inline|y  row 4 + SOCKETS_INLINE_COMPLETIONS=1 (diagnostic)")
RESTDEFS=(
  "rs_pg|8a pg_restore -j $JOBS of 3 (+createdb)"
  "rs_pv_dir|8b pgvault restore -j $JOBS of 7"
  "rs_pv_dir_gz|8d pgvault restore -j $JOBS of 7g"
  "rs_pv_custom|8c pgvault restore of 5 (1 stream)"
)

median() {  # KEY COLUMN(3=wall 4=cpu 5=rss_tree 6=rss_own 7=bytes 8=server cpu 9=others cpu) -> median or empty
  awk -F'\t' -v k="$1" -v c="$2" '$1==k && $c!="" && $c!="-" {print $c}' "$RAW" | sort -g |
    awk '{a[NR]=$1} END{ if (NR==0) exit; if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'
}
declare -A MW MC MT MO MB MS MX MN
for def in "${ROWDEFS[@]}" "${RESTDEFS[@]}"; do
  k=${def%%|*}
  MW[$k]=$(median "$k" 3); MC[$k]=$(median "$k" 4); MT[$k]=$(median "$k" 5)
  MO[$k]=$(median "$k" 6); MB[$k]=$(median "$k" 7); MS[$k]=$(median "$k" 8); MX[$k]=$(median "$k" 9)
  MN[$k]=$(awk -F'\t' -v k="$k" '$1==k {print $3}' "$RAW" | sort -g | head -n1)
done
TR=$(ratio "${MW[pv_gzip6]}" "${MW[fc]}"); SR=$(ratio "${MB[pv_gzip6]}" "${MB[fc]}")
MAXRSS=0; MAXOWN=0
for def in "${ROWDEFS[@]}" "${RESTDEFS[@]}"; do
  k=${def%%|*}; [[ $k == pv_* || $k == rs_pv_* ]] || continue
  ((${MT[$k]%.*} > MAXRSS)) && MAXRSS=${MT[$k]%.*}
  [[ -n ${MO[$k]} ]] && ((${MO[$k]%.*} > MAXOWN)) && MAXOWN=${MO[$k]%.*}
done
TGT_TIME=$(awk -v r="$TR" 'BEGIN{print (r<=1.10) ? "met" : "not met"}')
TGT_SIZE=$(awk -v r="$SR" 'BEGIN{print (r<=1.05) ? "met" : "not met"}')
TGT_RSS=$(awk -v m="$MAXRSS" 'BEGIN{print (m*1024/1e6<200) ? "met" : "not met"}')

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
host_facts

report() {
  echo "## PgVault logical backup vs pg_dump (SCALE=$SCALE, RUNS=$RUNS$( ((RUNS > 1)) && echo ', medians'))"
  echo
  echo "- $(date -u '+%Y-%m-%d %H:%M UTC'); host: $HOST_DESC; CPU: $CPU_MODEL"
  echo "- $("$BIN/postgres" --version); pgvault $PV_VERSION"
  echo "- database 'bench': $(mb "$DB_BYTES") MB (pg_database_size), pgbench -i took ${LOAD_SECS}s"
  echo "- loadavg at start $LOAD_START, at end $LOAD_END; waited ${QUIET_WAITED}s in total for a quiet machine (QUIET_WAIT=$QUIET_WAIT, QUIET_CORES=$QUIET_CORES; steps disturbed by more than $NOISE_MAX cores of other work are re-measured, up to $NOISE_RETRIES times)"
  echo
  echo "| # operation | wall s | min s | time ×1 | time ×3 | stored MB | size ×1 | RSS MB tree | RSS MB pgvault | CPU s client | CPU s server | CPU s others |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local def k label vs3
  for def in "${ROWDEFS[@]}"; do
    k=${def%%|*}; label=${def#*|}
    vs3=""; [[ $k == fd_j || $k == pv_dir_j || $k == pv_dir_gz ]] && vs3=$(ratio "${MW[$k]}" "${MW[fd_j]}")
    echo "| $label | $(secs "${MW[$k]}") | $(secs "${MN[$k]}") | $(ratio "${MW[$k]}" "${MW[fc]}") | $vs3 | $(mb "${MB[$k]}") | $(ratio "${MB[$k]}" "${MB[fc]}") | $(kib_mb "${MT[$k]}") | $(kib_mb "${MO[$k]}") | $(secs "${MC[$k]}") | $(secs "${MS[$k]}") | $(secs "${MX[$k]}") |"
  done
  echo
  echo "| # restore | wall s | min s | time ×8a | RSS MB tree | RSS MB pgvault | CPU s client | CPU s server | CPU s others |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for def in "${RESTDEFS[@]}"; do
    k=${def%%|*}; label=${def#*|}
    echo "| $label | $(secs "${MW[$k]}") | $(secs "${MN[$k]}") | $(ratio "${MW[$k]}" "${MW[rs_pg]}") | $(kib_mb "${MT[$k]}") | $(kib_mb "${MO[$k]}") | $(secs "${MC[$k]}") | $(secs "${MS[$k]}") | $(secs "${MX[$k]}") |"
  done
  echo
  echo "Targets:"
  echo "- time within 10% of pg_dump at equal compression (4 vs 1): $TGT_TIME — $(secs "${MW[pv_gzip6]}") s vs $(secs "${MW[fc]}") s = ×$TR (limit ×1.10)$( ((RUNS > 1)) && echo "; best of $RUNS: ×$(ratio "${MN[pv_gzip6]}" "${MN[fc]}")")"
  echo "- stored size within 5% (4 vs 1): $TGT_SIZE — $(mb "${MB[pv_gzip6]}") MB vs $(mb "${MB[fc]}") MB = ×$SR (limit ×1.05)"
  echo "- directory backup ≤ ×1.0 of pg_dump -Fd -j $JOBS (issue 15): equal compression (7g vs 3) ×$(ratio "${MW[pv_dir_gz]}" "${MW[fd_j]}"), zstd:3 (7 vs 3) ×$(ratio "${MW[pv_dir_j]}" "${MW[fd_j]}")"
  echo "- parallel restore ≤ ×1.0 of pg_restore -j $JOBS (issue 15): of 7g (8d vs 8a) ×$(ratio "${MW[rs_pv_dir_gz]}" "${MW[rs_pg]}"), of 7 (8b vs 8a) ×$(ratio "${MW[rs_pv_dir]}" "${MW[rs_pg]}")"
  echo "- peak RSS < 200 MB (all pgvault rows): $TGT_RSS — max $(kib_mb "$MAXRSS") MB incl. children (pgvault itself: max $(kib_mb "$MAXOWN") MB)"
  print_notes
  echo
  echo "Columns: wall = date +%s%N around one invocation (median of the runs; min = the best run);"
  echo "×1 / ×3 / ×8a = ratio of the medians (time or size) to row 1 / 3 / 8a; stored = du -sb (pg_dump)"
  echo "or JSON stored_bytes (pgvault); RSS tree = /usr/bin/time %M (largest of the process and the"
  echo "children it waited for, e.g. pg_dump under pgvault); RSS pgvault = VmHWM of the pgvault process"
  echo "alone (sampled every 50 ms); CPU client = user+sys of the command's process tree; CPU server ="
  echo "the throw-away cluster's processes; CPU others = the rest of the machine during the step (noise;"
  echo "with 2 cores, wall >= (client+server+others)/2). CHECKPOINT + sync before each step, page cache"
  echo "not dropped. MB = 10^6 bytes."
}
REPORT=$(report)
echo "$REPORT"

# ------------------------------------------------------------------- JSON ----
jarr() {  # KEY COLUMN -> JSON array of the per-run values
  awk -F'\t' -v k="$1" -v c="$2" '$1==k {v=($c==""||$c=="-")?"null":$c; s=s (n++?",":"") v} END{printf "[%s]", s}' "$RAW"
}
mkdir -p "$RESULTS_DIR"
JSON_FILE=$RESULTS_DIR/logical-$STAMP.json
{
  echo "{"
  echo "  \"benchmark\": \"logical\","
  echo "  \"timestamp\": $(jstr "$STAMP"),"
  echo "  \"host\": $(jstr "$HOST_DESC"), \"cpu\": $(jstr "$CPU_MODEL"),"
  echo "  \"postgres\": $(jstr "$("$BIN/postgres" --version)"), \"pgvault\": $(jstr "$PV_VERSION"),"
  echo "  \"scale\": $SCALE, \"runs\": $RUNS, \"jobs\": $JOBS, \"db_bytes\": $DB_BYTES, \"load_seconds\": $LOAD_SECS,"
  echo "  \"loadavg_start\": $(jstr "$LOAD_START"), \"loadavg_end\": $(jstr "$LOAD_END"), \"quiet_wait\": $QUIET_WAIT, \"quiet_cores\": $QUIET_CORES, \"quiet_waited_seconds\": $QUIET_WAITED, \"noise_max\": $NOISE_MAX, \"noise_retries\": $NOISE_RETRIES,"
  echo "  \"rows\": ["
  first=1
  for def in "${ROWDEFS[@]}" "${RESTDEFS[@]}"; do
    k=${def%%|*}; label=${def#*|}
    vs3=null; [[ $k == fd_j || $k == pv_dir_j || $k == pv_dir_gz ]] && vs3=$(jnum "$(ratio "${MW[$k]}" "${MW[fd_j]}")")
    if [[ $k == rs_* ]]; then vs1=null; vsr=$(jnum "$(ratio "${MW[$k]}" "${MW[rs_pg]}")"); sz=null
    else vs1=$(jnum "$(ratio "${MW[$k]}" "${MW[fc]}")"); vsr=null; sz=$(jnum "$(ratio "${MB[$k]}" "${MB[fc]}")"); fi
    self=""
    for ((r = 1; r <= RUNS; r++)); do [[ -n ${PV_SELF[$k.$r]:-} ]] && self+="${self:+,}${PV_SELF[$k.$r]}"; done
    ((first)) || echo ","
    first=0
    printf '    {"key": %s, "label": %s, "wall_seconds": %s, "wall_seconds_min": %s, "cpu_seconds": %s, "server_cpu_seconds": %s, "others_cpu_seconds": %s, "stored_bytes": %s, "rss_tree_kib": %s, "rss_pgvault_kib": %s, "time_ratio_vs_1": %s, "time_ratio_vs_3": %s, "time_ratio_vs_8a": %s, "size_ratio_vs_1": %s, "runs": {"wall_seconds": %s, "cpu_seconds": %s, "server_cpu_seconds": %s, "others_cpu_seconds": %s, "stored_bytes": %s, "rss_tree_kib": %s, "rss_pgvault_kib": %s, "pgvault_duration_seconds": [%s]}}' \
      "$(jstr "$k")" "$(jstr "$label")" "$(jnum "${MW[$k]}")" "$(jnum "${MN[$k]}")" "$(jnum "${MC[$k]}")" "$(jnum "${MS[$k]}")" "$(jnum "${MX[$k]}")" "$(jnum "${MB[$k]}")" \
      "$(jnum "${MT[$k]}")" "$(jnum "${MO[$k]}")" "$vs1" "$vs3" "$vsr" "$sz" \
      "$(jarr "$k" 3)" "$(jarr "$k" 4)" "$(jarr "$k" 8)" "$(jarr "$k" 9)" "$(jarr "$k" 7)" "$(jarr "$k" 5)" "$(jarr "$k" 6)" "$self"
  done
  echo
  echo "  ],"
  echo "  \"notes\": $(jstr_array "${NOTES[@]}"),"
  echo "  \"targets\": {"
  echo "    \"time_within_10pct\": {\"status\": $(jstr "$TGT_TIME"), \"ratio\": $(jnum "$TR"), \"limit\": 1.10},"
  echo "    \"size_within_5pct\": {\"status\": $(jstr "$TGT_SIZE"), \"ratio\": $(jnum "$SR"), \"limit\": 1.05},"
  echo "    \"rss_below_200mb\": {\"status\": $(jstr "$TGT_RSS"), \"max_rss_tree_kib\": $MAXRSS, \"max_rss_pgvault_kib\": $MAXOWN}"
  echo "  }"
  echo "}"
} >"$JSON_FILE"
log "results: $JSON_FILE"
log "done"
