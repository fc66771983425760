#!/usr/bin/env bash
# scale.sh - PgVault's peak RSS and time per GB across cluster sizes (issue 15, target 1:
# "memory flat in cluster size": peak RSS of full, incr, restore and delta restore < 100 MB at
# any scale, slope < 1 MB per GB). PgVault only; nothing to compare side by side: the "ratio"
# here is between scales.
#
# For each SCALE in SCALES, on a fresh throw-away cluster in WORK (initdb --data-checksums,
# archive_command = pgvault-wal archive-push into a fresh filesystem repository, autovacuum off):
#   load   pgbench -i -s SCALE (untimed)
#   full   pgvault backup --type full --parallel PARALLEL
#   incr   pgvault backup --type incr, after `pgbench -n -c 2 -j 2 -t INCR_TX/2` (~1 % of pages)
#   restore  pgvault restore --backup latest --pgdata DIR --parallel PARALLEL (new empty DIR)
#   incr2  pgvault backup --type incr after the same pgbench run again (the "more changes")
#   delta  pgvault restore --delta onto DIR (so it rewrites what incr2 changed)
# then stops that cluster and removes its directory before the next scale.
# Prints a markdown table per scale (database GB, seconds, peak RSS MB, s per GB per step), then
# for each step the slope of peak RSS between the smallest and the largest scale (MB per GB) and
# the issue's targets (slope < 1 MB/GB; peak RSS < 100 MB at every scale), as met / NOT MET,
# never asserted. JSON to bench/results/scale-<timestamp>.json; the report between the markers
# of the "scale.sh" section of bench/README.md (only when every step of every scale succeeded).
#
# Usage (as root; the server and pgvault run as postgres):
#   bench/scale.sh                        # SCALES="10 50" (~0.15 and ~0.75 GB), a few minutes
#   SCALES="50 400 1000" bench/scale.sh   # the issue's scales: ~16 GB database at 1000, needs
#                                         # ~65 GB of disk in BENCH_TMPDIR and about an hour
#
# Environment (defaults in brackets):
#   SCALES        pgbench scale factors, in any order [10 50] (~15 MB per unit)
#   PARALLEL      pgvault --parallel [2]
#   INCR_TX       pgbench transactions before each incremental [pages of the database / 200:
#                 each updates one random pgbench_accounts row, ~2 random pages, so ~1 % of pages]
#   PGBIN         PostgreSQL binaries [/usr/lib/postgresql/15/bin]
#   PGVAULT_REPO  PgVault checkout whose launcher is used [the repository this script is in]
#   SNAPSHOT, REQUIRE_AOT   as in physical.sh (time a copy of the built binary; stop on a
#                 framework-dependent build) [1, 1]
#   QUIET_WAIT, QUIET_CORES wait before each timed step for a quiet machine [60, 0.3]
#   NOISE_MAX     a step during which the rest of the machine used more than this many cores on
#                 average gets a note (its time is disturbed; steps are not repeated) [0.3]
#   ARCHIVE_WAIT  seconds to wait for the archiver to drain after each scale's load [300]
#   WORK, BENCH_TMPDIR, KEEP, RESULTS_DIR   as in physical.sh [new dir in /var/tmp, 0, bench/results]
#   RESULTS_MD    file whose "scale.sh results" markers receive the report [bench/README.md]; "" = none
#
# Method: wall = date +%s%N around one invocation, once per step; CHECKPOINT + sync and the
# quiet-machine wait before each, page cache warm. Peak RSS: "RSS MB" = /usr/bin/time %M
# (ru_maxrss: the largest process of the tree, pgvault and any child it waited for); "own MB" =
# VmHWM of the pgvault process alone, sampled every 50 ms (sample_hwm; as root the command is
# started through setpriv, which execs pgvault in place, so it is the direct child of time).
# Slope = (RSS at the largest scale - RSS at the smallest) / (GB difference), GB = 10^9 bytes of
# pg_database_size('bench'); MB = 10^6 bytes. Archive-push processes (started by the server) are
# not measured. Never assert these figures in tests: shared 2-core machine.
set -euo pipefail
export LC_ALL=C

