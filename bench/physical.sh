#!/usr/bin/env bash
# physical.sh - PgVault physical backups vs pgBackRest and pg_basebackup, side by side in one run.
#
# Creates a throw-away PostgreSQL cluster in WORK (initdb --data-checksums, archive_mode=on,
# autovacuum=off so that nothing but the benchmark changes the data between steps),
# loads `pgbench -i -s SCALE` into database `bench`, and times, on that one cluster:
#   1  full backup
#        pgBackRest  backup --type=full, compress-type=zst, compress-level=3, process-max=PARALLEL,
#                    start-fast=y, repository on local disk in WORK
#        PgVault     backup --type full --compression zstd:3 --parallel PARALLEL
#        pg_basebackup -Ft -z (gzip, default level) -X stream --checkpoint=fast
#      EXTRAS=1, at the very end (so the incremental and restores are based on the zst fulls):
#        pgBackRest  full, compress-type=lz4        PgVault  full, --compression lz4
#   2  incremental after `pgbench -n -c 2 -j 2 -t INCR_TX/2` (INCR_TX transactions in all)
#        pgBackRest  backup --type=incr (file-level: a changed file is stored whole)
#        PgVault     backup --type incr
#      each also as % of the same tool's full-backup time.
#   3  restore of the latest backup (the incremental) into a new empty directory, files only
#      (the restored servers are never started; only the restore command is timed)
#        pgBackRest  restore --pg1-path=DIR --process-max=PARALLEL
#        PgVault     restore --backup latest --pgdata DIR --parallel PARALLEL
#   4  delta restore onto the directory just restored (unchanged)
#        pgBackRest  restore --delta ...           PgVault  restore --delta ...
# WAL archiving: while a tool backs up, archive_command pushes into that tool's repository
#   pgBackRest: pgbackrest --config=WORK/... --stanza=bench archive-push %p
#   PgVault:    <pgvault-wal binary> --config WORK/pv/pgvault.yaml archive-push %p (what setup writes)
#   pg_basebackup streams its WAL itself (-X stream); archive_command is /bin/true meanwhile.
# Before each switch the archiver is drained (no .ready file left), then archive_command is
# changed (ALTER SYSTEM + pg_reload_conf) and one WAL segment is pushed through it (untimed),
# so a backup never waits on a broken or stale archive_command.
# pg_basebackup goes first (see step 1); then the tool that goes first alternates: full pgBackRest->PgVault, incr PgVault->pgBackRest,
# restore pgBackRest->PgVault, delta PgVault->pgBackRest.
# Prints a markdown report (wall s, ratios, sizes, peak RSS, CPU) with the targets
#   PgVault full <= pgBackRest full (zstd:3 vs zst:3, parallelism 2), PgVault restore <=
#   pgBackRest restore, PgVault delta restore <= pgBackRest delta restore, PgVault incr < 15 %
#   of PgVault full
# (printed as met / NOT MET, never asserted), writes it between the result markers of
# bench/README-physical.md (only when every step of all three tools succeeded) and as JSON to
# bench/results/physical-<timestamp>.json (always).
#
# Usage (as root; the server and every backup/restore run as postgres through runuser):
#   bench/physical.sh                          # SCALE=100 (~1.5 GB), a few minutes
#   SCALE=10 EXTRAS=0 bench/physical.sh        # quick
#   PGVAULT_REPO=/work/main SCALE=10 bench/physical.sh
#
# Environment (defaults in brackets):
#   SCALE         pgbench scale factor [100]  (~15 MB per unit: 100 ~ 1.5 GB database)
#   INCR_TX       pgbench transactions before the incremental backups, run as
#                 `pgbench -n -c 2 -j 2 -t INCR_TX/2` [pages of the database / 200: each
#                 transaction updates one random pgbench_accounts row, i.e. dirties about 2 random
#                 pages (the heap page of the old row version and a primary-key leaf page), so that
#                 is ~1 % of the database's 8 KiB pages]. The report shows what really changed.
#   CHANGE_STATS  1 = hash every 8 KiB block of base/ and global/ before and after that pgbench run
#                 (python3, untimed) and report the blocks and files that changed [1 if python3]
#   PARALLEL      pgBackRest process-max, PgVault --parallel [2]
#   EXTRAS        1 = also the lz4 full backups of both tools [1]
#   TOOLS         which tools to run ["pgbackrest pgvault basebackup"]; pgBackRest is left out,
#                 with a message, when `pgbackrest` is not installed (nothing is installed)
#   PGBIN         PostgreSQL binaries [/usr/lib/postgresql/15/bin]
#   PGVAULT_REPO  PgVault checkout whose launcher is used [the repository this script is in];
#                 `$PGVAULT_REPO/pgvault --version` is called once (it builds when sources changed)
#   SNAPSHOT      1 = copy the built binary ($PGVAULT_REPO/.build/bin) into WORK and time that copy,
#                 so a rebuild by the launcher during the run (sources being edited) cannot replace
#                 it mid-run; 0 = time $PGVAULT_REPO/.build/bin/pgvault in place [1]
#   REQUIRE_AOT   1 = stop when the launcher's build is framework-dependent (its Native AOT publish
#                 failed); 0 = time it anyway, flagged in the report [1]
#   QUIET_WAIT    before each timed step wait up to this many seconds for the rest of the machine
#                 to use at most QUIET_CORES cores (1 s samples of /proc/stat); 0 = no wait [60]
#   QUIET_CORES   [0.3]
#   NOISE_MAX     a step during which the rest of the machine used more than this many cores on
#                 average gets a note in the report (steps are not repeated: an incremental or a
#                 delta restore cannot be re-run on the same state) [0.3]
#   ARCHIVE_WAIT  seconds to wait for the archiver to drain / for the probe segment [120]
#   WORK          work directory [a new mktemp -d under BENCH_TMPDIR]; must be empty or absent.
#                 Removed at exit (KEEP=1 keeps it); the cluster is stopped at exit, also on
#                 failure or Ctrl-C.
#   BENCH_TMPDIR  parent of the work directory [/var/tmp]
#   RESULTS_DIR   where the JSON goes [<repo>/bench/results]
#   RESULTS_MD    markdown file whose result markers receive the report
#                 [<repo>/bench/README-physical.md]; "" = none
#   KEEP          1 = keep WORK (cluster stopped) for inspection [0]
#
# Method:
#   * wall seconds: date +%s%N around one invocation (/usr/bin/time around the command when
#     /usr/bin/time exists; it is never installed). Every figure is measured once.
#   * before every timed step, untimed: CHECKPOINT + sync, then the quiet-machine wait.
#     Page cache is never dropped (warm cache, as in shared/bench/anchors.sh).
#   * peak RSS: /usr/bin/time %M = ru_maxrss from wait4 of `runuser ... CMD`, i.e. the largest
#     single process of the tree (pgBackRest: its main or one of its local worker processes).
#     CPU client: user+sys of that tree; CPU server: the throw-away cluster (postmaster, its live
#     children, the children it reaped: walsenders, backends); CPU others: the rest of the machine
#     during the step (noise; with 2 cores, wall >= (client + server + others) / 2).
#   * stored: pgBackRest = du -sb of the backup's label directory (WAL archive excluded);
#     PgVault = stored_bytes of its JSON output; pg_basebackup = du -sb of its output directory.
#     repo growth: du -sb of the repository without its WAL archive (pgBackRest backup/, PgVault
#     everything but clusters/*/wal) after minus before the step.
#   * restored: du -sb of the restored directory. The restored directories' relation files
#     (base/, global/) are compared with the source cluster's (count and sizes), untimed.
#   * MB = 10^6 bytes. Never assert these timings in tests: shared 2-core machine, +-30 %.
set -euo pipefail
export LC_ALL=C

# ------------------------------------------------------------------ settings --
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
SCALE=${SCALE:-100}
INCR_TX_GIVEN=${INCR_TX:-}
PARALLEL=${PARALLEL:-2}
EXTRAS=${EXTRAS:-1}
TOOLS=${TOOLS:-pgbackrest pgvault basebackup}
BIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PV_ROOT=${PGVAULT_REPO:-$(cd "$HERE/.." && pwd)}
SNAPSHOT=${SNAPSHOT:-1}
REQUIRE_AOT=${REQUIRE_AOT:-1}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_CORES=${QUIET_CORES:-0.3}
NOISE_MAX=${NOISE_MAX:-0.3}
ARCHIVE_WAIT=${ARCHIVE_WAIT:-120}
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
RESULTS_MD=${RESULTS_MD-$HERE/README-physical.md}
KEEP=${KEEP:-0}
WORK_GIVEN=${WORK:-}
if [[ -n ${CHANGE_STATS:-} ]]; then CHANGE_STATS_SET=$CHANGE_STATS; else CHANGE_STATS_SET=""; fi
. "$HERE/lib.sh"
unset_env 'PG*'   # PG*, PGBACKREST_*, PGVAULT_* (PGVAULT_REPO was read above)

need_int SCALE "$SCALE" 1
need_int PARALLEL "$PARALLEL" 1
[[ -z $INCR_TX_GIVEN ]] || need_int INCR_TX "$INCR_TX_GIVEN" 2
[[ -x $BIN/postgres ]] || die "no postgres binary in $BIN"
pg_user_setup
need_tools awk du date sort sed sync getconf find
TIME_BIN=""
if [[ -x /usr/bin/time ]]; then TIME_BIN=/usr/bin/time
else log "note: /usr/bin/time not found: no peak RSS / client CPU columns (apt-get install time)"; fi
PY=$(command -v python3 || true)
CHANGE_STATS=${CHANGE_STATS_SET:-$([[ -n $PY ]] && echo 1 || echo 0)}
[[ $CHANGE_STATS == 0 || -n $PY ]] || die "CHANGE_STATS=1 needs python3"

# which tools
DO_PGBR=0 DO_PV=0 DO_BB=0
for t in $TOOLS; do
  case $t in
    pgbackrest) DO_PGBR=1 ;;
    pgvault) DO_PV=1 ;;
    basebackup|pg_basebackup) DO_BB=1 ;;
    *) die "unknown tool '$t' in TOOLS (allowed: pgbackrest pgvault basebackup)" ;;
  esac
done
PGBR_EXE=""
if ((DO_PGBR)); then
  PGBR_EXE=$(command -v pgbackrest || true)
  if [[ -z $PGBR_EXE ]]; then
    log "NOTE: pgbackrest is not installed (command -v pgbackrest found nothing): the pgBackRest"
    log "      columns are skipped. Install it with 'apt-get install -y pgbackrest' to compare."
    DO_PGBR=0
  fi
fi
((DO_PGBR + DO_PV + DO_BB > 0)) || die "nothing to run (TOOLS='$TOOLS')"
need_results_dir "$RESULTS_DIR"

# ------------------------------------------------------------ work + cleanup --
LEFTOVER_MATCH=(archive-push)   # archive-push processes our cluster started and that outlived it
make_work "$WORK_GIVEN" "$TMPBASE/pgvault-physical" 755
cd "$WORK"

# space: the cluster, two restored copies, WAL, repositories (~15 MB per scale unit each)
NEED_MB=$((SCALE * 16 * 4 + 3000))
AVAIL_MB=$(df -Pm "$WORK" | awk 'NR==2{print $4}')
((AVAIL_MB >= NEED_MB)) || die "$WORK has ${AVAIL_MB} MB free; SCALE=$SCALE needs about ${NEED_MB} MB"

PGDATA_DIR=$WORK/data
SOCK=$WORK/sock
LOGDIR=$WORK/logs
OUT=$WORK/out                 # pg_basebackup output
PGBR_DIR=$WORK/pgbr
PGBR_CONF=$PGBR_DIR/pgbackrest.conf
PGBR_INC=$PGBR_DIR/conf.d     # empty: keeps pgBackRest away from /etc/pgbackrest/conf.d
PGBR_REPO=$PGBR_DIR/repo
PV_DIR=$WORK/pv
PV_CONF=$PV_DIR/pgvault.yaml
PV_REPO=$PV_DIR/repo
RS_PGBR=$WORK/restore-pgbackrest
RS_PV=$WORK/restore-pgvault
as_pg mkdir -p "$SOCK" "$OUT" "$PGBR_DIR" "$PV_DIR"
mkdir -p "$LOGDIR"
chmod 700 "$SOCK"

# ------------------------------------------------------------------ pgvault --
PV="" PVWAL="" PV_VERSION="" PV_KIND="" PV_HOW=""
((DO_PV)) && pgvault_prepare "$PV_ROOT/pgvault" "$LOGDIR" built

# ------------------------------------------------------------------ helpers --
pgbr() { as_pg "$PGBR_EXE" --config="$PGBR_CONF" --config-include-path="$PGBR_INC" "$@"; }
pv()   { as_pg "$PV" --config "$PV_CONF" "$@"; }

# ------------------------------------------------------------------ results --
declare -A LABEL=() ST=() W=() CPU=() SRV=() OTH=() RSS=() STORED=() GROWTH=() RESTORED=() PVSELF=() PVTYPE=()
NOTES=()
ANY_FAILED=0