# ------------------------------------------------------------------ settings --
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
SCALES=${SCALES:-10 50}
PARALLEL=${PARALLEL:-2}
INCR_TX_GIVEN=${INCR_TX:-}
BIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PV_ROOT=${PGVAULT_REPO:-$(cd "$HERE/.." && pwd)}
SNAPSHOT=${SNAPSHOT:-1}
REQUIRE_AOT=${REQUIRE_AOT:-1}
ARCHIVE_WAIT=${ARCHIVE_WAIT:-300}
NOISE_MAX=${NOISE_MAX:-0.3}
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
RESULTS_MD=${RESULTS_MD-$HERE/README.md}
WORK_GIVEN=${WORK:-}
. "$HERE/lib.sh"
unset_env 'PG*'

read -r -a SCALE_LIST <<<"$SCALES"
((${#SCALE_LIST[@]} >= 1)) || die "SCALES is empty"
for s in "${SCALE_LIST[@]}"; do need_int "SCALES entry" "$s" 1; done
mapfile -t SCALE_LIST < <(printf '%s\n' "${SCALE_LIST[@]}" | sort -n -u)
need_int PARALLEL "$PARALLEL" 1
[[ -z $INCR_TX_GIVEN ]] || need_int INCR_TX "$INCR_TX_GIVEN" 2
[[ -x $BIN/postgres ]] || die "no postgres binary in $BIN"
pg_user_setup root
need_tools awk du date sort sed sync getconf find
install_if_missing /usr/bin/time time
need_results_dir "$RESULTS_DIR"
# the timed command's own process must be pgvault (sample_hwm reads the child of time):
# setpriv execs in place, runuser forks and waits
if command -v setpriv >/dev/null; then
  PG_HOME=$(getent passwd "$PG_OS_USER" | cut -d: -f6)
  RUN_PV=(env "HOME=$PG_HOME" "USER=$PG_OS_USER" "LOGNAME=$PG_OS_USER" \
    setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups --)
else
  RUN_PV=("${AS_PG[@]}"); log "note: no setpriv: the 'own MB' column stays empty"
fi

# ------------------------------------------------------------ work + cleanup --
LEFTOVER_MATCH=(archive-push)
make_work "$WORK_GIVEN" "$TMPBASE/pgvault-scale" 755
cd "$WORK"
MAX_SCALE=${SCALE_LIST[-1]}
NEED_MB=$((MAX_SCALE * 16 * 4 + 2000))   # cluster, WAL, repository, restored copy
AVAIL_MB=$(df -Pm "$WORK" | awk 'NR==2{print $4}')
((AVAIL_MB >= NEED_MB)) || die "$WORK has ${AVAIL_MB} MB free; SCALE=$MAX_SCALE needs about ${NEED_MB} MB"
SOCK=$WORK/sock LOGDIR=$WORK/logs
as_pg mkdir -p "$SOCK"; chmod 700 "$SOCK"; mkdir -p "$LOGDIR"

PV="" PVWAL="" PV_VERSION="" PV_KIND="" PV_HOW=""
pgvault_prepare "$PV_ROOT/pgvault" "$LOGDIR" built

# ------------------------------------------------------------------ results --
STEPS=(full incr restore incr2 delta)
declare -A LABEL=(
  [full]="full backup" [incr]="incr backup (~1 % pages changed)" [restore]="restore (new dir)"
  [incr2]="incr backup, 2nd" [delta]="delta restore (after the 2nd incr)"
)
declare -A W=() RSS=() OWN=() CPU=() OTH=() ST=() GB=() DBB=() TXS=()
NOTES=()
ANY_FAILED=0

# timed SCALE STEP CMD... : W, RSS (tree, KiB), OWN (pgvault VmHWM, KiB), ST for "SCALE.STEP"
timed() {
  local k=$1.$2; shift 2
  local base=$LOGDIR/$k t0 rc=0 tl m t u c srv0 busy0
  q "CHECKPOINT" >/dev/null || true
  sync
  wait_quiet
  log "scale ${k%%.*}: ${LABEL[${k#*.}]} (loadavg $(cut -d' ' -f1 /proc/loadavg))"
  srv0=$(server_ticks); busy0=$(busy_ticks)
  t0=$(now_ns)
  /usr/bin/time -f '%e %M %U %S' -o "$base.time" "$@" >"$base.out" 2>"$base.err" &
  CUR_TPID=$!
  sample_hwm "$CUR_TPID" "$base.hwm" & SAMPLER_PID=$!
  wait "$CUR_TPID" || rc=$?
  W[$k]=$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  CUR_TPID=""
  wait "$SAMPLER_PID" || true; SAMPLER_PID=""
  tl=$(grep -E '^[0-9.]+ [0-9]+ [0-9.]+ [0-9.]+$' "$base.time" | tail -n1 || true)
  u=0 c=0
  [[ -n $tl ]] && { read -r _ m u c <<<"$tl"; RSS[$k]=$m; }
  sleep 0.1   # let the postmaster reap the walsender / backends that just ended
  CPU[$k]=$(awk -v u="$u" -v s="$c" 'BEGIN{printf "%.2f", u+s}')
  OTH[$k]=$(awk -v a="$busy0" -v b="$(busy_ticks)" -v s0="$srv0" -v s1="$(server_ticks)" -v h="$CLK_TCK" -v c="${CPU[$k]}" \
    'BEGIN{o=(b-a)/h-c-(s1-s0)/h; if (o<0) o=0; printf "%.2f", o}')
  m=$(cat "$base.hwm" 2>/dev/null || true)
  [[ $m =~ ^[1-9][0-9]*$ ]] && OWN[$k]=$m
  if ((rc != 0)); then
    ST[$k]=FAILED; ANY_FAILED=1
    NOTES+=("SCALE=${k%%.*} ${LABEL[${k#*.}]}: FAILED (exit $rc): $(tail -n 3 "$base.err" | tr '\n' ' ' | cut -c1-300)")
    log "  -> FAILED (exit $rc); last lines of $base.err:"; tail -n 15 "$base.err" >&2 || true
    return 1
  fi
  ST[$k]=ok
  case ${k#*.} in
    incr|incr2)
      t=$(json_field type "$base.out")
      [[ $t == incr ]] || NOTES+=("SCALE=${k%%.*} ${LABEL[${k#*.}]}: pgvault says type '$t', not 'incr'") ;;
  esac
  if awk -v o="${OTH[$k]}" -v w="${W[$k]}" -v m="$NOISE_MAX" 'BEGIN{exit !(w > 0 && o / w > m)}'; then
    NOTES+=("SCALE=${k%%.*} ${LABEL[${k#*.}]}: disturbed - the rest of the machine used ${OTH[$k]} CPU s during its ${W[$k]} s (its time, not its RSS)")
  fi
  log "  -> ${W[$k]} s (cpu ${CPU[$k]} s, others ${OTH[$k]} s), peak RSS $(kib_mb "${RSS[$k]:-}") MB (pgvault itself $(kib_mb "${OWN[$k]:-}") MB)"
}
pv() { as_pg "$PV" --config "$PV_CONF" "$@"; }
pgbench_changes() {  # SCALE N : N transactions, ~2 random pages each
  as_pg "$BIN/pgbench" -n -c 2 -j 2 -t $(($2 / 2)) -h "$SOCK" -p "$PORT" -U "$PG_OS_USER" bench \
    >>"$LOGDIR/$1.pgbench.log" 2>&1 || { tail "$LOGDIR/$1.pgbench.log" >&2; die "pgbench failed"; }
}
drain_archive() {
  local start=$SECONDS
  q "SELECT pg_switch_wal()" >/dev/null
  while (($(ready_count) > 0)); do
    ((SECONDS - start < ARCHIVE_WAIT)) || { NOTES+=("archiver not drained after ${ARCHIVE_WAIT}s"); return 0; }
    sleep 0.5
  done
}

# ------------------------------------------------------------- one scale ----
run_scale() {
  local S=$1 dir=$WORK/s$1 tx bytes
  PV_CONF=$dir/pgvault.yaml
  as_pg mkdir -p "$dir"
  PGDATA_DIR=$dir/data
  pick_port 54540 54639
  log "== SCALE=$S: initdb (port $PORT)"
  pg_init "$LOGDIR" --data-checksums
  pg_archiving_conf "$PVWAL --config $PV_CONF archive-push %p"
  pv_write_conf "$PV_CONF" "$dir/repo" "$PARALLEL"
  pv repo init >"$LOGDIR/$S.repo-init.log" 2>&1 || { cat "$LOGDIR/$S.repo-init.log" >&2; die "pgvault repo init failed"; }
  pg_start "$dir/postgres.log"
  q "CREATE DATABASE bench TEMPLATE template0" >/dev/null
  log "pgbench -i -s $S"
  as_pg "$BIN/pgbench" -i -q -s "$S" -h "$SOCK" -p "$PORT" -U "$PG_OS_USER" bench >"$LOGDIR/$S.pgbench-init.log" 2>&1 ||
    { tail "$LOGDIR/$S.pgbench-init.log" >&2; die "pgbench -i failed"; }
  q "CHECKPOINT" >/dev/null
  drain_archive   # the load's WAL is pushed before anything is timed
  bytes=$(q "SELECT pg_database_size('bench')")
  DBB[$S]=$bytes
  GB[$S]=$(awk -v b="$bytes" 'BEGIN{printf "%.3f", b/1e9}')
  if [[ -n $INCR_TX_GIVEN ]]; then tx=$INCR_TX_GIVEN; else tx=$((bytes / 8192 / 200)); ((tx >= 100)) || tx=100; fi
  tx=$(((tx + 1) / 2 * 2)); TXS[$S]=$tx
  log "database ${GB[$S]} GB; $tx pgbench transactions before each incremental"

  local ok=1
  timed "$S" full "${RUN_PV[@]}" "$PV" --config "$PV_CONF" backup --type full --parallel "$PARALLEL" --output json || ok=0
  if ((ok)); then
    pgbench_changes "$S" "$tx"
    timed "$S" incr "${RUN_PV[@]}" "$PV" --config "$PV_CONF" backup --type incr --parallel "$PARALLEL" --output json || ok=0
  fi
  if ((ok)); then
    as_pg mkdir -m 700 "$dir/restored"
    timed "$S" restore "${RUN_PV[@]}" "$PV" --config "$PV_CONF" restore --backup latest --pgdata "$dir/restored" \
      --parallel "$PARALLEL" --output json || ok=0
  fi
  if ((ok)); then
    pgbench_changes "$S" "$tx"
    timed "$S" incr2 "${RUN_PV[@]}" "$PV" --config "$PV_CONF" backup --type incr --parallel "$PARALLEL" --output json || ok=0
  fi
  if ((ok)); then
    timed "$S" delta "${RUN_PV[@]}" "$PV" --config "$PV_CONF" restore --backup latest --pgdata "$dir/restored" \
      --parallel "$PARALLEL" --delta --output json || true
  fi
  stop_cluster
  PGDATA_DIR=""
  if [[ $KEEP != 1 ]]; then rm -rf --one-file-system "$dir"; fi
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK; SCALES='${SCALE_LIST[*]}' PARALLEL=$PARALLEL; loadavg $LOAD_START"
for S in "${SCALE_LIST[@]}"; do run_scale "$S"; done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report ---
LO=${SCALE_LIST[0]} HI=${SCALE_LIST[-1]}
cell() { [[ ${ST[$1]:-} == ok ]] && printf '%s' "$2" || printf '%s' "${ST[$1]:-—}"; }
# slope STEP FIELD(RSS|OWN) -> MB per GB between the smallest and the largest scale (or empty)
slope() {
  local -n a=$2
  [[ $LO != "$HI" && ${ST[$LO.$1]:-} == ok && ${ST[$HI.$1]:-} == ok && -n ${a[$LO.$1]:-} && -n ${a[$HI.$1]:-} ]] || return 0
  awk -v r0="${a[$LO.$1]}" -v r1="${a[$HI.$1]}" -v g0="${GB[$LO]}" -v g1="${GB[$HI]}" \
    'BEGIN{ if (g1 > g0) printf "%.1f", (r1 - r0) * 1024 / 1e6 / (g1 - g0) }'
}
max_rss() {  # STEP -> largest RSS (KiB) over the scales
  local s m=""; for s in "${SCALE_LIST[@]}"; do
    [[ ${ST[$s.$1]:-} == ok && -n ${RSS[$s.$1]:-} ]] && { [[ -z $m || ${RSS[$s.$1]} -gt $m ]] && m=${RSS[$s.$1]}; }
  done; printf '%s' "$m"
}
verdict() { if [[ -z $1 ]]; then printf 'not measured'; elif awk -v v="$1" -v l="$2" 'BEGIN{exit !(v < l)}'; then printf '**met**'; else printf '**NOT MET**'; fi; }

report() {
  local s k
  echo "### PgVault peak RSS and time across scales (SCALES=${SCALE_LIST[*]}, parallel $PARALLEL)"
  echo
  echo "- $(date -u '+%Y-%m-%d %H:%M UTC'); host: $HOST_DESC; CPU: $CPU_MODEL"
  echo "- $PG_VERSION_STR; pgvault $PV_VERSION ($PV_KIND, $PV_HOW); zstd:3, data checksums on"
  echo "- loadavg at start $LOAD_START, at end $LOAD_END; waited ${QUIET_WAITED} s in total for a quiet machine"
  for s in "${SCALE_LIST[@]}"; do
    echo
    echo "#### SCALE=$s: database ${GB[$s]:-?} GB, ${TXS[$s]:-?} pgbench transactions before each incr"
    echo
    echo "| step | wall s | s per GB | peak RSS MB | pgvault own MB | CPU s pgvault | CPU s others |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for k in "${STEPS[@]}"; do
      md_row "${LABEL[$k]}" "$(cell "$s.$k" "$(secs "${W[$s.$k]:-}")")" \
        "$(cell "$s.$k" "$(awk -v w="${W[$s.$k]:-0}" -v g="${GB[$s]:-0}" 'BEGIN{if (g > 0) printf "%.2f", w/g}')")" \
        "$(cell "$s.$k" "$(kib_mb "${RSS[$s.$k]:-}")")" "$(cell "$s.$k" "$(kib_mb "${OWN[$s.$k]:-}")")" \
        "$(cell "$s.$k" "${CPU[$s.$k]:-}")" "$(cell "$s.$k" "${OTH[$s.$k]:-}")"
    done
  done
  echo
  echo "#### Peak RSS per GB, SCALE=$LO (${GB[$LO]:-?} GB) to SCALE=$HI (${GB[$HI]:-?} GB)"
  echo
  echo "| step | peak RSS MB at $LO → $HI | slope MB/GB | own slope MB/GB | slope < 1 MB/GB | peak < 100 MB at every scale |"
  echo "|---|---:|---:|---:|---|---|"
  for k in "${STEPS[@]}"; do
    local sl mx
    sl=$(slope "$k" RSS); mx=$(max_rss "$k")
    md_row "${LABEL[$k]}" "$(kib_mb "${RSS[$LO.$k]:-}") → $(kib_mb "${RSS[$HI.$k]:-}")" "$sl" "$(slope "$k" OWN)" \
      "$(verdict "$sl" 1)" "$(verdict "$(kib_mb "$mx")" 100)$([[ -n $mx ]] && printf ' (max %s MB)' "$(kib_mb "$mx")")"
  done
  print_notes
  echo
  echo "wall = date +%s%N around one invocation, measured once, CHECKPOINT + sync before, page cache warm."
  echo "peak RSS = /usr/bin/time %M (largest process of the tree); own = VmHWM of the pgvault process,"
  echo "sampled every 50 ms. CPU others = the rest of the machine during the step (noise; the"
  echo "server's CPU excluded). GB = 10^9 bytes of pg_database_size('bench'), MB = 10^6 bytes. Targets of"
  echo "issue 15 (target 1), printed, never asserted."
}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
host_facts
PG_VERSION_STR=$("$BIN/postgres" --version)
REPORT=$(report)
echo "$REPORT"

# -------------------------------------------------------------------- JSON ---
JSON_FILE=$RESULTS_DIR/scale-$STAMP.json
{
  echo "{"
  echo "  \"benchmark\": \"scale\", \"timestamp\": $(jstr "$STAMP"),"
  echo "  \"host\": $(jstr "$HOST_DESC"), \"cpu\": $(jstr "$CPU_MODEL"), \"postgres\": $(jstr "$PG_VERSION_STR"),"
  echo "  \"pgvault\": $(jstr "$PV_VERSION"), \"pgvault_build\": $(jstr "$PV_KIND"), \"parallel\": $PARALLEL,"
  echo "  \"loadavg_start\": $(jstr "$LOAD_START"), \"loadavg_end\": $(jstr "$LOAD_END"), \"quiet_waited_seconds\": $QUIET_WAITED,"
  echo "  \"scales\": ["
  first=1
  for s in "${SCALE_LIST[@]}"; do
    ((first)) || echo ","; first=0
    printf '    {"scale": %s, "db_bytes": %s, "transactions_per_incr": %s, "steps": [' "$s" "$(jnum "${DBB[$s]:-}")" "$(jnum "${TXS[$s]:-}")"
    f2=1
    for k in "${STEPS[@]}"; do
      ((f2)) || printf ','; f2=0
      printf '\n      {"step": %s, "status": %s, "wall_seconds": %s, "peak_rss_kib": %s, "pgvault_hwm_kib": %s, "cpu_client_seconds": %s, "cpu_others_seconds": %s}' \
        "$(jstr "$k")" "$(jstr "${ST[$s.$k]:-skipped}")" "$(jnum "${W[$s.$k]:-}")" "$(jnum "${RSS[$s.$k]:-}")" "$(jnum "${OWN[$s.$k]:-}")" \
        "$(jnum "${CPU[$s.$k]:-}")" "$(jnum "${OTH[$s.$k]:-}")"
    done
    printf '\n    ]}'
  done
  echo
  echo "  ],"
  echo "  \"slopes_mb_per_gb\": {"
  first=1
  for k in "${STEPS[@]}"; do
    ((first)) || echo ","; first=0
    printf '    %s: {"rss": %s, "own": %s, "max_rss_kib": %s}' "$(jstr "$k")" "$(jnum "$(slope "$k" RSS)")" "$(jnum "$(slope "$k" OWN)")" "$(jnum "$(max_rss "$k")")"
  done
  echo
  echo "  },"
  echo "  \"notes\": $(jstr_array "${NOTES[@]}")"
  echo "}"
} >"$JSON_FILE"
check_json "$JSON_FILE"
log "JSON: $JSON_FILE"

if [[ -n $RESULTS_MD ]]; then
  if ((ANY_FAILED)); then
    log "a step failed: $RESULTS_MD not updated"
  else
    write_between_markers "$RESULTS_MD" '<!-- scale.sh results: begin (generated; replaced by every complete run) -->' \
      '<!-- scale.sh results: end -->' "$REPORT"
    log "report written to $RESULTS_MD"
  fi
fi
((ANY_FAILED)) && { log "done, with FAILED steps (see Notes)"; exit 1; }
log "done"