# measure KEY CMD...  -> ST[KEY]=ok|FAILED, W, CPU, SRV, OTH, RSS; output in $LOGDIR/KEY.{out,err}
measure() {
  local key=$1; shift
  local base=$LOGDIR/$key t0 t1 tpid rc=0 srv0 srv1 busy0 busy1
  STEP_OUT=$base.out
  q "CHECKPOINT" >/dev/null || true
  sync
  wait_quiet
  log "timing: ${LABEL[$key]} (loadavg $(cut -d' ' -f1 /proc/loadavg))"
  srv0=$(server_ticks); busy0=$(busy_ticks)
  t0=$(date +%s%N)
  if [[ -n $TIME_BIN ]]; then
    "$TIME_BIN" -f '%e %M %U %S' -o "$base.time" "$@" >"$base.out" 2>"$base.err" &
  else
    "$@" >"$base.out" 2>"$base.err" &
  fi
  tpid=$!
  CUR_TPID=$tpid
  wait "$tpid" || rc=$?
  t1=$(date +%s%N)
  CUR_TPID=""
  busy1=$(busy_ticks)
  sleep 0.1   # let the postmaster reap what just ended
  srv1=$(server_ticks)
  W[$key]=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  local tl="" u="" s="" m=""
  [[ -n $TIME_BIN ]] && tl=$(grep -E '^[0-9.]+ [0-9]+ [0-9.]+ [0-9.]+$' "$base.time" 2>/dev/null | tail -n1 || true)
  if [[ -n $tl ]]; then
    read -r _ m u s <<<"$tl"
    RSS[$key]=$m
    CPU[$key]=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
  fi
  SRV[$key]=$(awk -v a="$srv0" -v b="$srv1" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/h}')
  OTH[$key]=$(awk -v a="$busy0" -v b="$busy1" -v h="$CLK_TCK" -v c="${CPU[$key]:-0}" -v s="${SRV[$key]}" \
    'BEGIN{o=(b-a)/h-c-s; if (o<0) o=0; printf "%.2f", o}')
  if ((rc != 0)); then
    ST[$key]=FAILED; ANY_FAILED=1
    NOTES+=("${LABEL[$key]}: FAILED (exit $rc): $(tail -n 3 "$base.err" | tr '\n' ' ' | cut -c1-300)")
    log "  -> FAILED (exit $rc) after ${W[$key]}s; last lines of $base.err:"
    tail -n 15 "$base.err" >&2 || true
    return 1
  fi
  ST[$key]=ok
  if awk -v o="${OTH[$key]}" -v w="${W[$key]}" -v m="$NOISE_MAX" 'BEGIN{exit !(w > 0 && o / w > m)}'; then
    NOTES+=("${LABEL[$key]}: disturbed - the rest of the machine used ${OTH[$key]} CPU s during its ${W[$key]} s")
  fi
  log "  -> ${W[$key]}s, cpu ${CPU[$key]:-?}s client + ${SRV[$key]}s server (others ${OTH[$key]}s), peak rss ${RSS[$key]:-?} KiB"
}
skip() {  # KEY REASON
  ST[$1]=skipped
  NOTES+=("${LABEL[$1]}: not measured - $2")
  log "skipping ${LABEL[$1]}: $2"
}
fail() {  # KEY REASON  (failed before the timed command ran)
  ST[$1]=FAILED; ANY_FAILED=1
  NOTES+=("${LABEL[$1]}: FAILED - $2")
  log "FAILED ${LABEL[$1]}: $2"
}

# ----------------------------------------------------------------- cluster ---
pick_port 54440 54539

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK; SCALE=$SCALE PARALLEL=$PARALLEL TOOLS='$TOOLS' port $PORT; loadavg $LOAD_START"
log "initdb --data-checksums"
pg_init "$LOGDIR" --data-checksums
pg_archiving_conf /bin/true
echo "max_wal_senders = 10" >>"$PGDATA_DIR/postgresql.conf"
pg_start "$WORK/postgres.log"
[[ $(q "SHOW data_checksums") == on ]] || die "data checksums are not on"

q "CREATE DATABASE bench TEMPLATE template0" >/dev/null
log "pgbench -i -s $SCALE"
t0=$(date +%s%N)
as_pg "$BIN/pgbench" -i -q -s "$SCALE" -h "$SOCK" -p "$PORT" -U "$PG_OS_USER" bench >"$LOGDIR/pgbench-init.log" 2>&1 ||
  { tail "$LOGDIR/pgbench-init.log" >&2; die "pgbench -i failed"; }
LOAD_SECS=$(elapsed "$t0")
q "CHECKPOINT" >/dev/null
DB_BYTES=$(q "SELECT pg_database_size('bench')")
CLUSTER_BYTES=$(bytes_of "$PGDATA_DIR/base" "$PGDATA_DIR/global")
DB_PAGES=$((DB_BYTES / 8192))
if [[ -n $INCR_TX_GIVEN ]]; then INCR_TX=$INCR_TX_GIVEN
else INCR_TX=$((DB_PAGES / 200)); ((INCR_TX >= 100)) || INCR_TX=100; fi
INCR_TX=$(((INCR_TX + 1) / 2 * 2))
log "loaded in ${LOAD_SECS}s; database 'bench' $DB_BYTES bytes ($DB_PAGES pages); INCR_TX=$INCR_TX"

# ------------------------------------------------------------- WAL archiving --
# wait until the archiver has nothing left (.ready), up to ARCHIVE_WAIT s
drain_archive() {
  local start=$SECONDS
  while (($(ready_count) > 0)); do
    if ((SECONDS - start >= ARCHIVE_WAIT)); then
      log "  archiver still has $(ready_count) .ready file(s) after ${ARCHIVE_WAIT}s"; return 1
    fi
    sleep 0.2
  done
}
# use_archive NAME CMD: drain, switch archive_command, push one segment through it (untimed).
# Returns 1 (with a note) when that segment could not be archived.
CUR_ARCHIVE=""
use_archive() {
  local name=$1 cmd=$2
  [[ $CUR_ARCHIVE == "$cmd" ]] && return 0
  drain_archive || NOTES+=("archiver not drained before switching archive_command to $name")
  q "ALTER SYSTEM SET archive_command = '${cmd//\'/\'\'}'" >/dev/null
  q "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  [[ $(q "SHOW archive_command") == "$cmd" ]] || die "archive_command not applied"
  CUR_ARCHIVE=$cmd
  log "archive_command -> $name"
  local failed0 seg start=$SECONDS last failed
  failed0=$(q "SELECT failed_count FROM pg_stat_archiver")
  q "SELECT txid_current()" >/dev/null
  seg=$(q "SELECT pg_walfile_name(pg_switch_wal())")
  while :; do
    IFS='|' read -r last failed < <(q "SELECT coalesce(last_archived_wal, ''), failed_count FROM pg_stat_archiver")
    if [[ -n $last && ($last == "$seg" || $last > "$seg") ]]; then break; fi
    if ((failed > failed0)); then
      NOTES+=("archive-push through $name failed (segment $seg); see postgres.log: $(grep -i 'archive' "$WORK/postgres.log" | tail -n 2 | tr '\n' ' ' | cut -c1-300)")
      log "  archive-push through $name FAILED; last lines of postgres.log:"
      tail -n 8 "$WORK/postgres.log" >&2
      return 1
    fi
    if ((SECONDS - start >= ARCHIVE_WAIT)); then
      NOTES+=("archive-push through $name: segment $seg not archived after ${ARCHIVE_WAIT}s")
      return 1
    fi
    sleep 0.2
  done
}

PGBR_ARCHIVE="$PGBR_EXE --config=$PGBR_CONF --config-include-path=$PGBR_INC --stanza=bench archive-push %p"
PV_ARCHIVE="$PVWAL --config $PV_CONF archive-push %p"

PGBR_READY=0
if ((DO_PGBR)); then
  pgbr_write_conf "$PGBR_CONF" "$PGBR_DIR" "$PARALLEL"
  if pgbr --stanza=bench stanza-create >"$LOGDIR/pgbr-stanza-create.log" 2>&1; then
    PGBR_READY=1
  else
    NOTES+=("pgBackRest stanza-create failed: $(tail -n 3 "$LOGDIR/pgbr-stanza-create.log" | tr '\n' ' ' | cut -c1-300)")
    log "pgBackRest stanza-create failed:"; tail -n 10 "$LOGDIR/pgbr-stanza-create.log" >&2
  fi
fi

PV_READY=0
if ((DO_PV)); then
  pv_write_conf "$PV_CONF" "$PV_REPO" "$PARALLEL"
  if pv repo init >"$LOGDIR/pv-repo-init.log" 2>&1; then
    PV_READY=1
  else
    NOTES+=("pgvault repo init failed: $(tail -n 3 "$LOGDIR/pv-repo-init.log" | tr '\n' ' ' | cut -c1-300)")
    log "pgvault repo init failed:"; tail -n 10 "$LOGDIR/pv-repo-init.log" >&2
  fi
fi

# repository bytes without the WAL archive
pgbr_repo_bytes() { bytes_of "$PGBR_REPO/backup"; }
pv_repo_bytes() {
  local all wal
  all=$(bytes_of "$PV_REPO")
  wal=$(bytes_of "$PV_REPO"/clusters/*/wal)
  echo $((all - wal))
}
pgbr_labels() {
  find "$PGBR_REPO/backup/bench" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null |
    grep -E '^[0-9]{8}-[0-9]{6}F' | sort || true
}

# pgbr_backup KEY ARGS...  (archive_command must already be pgBackRest's)
pgbr_backup() {
  local key=$1; shift
  local before g0 d
  before=$(pgbr_labels); g0=$(pgbr_repo_bytes)
  measure "$key" "${AS_PG[@]}" "$PGBR_EXE" --config="$PGBR_CONF" --config-include-path="$PGBR_INC" \
    --stanza=bench "$@" backup || return 1
  d=$(comm -13 <(printf '%s\n' "$before") <(pgbr_labels) | tail -n1)
  [[ -n $d ]] && STORED[$key]=$(bytes_of "$PGBR_REPO/backup/bench/$d")
  GROWTH[$key]=$(($(pgbr_repo_bytes) - g0))
  log "  pgBackRest label $d, stored $(mb "${STORED[$key]:-}") MB"
}
# pv_backup KEY ARGS...  (archive_command must already be PgVault's)
pv_backup() {
  local key=$1; shift
  local g0 id st
  g0=$(pv_repo_bytes)
  measure "$key" "${AS_PG[@]}" "$PV" --config "$PV_CONF" backup "$@" --output json || return 1
  id=$(json_field id "$STEP_OUT"); st=$(json_field stored_bytes "$STEP_OUT")
  PVTYPE[$key]=$(json_field type "$STEP_OUT")
  PVSELF[$key]=$(json_field duration_seconds "$STEP_OUT")
  [[ $st =~ ^[0-9]+$ ]] && STORED[$key]=$st
  [[ -n $id && -n ${STORED[$key]:-} ]] || NOTES+=("${LABEL[$key]}: no id/stored_bytes in the JSON output: $(head -c 300 "$STEP_OUT" | tr '\n' ' ')")
  GROWTH[$key]=$(($(pv_repo_bytes) - g0))
  log "  PgVault backup $id (type ${PVTYPE[$key]:-?}), stored $(mb "${STORED[$key]:-}") MB"
  local why
  why=$(grep -o '"fallback_reason"[[:space:]]*:[[:space:]]*"[^"]*"' "$STEP_OUT" | head -n1 | sed 's/^[^:]*:[[:space:]]*"//; s/"$//')
  [[ -z $why ]] || NOTES+=("${LABEL[$key]}: changed pages found by a page-hash scan, not from the WAL: $why")
}

LABEL=(
  [full_pgbr]="pgBackRest full, zst:3, process-max=$PARALLEL"
  [full_pv]="PgVault full, zstd:3, --parallel $PARALLEL"
  [full_bb]="pg_basebackup -Ft -z (gzip), -X stream"
  [full_pgbr_lz4]="(extra) pgBackRest full, lz4, process-max=$PARALLEL"
  [full_pv_lz4]="(extra) PgVault full, lz4, --parallel $PARALLEL"
  [incr_pgbr]="pgBackRest incr (file-level)"
  [incr_pv]="PgVault incr"
  [rs_pgbr]="pgBackRest restore, process-max=$PARALLEL"
  [rs_pv]="PgVault restore --parallel $PARALLEL"
  [dl_pgbr]="pgBackRest restore --delta, process-max=$PARALLEL"
  [dl_pv]="PgVault restore --delta --parallel $PARALLEL"
  [rs_floor]="(context) dd of as many bytes from /dev/zero, then one fsync (write first, flush last)"
  [rs_direct]="(context) dd of as many bytes, bs=8M oflag=direct: the disk's own write rate"
)

step_pgbr_full() {  # KEY COMPRESS_TYPE
  if ((!DO_PGBR)); then skip "$1" "pgBackRest not run (TOOLS or not installed)"; return; fi
  ((PGBR_READY)) || { fail "$1" "pgBackRest stanza could not be created"; return; }
  use_archive pgBackRest "$PGBR_ARCHIVE" || { fail "$1" "archive-push through pgBackRest failed"; return; }
  local lvl=(); [[ $2 == zst ]] && lvl=(--compress-level=3)
  pgbr_backup "$1" --type=full --compress-type="$2" "${lvl[@]}" --process-max="$PARALLEL" || true
}
step_pv_full() {  # KEY COMPRESSION
  if ((!DO_PV)); then skip "$1" "PgVault not run (TOOLS)"; return; fi
  ((PV_READY)) || { fail "$1" "pgvault repo init failed"; return; }
  use_archive PgVault "$PV_ARCHIVE" || { fail "$1" "archive-push through PgVault failed"; return; }
  pv_backup "$1" --type full --compression "$2" --parallel "$PARALLEL" || true
}

# ------------------------------------------------------- 1: full backups ------
# pg_basebackup first: while it runs archive_command is /bin/true, and that WAL must not fall
# between PgVault's full and its incremental (PgVault reads the archived WAL in between to find
# the changed blocks; a gap makes it fall back to a page-hash scan, which a user archiving
# every segment never sees).
log "== 1: full backups"
if ((DO_BB)); then
  use_archive "/bin/true (pg_basebackup streams its WAL)" /bin/true || true
  if measure full_bb "${AS_PG[@]}" "$BIN/pg_basebackup" -h "$SOCK" -p "$PORT" -U "$PG_OS_USER" \
       -D "$OUT/bb" -Ft -z -X stream --checkpoint=fast; then
    STORED[full_bb]=$(bytes_of "$OUT/bb")
  fi
  rm -rf "$OUT/bb"
else
  skip full_bb "pg_basebackup not run (TOOLS)"
fi
step_pgbr_full full_pgbr zst
step_pv_full full_pv zstd:3

# --------------------------------------------------- 2: incremental backups ---
log "== 2: pgbench -n -c 2 -j 2 -t $((INCR_TX / 2)) ($INCR_TX transactions), then incremental backups"
BLOCKDIFF=$WORK/blockdiff.py
cat >"$BLOCKDIFF" <<'EOF'
# blockdiff.py snapshot PGDATA OUT | diff PGDATA BEFORE
# CRC32 of every 8 KiB block of the files below base/ and global/; "diff" prints
# "changed_blocks total_blocks changed_files total_files changed_file_bytes total_bytes"
# (new blocks and new files count as changed; a file-level incremental copies changed_file_bytes).
import array, os, pickle, sys, zlib
BLK = 8192
def scan(root):
    res = {}
    for sub in ("base", "global"):
        for dp, _, fns in os.walk(os.path.join(root, sub)):
            for fn in fns:
                p = os.path.join(dp, fn)
                a = array.array("I")
                try:
                    with open(p, "rb") as fh:
                        while True:
                            b = fh.read(BLK * 256)
                            if not b:
                                break
                            for i in range(0, len(b), BLK):
                                a.append(zlib.crc32(b[i:i + BLK]))
                    res[os.path.relpath(p, root)] = (a, os.path.getsize(p))
                except FileNotFoundError:
                    pass
    return res
mode, root, f = sys.argv[1:4]
if mode == "snapshot":
    with open(f, "wb") as fh:
        pickle.dump(scan(root), fh)
else:
    with open(f, "rb") as fh:
        before = pickle.load(fh)
    after = scan(root)
    cb = tb = cf = cfb = tby = 0
    for name, (a, size) in after.items():
        b = before.get(name, (array.array("I"), 0))[0]
        n = sum(1 for i in range(len(a)) if i >= len(b) or a[i] != b[i])
        cb += n; tb += len(a); tby += size
        if n or len(a) != len(b):
            cf += 1; cfb += size
    print(cb, tb, cf, len(after), cfb, tby)
EOF
CHG=""
if [[ $CHANGE_STATS == 1 ]]; then
  q "CHECKPOINT" >/dev/null
  "$PY" "$BLOCKDIFF" snapshot "$PGDATA_DIR" "$WORK/blocks.before" || { NOTES+=("block snapshot failed"); CHANGE_STATS=0; }
fi
LSN0=$(q "SELECT pg_current_wal_lsn()")
t0=$(date +%s%N)
as_pg "$BIN/pgbench" -n -c 2 -j 2 -t $((INCR_TX / 2)) -h "$SOCK" -p "$PORT" -U "$PG_OS_USER" bench \
  >"$LOGDIR/pgbench-incr.log" 2>&1 || { tail "$LOGDIR/pgbench-incr.log" >&2; die "pgbench before the incremental backups failed"; }
PGBENCH_SECS=$(elapsed "$t0")
PGBENCH_TPS=$(sed -n 's/^tps = \([0-9]*\).*/\1/p' "$LOGDIR/pgbench-incr.log" | head -n1)
INCR_WAL_BYTES=$(q "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$LSN0')::bigint")
q "CHECKPOINT" >/dev/null
if [[ $CHANGE_STATS == 1 ]]; then
  CHG=$("$PY" "$BLOCKDIFF" diff "$PGDATA_DIR" "$WORK/blocks.before") || { NOTES+=("block diff failed"); CHG=""; }
  rm -f "$WORK/blocks.before"
fi
CHG_BLOCKS="" CHG_TOTAL="" CHG_FILES="" CHG_NFILES="" CHG_FBYTES="" CHG_TBYTES=""
[[ -n $CHG ]] && read -r CHG_BLOCKS CHG_TOTAL CHG_FILES CHG_NFILES CHG_FBYTES CHG_TBYTES <<<"$CHG"
log "pgbench: ${PGBENCH_SECS}s, tps ${PGBENCH_TPS:-?}, WAL $(mb "$INCR_WAL_BYTES") MB${CHG:+; changed $CHG_BLOCKS of $CHG_TOTAL blocks ($(pct "$CHG_BLOCKS" "$CHG_TOTAL") %), $CHG_FILES of $CHG_NFILES files ($(mb "$CHG_FBYTES") MB)}"

if ((!DO_PV)); then skip incr_pv "PgVault not run (TOOLS)"
elif [[ ${ST[full_pv]:-} != ok ]]; then skip incr_pv "no PgVault full backup"
elif use_archive PgVault "$PV_ARCHIVE"; then
  if pv_backup incr_pv --type incr --parallel "$PARALLEL"; then
    [[ ${PVTYPE[incr_pv]:-incr} == incr ]] || NOTES+=("PgVault incr: its JSON says type '${PVTYPE[incr_pv]}', not 'incr'")
  fi
else fail incr_pv "archive-push through PgVault failed"; fi

if ((!DO_PGBR)); then skip incr_pgbr "pgBackRest not run (TOOLS or not installed)"
elif [[ ${ST[full_pgbr]:-} != ok ]]; then skip incr_pgbr "no pgBackRest full backup"
elif use_archive pgBackRest "$PGBR_ARCHIVE"; then
  pgbr_backup incr_pgbr --type=incr --compress-type=zst --compress-level=3 --process-max="$PARALLEL" || true
else fail incr_pgbr "archive-push through pgBackRest failed"; fi

# ------------------------------------------------------- 3, 4: restores -------
# relation files (name starts with a digit) below base/ and global/: "path size" lines
relfiles() { (cd "$1" && find base global -type f -name '[0-9]*' -printf '%p %s\n' 2>/dev/null | sort); }
# The source's list is taken once, after the incrementals (autovacuum is off and nothing writes
# after them, so the restored directories must hold the same relation files with the same sizes).
check_restored() {  # KEY DIR
  local dir=$2 n_dst n_diff
  [[ -f $dir/PG_VERSION && -f $dir/global/pg_control ]] ||
    { NOTES+=("${LABEL[$1]}: the restored directory has no PG_VERSION or global/pg_control"); return; }
  relfiles "$dir" >"$LOGDIR/relfiles-$1.txt"
  n_dst=$(wc -l <"$LOGDIR/relfiles-$1.txt")
  n_diff=$(diff "$LOGDIR/relfiles-source.txt" "$LOGDIR/relfiles-$1.txt" | tee "$LOGDIR/relfiles-$1.diff" | grep -c '^[<>]' || true)
  if ((n_diff > 0)); then
    NOTES+=("${LABEL[$1]}: $n_dst relation files restored, the source has $SRC_RELFILES; $n_diff 'path size' lines differ (KEEP=1 keeps logs/relfiles-$1.diff)")
  fi
  RESTORED_FILES[$1]=$n_dst
}
declare -A RESTORED_FILES=()
relfiles "$PGDATA_DIR" >"$LOGDIR/relfiles-source.txt"
SRC_RELFILES=$(wc -l <"$LOGDIR/relfiles-source.txt")

restore_pgbr() {  # KEY DELTA(0|1)
  local key=$1 delta=()
  [[ $2 == 1 ]] && delta=(--delta)
  measure "$key" "${AS_PG[@]}" "$PGBR_EXE" --config="$PGBR_CONF" --config-include-path="$PGBR_INC" \
    --stanza=bench --pg1-path="$RS_PGBR" --process-max="$PARALLEL" "${delta[@]}" restore || return 1
  RESTORED[$key]=$(bytes_of "$RS_PGBR")
  check_restored "$key" "$RS_PGBR"
}
restore_pv() {  # KEY DELTA(0|1)
  local key=$1 delta=()
  [[ $2 == 1 ]] && delta=(--delta)
  measure "$key" "${AS_PG[@]}" "$PV" --config "$PV_CONF" restore --backup latest --pgdata "$RS_PV" \
    --parallel "$PARALLEL" "${delta[@]}" --output json || return 1
  PVSELF[$key]=$(json_field duration_seconds "$STEP_OUT")
  RESTORED[$key]=$(bytes_of "$RS_PV")
  check_restored "$key" "$RS_PV"
}
pgbr_can_restore() { ((DO_PGBR)) && [[ ${ST[full_pgbr]:-} == ok ]]; }
pv_can_restore() { ((DO_PV)) && [[ ${ST[full_pv]:-} == ok ]]; }

log "== 3: restore into new empty directories"
if pgbr_can_restore; then
  as_pg mkdir -m 700 "$RS_PGBR"
  restore_pgbr rs_pgbr 0 || true
else skip rs_pgbr "no pgBackRest backup"; fi
if pv_can_restore; then
  as_pg mkdir -m 700 "$RS_PV"
  restore_pv rs_pv 0 || true
else skip rs_pv "no PgVault backup"; fi
# What this disk takes to make the same bytes durable, as context for both restores (never a
# target): written through the page cache and flushed at the end (a writer that overlaps its
# writeback with its work can beat this), and written direct, past the page cache (the disk's rate).
RS_FLOOR=$WORK/restore-floor
RS_MIB=$(($(bytes_of "$PGDATA_DIR/base" "$PGDATA_DIR/global") >> 20))
measure rs_floor "${AS_PG[@]}" dd if=/dev/zero of="$RS_FLOOR" bs=1M count="$RS_MIB" \
  conv=fsync status=none && RESTORED[rs_floor]=$(bytes_of "$RS_FLOOR") || true
rm -f "$RS_FLOOR"
measure rs_direct "${AS_PG[@]}" dd if=/dev/zero of="$RS_FLOOR" bs=8M count="$((RS_MIB / 8))" \
  oflag=direct conv=fsync status=none && RESTORED[rs_direct]=$(bytes_of "$RS_FLOOR") || true
rm -f "$RS_FLOOR"

log "== 4: delta restore onto the unchanged restored directories"
if [[ ${ST[rs_pv]:-} == ok ]]; then restore_pv dl_pv 1 || true
else skip dl_pv "no PgVault restore to start from"; fi
if [[ ${ST[rs_pgbr]:-} == ok ]]; then restore_pgbr dl_pgbr 1 || true
else skip dl_pgbr "no pgBackRest restore to start from"; fi
rm -rf "$RS_PGBR" "$RS_PV"

# ---------------------------------------------------------- extras: lz4 -------
if [[ $EXTRAS == 1 ]]; then
  log "== extras: lz4 full backups"
  step_pgbr_full full_pgbr_lz4 lz4
  step_pv_full full_pv_lz4 lz4
fi
if ((DO_PGBR && PGBR_READY)); then pgbr --stanza=bench info >"$LOGDIR/pgbr-info.log" 2>&1 || true; fi
if ((DO_PV && PV_READY)); then pv list >"$LOGDIR/pv-list.log" 2>&1 || true; fi
use_archive /bin/true /bin/true || true
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report ---
val_or_status() {  # KEY VALUE -> VALUE when the step ran, else its status
  case ${ST[$1]:-skipped} in ok) printf '%s' "$2" ;; FAILED) printf 'FAILED' ;; *) printf '—' ;; esac
}
w_ok() { [[ ${ST[$1]:-} == ok ]] && printf '%s' "${W[$1]}"; return 0; }
verdict() {  # OK(0|1) -> met / NOT MET
  if [[ $1 == 1 ]]; then printf '**met**'; else printf '**NOT MET**'; fi
}
target_le() {  # A_KEY B_KEY  (A <= B)
  local a b; a=$(w_ok "$1"); b=$(w_ok "$2")
  if [[ -z $a || -z $b ]]; then printf 'not measured'; return; fi
  verdict "$(awk -v a="$a" -v b="$b" 'BEGIN{print (a <= b) ? 1 : 0}')"
  printf ' — %s s vs %s s, ratio ×%s' "$(secs "$a")" "$(secs "$b")" "$(ratio "$a" "$b")"
}
target_incr() {
  local a b; a=$(w_ok incr_pv); b=$(w_ok full_pv)
  if [[ -z $a || -z $b ]]; then printf 'not measured'; return; fi
  verdict "$(awk -v a="$a" -v b="$b" 'BEGIN{print (a < 0.15 * b) ? 1 : 0}')"
  printf ' — %s s = %s %% of its full (%s s); limit 15 %%' "$(secs "$a")" "$(pct "$a" "$b")" "$(secs "$b")"
}
row() {  # KEY REF_KEY OWN_FULL_KEY WHAT(backup|restore)
  local k=$1 ref=$2 own=$3 what=$4 w vs="" ofull=""
  w=$(w_ok "$k")
  [[ -n $w && -n $ref && $k != "$ref" ]] && vs=$(ratio "$w" "$(w_ok "$ref")")
  [[ -n $w && $k == "$ref" ]] && vs=1.00
  [[ -n $w && -n $own ]] && ofull=$(pct "$w" "$(w_ok "$own")")
  [[ -n $ofull ]] && ofull="$ofull %"
  if [[ $what == backup ]]; then
    echo "| ${LABEL[$k]} | $(val_or_status "$k" "$(secs "$w")") | $vs |${own:+ $ofull |} $(mb "${STORED[$k]:-}") | $(mb "${GROWTH[$k]:-}") | $(kib_mb "${RSS[$k]:-}") | ${CPU[$k]:-} | ${SRV[$k]:-} | ${OTH[$k]:-} |"
  else
    echo "| ${LABEL[$k]} | $(val_or_status "$k" "$(secs "$w")") | $vs | $(mb "${RESTORED[$k]:-}") | $(kib_mb "${RSS[$k]:-}") | ${CPU[$k]:-} | ${OTH[$k]:-} |"
  fi
}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
host_facts
PG_VERSION_STR=$("$BIN/postgres" --version)
PGBR_VERSION_STR=$([[ -n $PGBR_EXE ]] && "$PGBR_EXE" version || echo "pgBackRest not installed")
CHANGE_DESC="not measured (CHANGE_STATS=0)"
if [[ -n $CHG_BLOCKS ]]; then
  CHANGE_DESC="$CHG_BLOCKS of $CHG_TOTAL 8 KiB blocks of base/ + global/ changed ($(pct "$CHG_BLOCKS" "$CHG_TOTAL") %), in $CHG_FILES of $CHG_NFILES files holding $(mb "$CHG_FBYTES") of $(mb "$CHG_TBYTES") MB ($(pct "$CHG_FBYTES" "$CHG_TBYTES") %: what a file-level incremental has to copy)"
fi

report() {
  echo "## PgVault physical backup vs pgBackRest and pg_basebackup (SCALE=$SCALE, parallelism $PARALLEL)"
  echo
  echo "- $(date -u '+%Y-%m-%d %H:%M UTC'); host: $HOST_DESC; CPU: $CPU_MODEL; WORK on $(df -PT "$WORK" | awk 'NR==2{print $2}')"
  echo "- $PG_VERSION_STR; $PGBR_VERSION_STR; pgvault ${PV_VERSION:-not run}${PV_KIND:+ ($PV_KIND, $PV_HOW)}"
  echo "- database 'bench': $(mb "$DB_BYTES") MB (pg_database_size), base/ + global/ $(mb "$CLUSTER_BYTES") MB, data checksums on; pgbench -i took ${LOAD_SECS} s"
  echo "- before the incrementals: pgbench -n -c 2 -j 2, $INCR_TX transactions in ${PGBENCH_SECS} s (${PGBENCH_TPS:-?} tps), $(mb "$INCR_WAL_BYTES") MB of WAL; $CHANGE_DESC"
  echo "- loadavg at start $LOAD_START, at end $LOAD_END; waited ${QUIET_WAITED} s in total for a quiet machine (QUIET_WAIT=$QUIET_WAIT, QUIET_CORES=$QUIET_CORES)"
  echo
  echo "### 1. Full backup"
  echo
  echo "| tool | wall s | × pgBackRest | stored MB | repo growth MB | peak RSS MB | CPU s client | CPU s server | CPU s others |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  row full_pgbr full_pgbr "" backup
  row full_pv full_pgbr "" backup
  row full_bb full_pgbr "" backup
  if [[ $EXTRAS == 1 ]]; then
    row full_pgbr_lz4 full_pgbr_lz4 "" backup
    row full_pv_lz4 full_pgbr_lz4 "" backup
  fi
  if [[ $EXTRAS == 1 ]]; then
    echo
    echo "(extra) lz4 rows: × is against pgBackRest lz4; they ran last, after the restores."
  fi
  echo
  echo "### 2. Incremental backup after $INCR_TX pgbench transactions"
  echo
  echo "| tool | wall s | × pgBackRest | % of own full | stored MB | repo growth MB | peak RSS MB | CPU s client | CPU s server | CPU s others |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  row incr_pgbr incr_pgbr full_pgbr backup
  row incr_pv incr_pgbr full_pv backup
  echo
  echo "### 3. Restore of the latest backup (full + incr) into a new empty directory (files only)"
  echo
  echo "| tool | wall s | × pgBackRest | restored MB | peak RSS MB | CPU s client | CPU s others |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  row rs_pgbr rs_pgbr "" restore
  row rs_pv rs_pgbr "" restore
  row rs_floor rs_pgbr "" restore
  row rs_direct rs_pgbr "" restore
  echo
  echo "### 4. Delta restore onto the unchanged restored directory"
  echo
  echo "| tool | wall s | × pgBackRest | restored MB | peak RSS MB | CPU s client | CPU s others |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  row dl_pgbr dl_pgbr "" restore
  row dl_pv dl_pgbr "" restore
  echo
  echo "### Targets"
  echo
  echo "- PgVault full <= pgBackRest full (zstd:3, parallelism $PARALLEL): $(target_le full_pv full_pgbr)"
  echo "- PgVault restore <= pgBackRest restore: $(target_le rs_pv rs_pgbr)"
  echo "- PgVault delta restore <= pgBackRest delta restore: $(target_le dl_pv dl_pgbr)"
  echo "- PgVault incr < 15 % of PgVault full: $(target_incr)"
  if [[ -n $(w_ok incr_pgbr) && -n $(w_ok full_pgbr) ]]; then
    echo "- (context) pgBackRest incr = $(pct "$(w_ok incr_pgbr)" "$(w_ok full_pgbr)") % of pgBackRest full"
  fi
  print_notes
  echo
  echo "wall = date +%s%N around one invocation, measured once; CHECKPOINT + sync before each step, page"
  echo "cache warm. stored = pgBackRest label dir (du -sb) / PgVault stored_bytes / pg_basebackup output"
  echo "(du -sb); repo growth = du -sb of the repository without its WAL archive, after - before. peak"
  echo "RSS = /usr/bin/time %M (largest process of the tree). CPU others = the rest of the machine"
  echo "during the step (noise). MB = 10^6 bytes."
}
REPORT=$(report)
echo "$REPORT"

# -------------------------------------------------------------------- JSON ---
KEYS=(full_pgbr full_pv full_bb incr_pgbr incr_pv rs_pgbr rs_pv rs_floor rs_direct dl_pgbr dl_pv)
[[ $EXTRAS == 1 ]] && KEYS+=(full_pgbr_lz4 full_pv_lz4)
JSON_FILE=$RESULTS_DIR/physical-$STAMP.json
tgt_json() {  # NAME TEXT
  local s="not measured"
  case $2 in *'**met**'*) s=met ;; *'NOT MET'*) s="not met" ;; esac
  printf '    %s: {"status": %s, "detail": %s}' "$(jstr "$1")" "$(jstr "$s")" "$(jstr "${2//\*\*/}")"
}
{
  echo "{"
  echo "  \"benchmark\": \"physical\","
  echo "  \"timestamp\": $(jstr "$STAMP"),"
  echo "  \"host\": $(jstr "$HOST_DESC"), \"cpu\": $(jstr "$CPU_MODEL"),"
  echo "  \"postgres\": $(jstr "$PG_VERSION_STR"), \"pgbackrest\": $(jstr "$PGBR_VERSION_STR"),"
  echo "  \"pgvault\": $(jstr "$PV_VERSION"), \"pgvault_build\": $(jstr "$PV_KIND"), \"pgvault_binary\": $(jstr "$PV_HOW"),"
  echo "  \"scale\": $SCALE, \"parallel\": $PARALLEL, \"extras\": $EXTRAS, \"tools\": $(jstr "$TOOLS"),"
  echo "  \"db_bytes\": $DB_BYTES, \"cluster_bytes\": $CLUSTER_BYTES, \"load_seconds\": $LOAD_SECS,"
  echo "  \"incr_workload\": {\"transactions\": $INCR_TX, \"seconds\": $(jnum "$PGBENCH_SECS"), \"tps\": $(jnum "$PGBENCH_TPS"), \"wal_bytes\": $(jnum "$INCR_WAL_BYTES"), \"changed_blocks\": $(jnum "$CHG_BLOCKS"), \"total_blocks\": $(jnum "$CHG_TOTAL"), \"changed_files\": $(jnum "$CHG_FILES"), \"total_files\": $(jnum "$CHG_NFILES"), \"changed_file_bytes\": $(jnum "$CHG_FBYTES"), \"total_file_bytes\": $(jnum "$CHG_TBYTES")},"
  echo "  \"source_relation_files\": $SRC_RELFILES,"
  echo "  \"loadavg_start\": $(jstr "$LOAD_START"), \"loadavg_end\": $(jstr "$LOAD_END"), \"quiet_wait\": $QUIET_WAIT, \"quiet_cores\": $QUIET_CORES, \"quiet_waited_seconds\": $QUIET_WAITED,"
  echo "  \"steps\": ["
  first=1
  for k in "${KEYS[@]}"; do
    ((first)) || echo ","
    first=0
    printf '    {"key": %s, "label": %s, "status": %s, "wall_seconds": %s, "stored_bytes": %s, "repo_growth_bytes": %s, "restored_bytes": %s, "restored_relation_files": %s, "peak_rss_kib": %s, "cpu_client_seconds": %s, "cpu_server_seconds": %s, "cpu_others_seconds": %s, "pgvault_type": %s, "pgvault_duration_seconds": %s}' \
      "$(jstr "$k")" "$(jstr "${LABEL[$k]}")" "$(jstr "${ST[$k]:-skipped}")" "$(jnum "${W[$k]:-}")" \
      "$(jnum "${STORED[$k]:-}")" "$(jnum "${GROWTH[$k]:-}")" "$(jnum "${RESTORED[$k]:-}")" "$(jnum "${RESTORED_FILES[$k]:-}")" \
      "$(jnum "${RSS[$k]:-}")" "$(jnum "${CPU[$k]:-}")" "$(jnum "${SRV[$k]:-}")" "$(jnum "${OTH[$k]:-}")" \
      "$( [[ -n ${PVTYPE[$k]:-} ]] && jstr "${PVTYPE[$k]}" || printf null)" "$(jnum "${PVSELF[$k]:-}")"
  done
  echo
  echo "  ],"
  echo "  \"targets\": {"
  tgt_json full_le_pgbackrest "$(target_le full_pv full_pgbr)"; echo ","
  tgt_json restore_le_pgbackrest "$(target_le rs_pv rs_pgbr)"; echo ","
  tgt_json delta_restore_le_pgbackrest "$(target_le dl_pv dl_pgbr)"; echo ","
  tgt_json incr_below_15pct_of_full "$(target_incr)"; echo
  echo "  },"
  echo "  \"notes\": $(jstr_array "${NOTES[@]}")"
  echo "}"
} >"$JSON_FILE"
check_json "$JSON_FILE"
log "JSON: $JSON_FILE"

# ------------------------------------------------------------------ README ---
# Only a complete run (all three tools, every step ok) replaces the results in the README.
COMPLETE=1
((DO_PGBR && DO_PV && DO_BB && !ANY_FAILED)) || COMPLETE=0
for k in "${KEYS[@]}"; do [[ ${ST[$k]:-} == ok ]] || COMPLETE=0; done
if [[ -n $RESULTS_MD ]]; then
  if ((COMPLETE)); then
    BEGIN='<!-- physical.sh results: begin (generated; replaced by every complete run) -->'
    END='<!-- physical.sh results: end -->'
    write_between_markers "$RESULTS_MD" "$BEGIN" "$END" "$REPORT"
    log "report written to $RESULTS_MD"
  else
    log "partial run (a tool left out, or a step failed or skipped): $RESULTS_MD not updated"
  fi
fi
if ((ANY_FAILED)); then log "done, with FAILED steps (see Notes)"; exit 1; fi
log "done"
