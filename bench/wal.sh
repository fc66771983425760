#!/usr/bin/env bash
# wal.sh - PgVault WAL archiving vs pgBackRest and cp, side by side in one run.
#
# Creates a throw-away PostgreSQL cluster in WORK and measures:
#   Part 1  latency of archiving ONE 16 MiB segment (what PostgreSQL waits for per segment):
#           SEGMENTS real segments (captured while `pgbench -i -s 10` ran) are pushed, one
#           invocation per segment, by each of
#             floor     dd conv=fsync of the file (= cp + fsync, no compression, no dir fsync)
#             pgbr      pgbackrest archive-push (sync, compress-type=lz4, level 1 default)
#             pv_lz4    pgvault-wal archive-push (sync, wal_compression lz4 = default); pgvault-wal
#                       is what `setup archiving` writes (the WAL commands' own binary), pgvault
#                       itself when the build has no pgvault-wal
#             pv_zstd   pgvault-wal archive-push (sync, wal_compression zstd = zstd:3)
#             pv_async  pgvault-wal archive-push with archive_async: the foreground step alone (a
#                       worker started before the timing has pushed every staged segment ahead)
#           and, EXTRAS=1, diagnostics: pv_main (lz4 through the full pgvault binary),
#           pv_none (wal_compression none), pv_rpath (lz4, flags
#           only: --repo-path, no YAML), pv_dup (a segment that is already archived: start-up,
#           repository open, SHA-256 pass, lookup; no write), pv_version (`pgvault --version`),
#           pvwal_version (`pgvault-wal --version`),
#           pgbr_version (`pgbackrest version`), runuser (`runuser -u postgres -- true`).
#           Every tool pushes the SAME segments into its own fresh repository. The tools are
#           interleaved (segment i: every tool, in an order rotated by i) so machine noise
#           spreads evenly. Every push runs as `runuser -u postgres -- CMD` with cwd = PGDATA,
#           like archive_command; the median cost of `runuser -u postgres -- true` (measured in
#           the same rotation) is subtracted ("net") and shown.
#   Part 2  sustained archiving under `pgbench -c 4 -j 2 -T LOAD_SECONDS` on a scale-20 db, one
#           run per archive_command on the same cluster (reconfigured, reloaded):
#             cp        cp %p DIR/%f                        (baseline, no fsync)
#             pgbr      pgbackrest archive-push %p          (sync, lz4)
#             pv_sync   pgvault-wal archive-push %p         (sync, lz4)
#             pv_async  pgvault-wal archive-push %p         (archive_async, 2 processes, lz4)
#             pgbr_async pgbackrest archive-push %p         (archive-async=y, process-max=2, lz4)
#           For each: WAL segments generated, segments archived during the load
#           (pg_stat_archiver.archived_count delta), lag at the end (pg_wal/archive_status/*.ready),
#           seconds to drain after pgbench stops, segments/s, pgbench tps.
#   Part 3  targets: pgvault (sync, lz4) per-segment latency <= pgBackRest's, and <= 2x cp+fsync;
#           the asynchronous foreground step <= 2x cp+fsync.
# Prints the tables and writes them to bench/README-wal.md (between result markers; the rest of
# that file is kept) and as JSON to bench/results/wal-<timestamp>.json.
#
# Usage (as root; the server itself runs as postgres):   bench/wal.sh
#
# Environment (defaults in brackets):
#   SEGMENTS      segments timed per tool in part 1 [20]
#   LOAD_SECONDS  pgbench duration per archive_command in part 2 [30]
#   WORK          work directory [a new mktemp -d under /var/tmp]; removed at exit (KEEP=1 keeps
#                 it); the cluster (and any archiving worker it started) is stopped at exit
#   PARTS         which parts to run: "1", "2" or "12" [12]
#   EXTRAS        1 = also the part-1 diagnostics (see above) [1]
#   LOADS         part-2 loads, run in turn: "tpcb" (pgbench's built-in script, as asked) and
#                 "bulk" (INSERT ... SELECT of 2000 random rows per transaction: several times the
#                 WAL rate, the case where an archiver can fall behind) ["tpcb bulk"]
#   DRAIN_TIMEOUT seconds to wait for the archive to catch up after a load [600]
#   CHECKPOINT_TIMEOUT checkpoint_timeout of the cluster during part 2 [30s]: a checkpoint
#                 every 30 s brings back full-page writes, i.e. much more WAL per transaction
#   PGBIN         PostgreSQL binaries [/usr/lib/postgresql/15/bin]
#   PGVAULT       the PgVault launcher [<repo>/pgvault]; called once (--version, builds if needed)
#   SNAPSHOT      1 = time a copy of the built binary (<repo>/.build/bin/pgvault) placed in WORK,
#                 so a rebuild by the launcher during the run (sources being edited) cannot
#                 replace or remove it mid-run; 0 = time <repo>/.build/bin/pgvault in place [1]
#   REQUIRE_AOT   1 = stop when the launcher's build is framework-dependent (its Native AOT publish
#                 failed, e.g. during a concurrent build); 0 = time it anyway, flagged in the report [1]
#   QUIET_WAIT    before each timed part/run wait up to this many seconds for the rest of the
#                 machine to use at most QUIET_CORES cores; 0 = do not wait [60]
#   QUIET_CORES   [0.3]
#   RESULTS_DIR   where the JSON goes [<repo>/bench/results]
#   RESULTS_MD    the markdown file the tables go to [<repo>/bench/README-wal.md]; "" = none
#   KEEP          1 = keep WORK (cluster stopped) [0]
#
# Method notes:
#   * wall time from bash's $EPOCHREALTIME (microseconds, no fork) around one invocation.
#   * untimed `sync` before every part-1 push, so no push pays for another's dirty pages.
#   * page cache is not dropped: the staged segments are read once before timing (warm cache),
#     and each tool pushes 2 extra (untimed) segments first, so its binary is cached and its
#     repository already knows the cluster.
#   * median = middle value (mean of the two middle ones for an even count); p90 = nearest rank.
#     net = tool - median(runuser -u postgres -- true). Ratios are of net medians.
#   * never assert these timings in tests: shared 2-core machine, treat figures as +-30%.
set -euo pipefail
export LC_ALL=C

# ------------------------------------------------------------------ settings --
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
SEGMENTS=${SEGMENTS:-20}
LOAD_SECONDS=${LOAD_SECONDS:-30}
PARTS=${PARTS:-12}
EXTRAS=${EXTRAS:-1}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-600}
CHECKPOINT_TIMEOUT=${CHECKPOINT_TIMEOUT:-30s}
LOADS=${LOADS:-tpcb bulk}
BIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGVAULT_LAUNCHER=${PGVAULT:-$HERE/../pgvault}
SNAPSHOT=${SNAPSHOT:-1}
REQUIRE_AOT=${REQUIRE_AOT:-1}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_CORES=${QUIET_CORES:-0.3}
RESULTS_DIR=${RESULTS_DIR:-$HERE/results}
RESULTS_MD=${RESULTS_MD-$HERE/README-wal.md}
KEEP=${KEEP:-0}
WORK_GIVEN=${WORK:-}
SEG_BYTES=16777216
. "$HERE/lib.sh"
unset_env 'PG*' 'PGBACKREST_*' 'PGVAULT_*'   # the caller's environment must not leak into the run

need_int SEGMENTS "$SEGMENTS" 1
need_int LOAD_SECONDS "$LOAD_SECONDS" 1
pg_user_setup root
[[ -x $BIN/postgres ]] || die "no postgres binary in $BIN"
need_tools awk dd sort runuser sync
install_if_missing pgbackrest pgbackrest
PGBR_EXE=$(command -v pgbackrest)

# ----------------------------------------------------------- work + cleanup --
# Background archivers our cluster started (pgvault archive-push-worker, pgbackrest
# archive-push:async) outlive archive_command: the cleanup stops each one that names WORK.
LEFTOVER_MATCH=(archive-push-worker archive-push:async)
make_work "$WORK_GIVEN" /var/tmp/pgvault-wal 700
cd "$WORK"

PGDATA_DIR=$WORK/data
SOCK=$WORK/sock
STAGE=$WORK/walstage
LOGDIR=$WORK/logs
P1=$WORK/p1          # part 1 repositories and configs
P2=$WORK/p2          # part 2 repositories, spools and configs
as_pg mkdir -p "$SOCK" "$STAGE" "$LOGDIR" "$P1" "$P2"
chmod 700 "$SOCK"

# ------------------------------------------------------------------ pgvault --
pgvault_prepare "$PGVAULT_LAUNCHER" "$LOGDIR" built

# ------------------------------------------------------------------ helpers --
set_archive_command() {  # CMD
  local cmd=$1
  q "ALTER SYSTEM SET archive_command = '${cmd//\'/\'\'}'" >/dev/null
  q "SELECT pg_reload_conf()" >/dev/null
  sleep 2
  [[ $(q "SHOW archive_command") == "$cmd" ]] || die "archive_command not applied"
}

# stats FILE (one number per line, microseconds) -> "n median p90 min max" in ms
stats() {
  sort -n "$1" | awk '{a[NR]=$1} END{
    n=NR; if (n==0) {print "0 NA NA NA NA"; exit}
    med = (n%2) ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2
    r = int(0.9*n); if (r < 0.9*n) r++; if (r < 1) r = 1
    printf "%d %.1f %.1f %.1f %.1f\n", n, med/1000, a[r]/1000, a[1]/1000, a[n]/1000 }'
}
ratio_na() { ratio "$1" "$2" NA; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a ~ /^-?[0-9.]+$/ && b ~ /^-?[0-9.]+$/) printf "%.1f", a-b; else printf "NA" }'; }

versions() {
  echo "- host: $(uname -srm), $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM; WORK on $(df -T "$WORK" | awk 'NR==2{print $2" "$1}')"
  echo "- $("$BIN/postgres" --version); $("$PGBR_EXE" version); pgvault $PV_VERSION ($PV_KIND)"
}

# ------------------------------------------------------------------ cluster --
pick_port 54400 54599
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "work dir $WORK; port $PORT; SEGMENTS=$SEGMENTS LOAD_SECONDS=$LOAD_SECONDS; loadavg $LOAD_START"

log "initdb"
pg_init "$LOGDIR" --no-sync

# Capture phase: keep a copy of the first STAGE_LIMIT completed segments (real pgbench -i WAL).
# 4 skipped (initdb/start-up), 2 warm-up pushes per tool, SEGMENTS timed.
STAGE_LIMIT=$((SEGMENTS + 6))
cat >"$WORK/arch_stage.sh" <<EOF
#!/bin/sh
# \$1 = %p, \$2 = %f ; never fails, so archiving never blocks.
case "\$2" in *.*) exit 0 ;; esac
n=\$(ls "$STAGE" | wc -l)
[ "\$n" -ge $STAGE_LIMIT ] && exit 0
cp "\$1" "$STAGE/\$2.tmp" && mv "$STAGE/\$2.tmp" "$STAGE/\$2"
exit 0
EOF
chmod 755 "$WORK/arch_stage.sh"
chown "$PG_OS_USER": "$WORK/arch_stage.sh"

cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
wal_level = replica
archive_mode = on
archive_command = '$WORK/arch_stage.sh "%p" "%f"'
max_wal_size = 8GB
min_wal_size = 1GB
wal_compression = off
full_page_writes = on
checkpoint_timeout = $CHECKPOINT_TIMEOUT
shared_buffers = 256MB
logging_collector = off
EOF

pg_start "$WORK/postgres.log"
q "CREATE DATABASE bench TEMPLATE template0" >/dev/null

declare -A R   # results: R[tool.key]=value
PART1_TOOLS=()
P1_SEGS=()

# =================================================================== part 1 ==
part1() {
  log "part 1: generating WAL (pgbench -i -s 10)"
  local tries=0 have
  while :; do
    as_pg "$BIN/pgbench" -i -q -s 10 -h "$SOCK" -p "$PORT" bench >>"$LOGDIR/pgbench-i10.log" 2>&1 ||
      { tail "$LOGDIR/pgbench-i10.log" >&2; die "pgbench -i failed"; }
    q "SELECT pg_switch_wal()" >/dev/null
    sleep 2
    have=$(ls "$STAGE" | grep -cE '^[0-9A-F]{24}$' || true)
    ((have >= STAGE_LIMIT)) && break
    ((++tries < 10)) || die "only $have segments captured after $tries rounds of pgbench -i"
    log "  $have of $STAGE_LIMIT segments captured, running pgbench -i again"
  done
  set_archive_command "/bin/true"
  chown -R "$PG_OS_USER": "$STAGE"
  mapfile -t P1_SEGS < <(ls "$STAGE" | grep -E '^[0-9A-F]{24}$' | sort | sed -n "5,$((STAGE_LIMIT))p")
  local warm=("${P1_SEGS[@]:0:2}") timed=("${P1_SEGS[@]:2}")
  log "  segments ${timed[0]} .. ${timed[-1]} (${#timed[@]} timed, 2 warm-up)"

  # ---- repositories and configurations, one per tool
  cat >"$P1/pgbr.conf" <<EOF
[global]
repo1-path=$P1/pgbr-repo
log-path=$P1/pgbr-log
lock-path=$P1/pgbr-lock
spool-path=$P1/pgbr-spool
log-level-console=warn
compress-type=lz4
archive-async=n

$(pgbr_stanza)
EOF
  local t
  for t in lz4 zstd none main; do
    cat >"$P1/pv-$t.yaml" <<EOF
repositories:
  - name: local
    path: $P1/pv-$t-repo
clusters:
  bench:
    wal_compression: ${t/main/lz4}
EOF
  done
  # Asynchronous mode: a pg_wal look-alike where every staged segment is marked ready; the first
  # (untimed) push starts the worker, which pushes them all ahead; the timed pushes are then the
  # foreground step alone (start-up, configuration, the worker's marker consumed).
  cat >"$P1/pv-async.yaml" <<EOF
repositories:
  - name: local
    path: $P1/pv-async-repo
clusters:
  bench:
    wal_compression: lz4
    archive_async: true
    archive_async_processes: 2
    spool_path: $P1/pv-async-spool
EOF
  mkdir -p "$P1/async-wal/archive_status"
  for t in "${P1_SEGS[@]}"; do
    cp "$STAGE/$t" "$P1/async-wal/$t"
    : >"$P1/async-wal/archive_status/$t.ready"
  done
  chown -R "$PG_OS_USER": "$P1"
  as_pg mkdir -p "$P1/floor" "$P1/pgbr-repo" "$P1/pgbr-log" "$P1/pgbr-lock" "$P1/pgbr-spool"
  as_pg "$PGBR_EXE" --config="$P1/pgbr.conf" --stanza=bench stanza-create >"$LOGDIR/p1-stanza.log" 2>&1 ||
    { cat "$LOGDIR/p1-stanza.log" >&2; die "pgbackrest stanza-create failed"; }
  for t in lz4 zstd none rpath async main; do
    as_pg "$PV" --repo-path "$P1/pv-$t-repo" repo init >"$LOGDIR/p1-init-$t.log" 2>&1 ||
      { cat "$LOGDIR/p1-init-$t.log" >&2; die "pgvault repo init failed"; }
  done

  PART1_TOOLS=(floor pgbr pv_lz4 pv_zstd pv_async runuser)
  [[ $EXTRAS == 1 ]] && PART1_TOOLS+=(pv_main pv_none pv_rpath pv_dup pv_version pvwal_version pgbr_version)
  # Start the asynchronous worker (it pushes every ready segment) and wait until it has.
  as_pg "$PVWAL" --config "$P1/pv-async.yaml" --cluster bench archive-push "$P1/async-wal/${P1_SEGS[0]}" >>"$LOGDIR/p1-pv_async.log" 2>&1 ||
    { tail "$LOGDIR/p1-pv_async.log" >&2; die "part 1: the asynchronous worker did not push ${P1_SEGS[0]}"; }
  local waited=0
  until (($(ls "$P1/pv-async-spool/out" 2>/dev/null | grep -c '\.ok$' || true) >= ${#P1_SEGS[@]} - 1)); do
    ((++waited <= 600)) || die "part 1: the asynchronous worker did not push the staged segments within 60 s"
    sleep 0.1
  done

  run_tool() {  # TOOL SEGMENT
    local s=$STAGE/$2
    case $1 in
      runuser)      as_pg true ;;
      floor)        as_pg dd if="$s" of="$P1/floor/$2" bs=1M conv=fsync status=none ;;
      pgbr)         as_pg "$PGBR_EXE" --config="$P1/pgbr.conf" --stanza=bench archive-push "$s" ;;
      pv_lz4)       as_pg "$PVWAL" --config "$P1/pv-lz4.yaml" --cluster bench archive-push "$s" ;;
      pv_zstd)      as_pg "$PVWAL" --config "$P1/pv-zstd.yaml" --cluster bench archive-push "$s" ;;
      pv_main)      as_pg "$PV" --config "$P1/pv-main.yaml" --cluster bench archive-push "$s" ;;
      pv_none)      as_pg "$PVWAL" --config "$P1/pv-none.yaml" --cluster bench archive-push "$s" ;;
      pv_rpath)     as_pg "$PVWAL" --repo-path "$P1/pv-rpath-repo" --cluster bench archive-push "$s" ;;
      pv_async)     as_pg "$PVWAL" --config "$P1/pv-async.yaml" --cluster bench archive-push "$P1/async-wal/$2" ;;
      pv_dup)       as_pg "$PVWAL" --config "$P1/pv-lz4.yaml" --cluster bench archive-push "$STAGE/${P1_SEGS[1]}" ;;
      pv_version)   as_pg "$PV" --version ;;
      pvwal_version) as_pg "$PVWAL" --version ;;
      pgbr_version) as_pg "$PGBR_EXE" version ;;
    esac
  }

  cat "$STAGE"/* >/dev/null   # warm cache: every tool reads the segments from memory
  cd "$PGDATA_DIR"            # archive_command runs with cwd = PGDATA
  local s tool
  for s in "${warm[@]}"; do
    for tool in "${PART1_TOOLS[@]}"; do
      run_tool "$tool" "$s" >>"$LOGDIR/p1-$tool.log" 2>&1 ||
        { tail "$LOGDIR/p1-$tool.log" >&2; die "part 1 warm-up: $tool failed on $s"; }
    done
  done
  sync
  wait_quiet
  log "part 1: timing ${#timed[@]} segments x ${#PART1_TOOLS[@]} tools, interleaved (loadavg $(cut -d' ' -f1 /proc/loadavg))"
  local i=0 n=${#PART1_TOOLS[@]} k t0 t1
  for tool in "${PART1_TOOLS[@]}"; do : >"$LOGDIR/p1-$tool.us"; done
  for s in "${timed[@]}"; do
    for ((k = 0; k < n; k++)); do
      tool=${PART1_TOOLS[$(((i + k) % n))]}
      sync
      t0=$(now_us)
      run_tool "$tool" "$s" >>"$LOGDIR/p1-$tool.log" 2>&1 ||
        { tail "$LOGDIR/p1-$tool.log" >&2; die "part 1: $tool failed on $s"; }
      t1=$(now_us)
      echo $((t1 - t0)) >>"$LOGDIR/p1-$tool.us"
    done
    i=$((i + 1))
  done
  cd "$WORK"
  log "part 1: done (loadavg $(cut -d' ' -f1 /proc/loadavg))"

  # ---- statistics
  local nrun mrun prun
  read -r nrun mrun prun _ _ <<<"$(stats "$LOGDIR/p1-runuser.us")"
  R[runuser.median]=$mrun
  for tool in "${PART1_TOOLS[@]}"; do
    local n med p90 mn mx
    read -r n med p90 mn mx <<<"$(stats "$LOGDIR/p1-$tool.us")"
    R[$tool.n]=$n; R[$tool.median_raw]=$med; R[$tool.p90_raw]=$p90; R[$tool.min_raw]=$mn; R[$tool.max_raw]=$mx
    if [[ $tool == runuser ]]; then
      R[$tool.median]=$med; R[$tool.p90]=$p90
    else
      R[$tool.median]=$(minus "$med" "$mrun"); R[$tool.p90]=$(minus "$p90" "$mrun")
    fi
  done
  # stored bytes per timed+warm segment
  local nseg=${#P1_SEGS[@]}
  R[floor.bytes]=$(find "$P1/floor" -type f -printf '%s\n' | awk -v n="$nseg" '{s+=$1} END{printf "%d", s/n}')
  R[pgbr.bytes]=$(find "$P1/pgbr-repo/archive" -type f -name '0000*' -printf '%s\n' | awk -v n="$nseg" '{s+=$1} END{printf "%d", s/n}')
  for t in lz4 zstd none rpath async main; do
    R[pv_$t.bytes]=$(find "$P1/pv-$t-repo" -type f -path '*/wal/*' -name '0000*' -printf '%s\n' | awk -v n="$nseg" '{s+=$1} END{printf "%d", (n ? s/n : 0)}')
  done
}

label1() {
  case $1 in
    floor) echo "cp + fsync floor (dd conv=fsync)" ;;
    pgbr) echo "pgBackRest archive-push, lz4" ;;
    pv_lz4) echo "$(basename "$PVWAL") archive-push, lz4 (default)" ;;
    pv_zstd) echo "$(basename "$PVWAL") archive-push, zstd:3" ;;
    pv_async) echo "$(basename "$PVWAL") archive-push, async foreground (segment already pushed by the worker)" ;;
    pv_main) echo "(diag) pgvault archive-push, lz4 (the full pgvault binary)" ;;
    pv_none) echo "(diag) $(basename "$PVWAL") archive-push, none" ;;
    pv_rpath) echo "(diag) $(basename "$PVWAL") archive-push, lz4, --repo-path (no YAML)" ;;
    pv_dup) echo "(diag) $(basename "$PVWAL") archive-push, lz4, segment already archived (start-up + open repo + hash, no write)" ;;
    pv_version) echo "(diag) pgvault --version (start-up)" ;;
    pvwal_version) echo "(diag) $(basename "$PVWAL") --version (start-up)" ;;
    pgbr_version) echo "(diag) pgbackrest version (start-up)" ;;
    runuser) echo "runuser -u postgres -- true (subtracted)" ;;
  esac
}

report1() {
  echo "### Part 1: latency of one archive-push per 16 MiB segment ($((${#P1_SEGS[@]} - 2)) segments, interleaved)"
  echo
  echo "net = wall - ${R[runuser.median]} ms (median of runuser -u postgres -- true). Ratios of net medians."
  echo
  echo "| tool | median ms (net) | p90 ms (net) | median ms (raw) | min-max ms (raw) | stored bytes/segment | vs pgBackRest | vs cp+fsync |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  local tool
  for tool in "${PART1_TOOLS[@]}"; do
    local vb vf
    if [[ $tool == runuser ]]; then vb=""; vf=""
    else vb=$(ratio_na "${R[$tool.median]}" "${R[pgbr.median]}"); vf=$(ratio_na "${R[$tool.median]}" "${R[floor.median]}"); fi
    printf '| %s | %s | %s | %s | %s-%s | %s | %s | %s |\n' "$(label1 "$tool")" "${R[$tool.median]}" "${R[$tool.p90]}" \
      "${R[$tool.median_raw]}" "${R[$tool.min_raw]}" "${R[$tool.max_raw]}" "${R[$tool.bytes]:-}" "$vb" "$vf"
  done
}

# =================================================================== part 2 ==
PART2_TOOLS=(cp pgbr pv_sync pv_async pgbr_async)
label2() {
  case $1 in
    cp) echo "cp %p DIR/%f (no fsync)" ;;
    pgbr) echo "pgBackRest archive-push, sync, lz4" ;;
    pv_sync) echo "$(basename "$PVWAL") archive-push, sync, lz4" ;;
    pv_async) echo "$(basename "$PVWAL") archive-push, async, 2 processes, lz4" ;;
    pgbr_async) echo "pgBackRest archive-push, async, process-max=2, lz4" ;;
  esac
}

part2_setup() {
  log "part 2: pgbench -i -s 20 (archive_command = /bin/true meanwhile)"
  set_archive_command "/bin/true"
  as_pg "$BIN/pgbench" -i -q -s 20 -h "$SOCK" -p "$PORT" bench >"$LOGDIR/pgbench-i20.log" 2>&1 ||
    { tail "$LOGDIR/pgbench-i20.log" >&2; die "pgbench -i -s 20 failed"; }
  q "VACUUM ANALYZE" bench >/dev/null
  R[p2.db_bytes]=$(q "SELECT pg_database_size('bench')")
  as_pg mkdir -p "$P2/cp" "$P2/pgbr-log" "$P2/pgbr-lock" "$P2/pgbr-spool-sync" "$P2/pgbr-spool-async" \
    "$P2/pgbr-repo-sync" "$P2/pgbr-repo-async" "$P2/pv-spool"
  local mode async
  for mode in sync async; do
    if [[ $mode == async ]]; then async=y; else async=n; fi
    cat >"$P2/pgbr-$mode.conf" <<EOF
[global]
repo1-path=$P2/pgbr-repo-$mode
log-path=$P2/pgbr-log
lock-path=$P2/pgbr-lock
spool-path=$P2/pgbr-spool-$mode
log-level-console=warn
compress-type=lz4
archive-async=$async
process-max=2

$(pgbr_stanza)
EOF
  done
  cat >"$P2/pv-sync.yaml" <<EOF
repositories:
  - name: local
    path: $P2/pv-repo-sync
clusters:
  bench:
    wal_compression: lz4
EOF
  cat >"$P2/pv-async.yaml" <<EOF
repositories:
  - name: local
    path: $P2/pv-repo-async
clusters:
  bench:
    wal_compression: lz4
    archive_async: true
    spool_path: $P2/pv-spool
    archive_async_processes: 2
EOF
  chown -R "$PG_OS_USER": "$P2"
  for mode in sync async; do
    as_pg "$PGBR_EXE" --config="$P2/pgbr-$mode.conf" --stanza=bench stanza-create >"$LOGDIR/p2-stanza-$mode.log" 2>&1 ||
      { cat "$LOGDIR/p2-stanza-$mode.log" >&2; die "pgbackrest stanza-create ($mode) failed"; }
    as_pg "$PV" --repo-path "$P2/pv-repo-$mode" repo init >"$LOGDIR/p2-init-$mode.log" 2>&1 ||
      { cat "$LOGDIR/p2-init-$mode.log" >&2; die "pgvault repo init ($mode) failed"; }
  done
}

archive_command_of() {
  case $1 in
    cp) echo "cp %p $P2/cp/%f" ;;
    pgbr) echo "$PGBR_EXE --config=$P2/pgbr-sync.conf --stanza=bench archive-push %p" ;;
    pgbr_async) echo "$PGBR_EXE --config=$P2/pgbr-async.conf --stanza=bench archive-push %p" ;;
    pv_sync) echo "$PVWAL --config $P2/pv-sync.yaml --cluster bench archive-push %p" ;;
    pv_async) echo "$PVWAL --config $P2/pv-async.yaml --cluster bench archive-push %p" ;;
  esac
}

wait_drained() {  # TIMEOUT -> prints seconds waited (or "timeout")
  local limit=$1 t0 t1
  t0=$(now_us)
  while (($(ready_count) > 0)); do
    t1=$(now_us)
    if (((t1 - t0) / 1000000 >= limit)); then echo timeout; return; fi
    sleep 0.1
  done
  t1=$(now_us)
  awk -v d=$((t1 - t0)) 'BEGIN{printf "%.1f", d/1e6}'
}

load_label() {
  case $1 in
    tpcb) echo "pgbench -c 4 -j 2 -T $LOAD_SECONDS, built-in TPC-B-like script (scale 20)" ;;
    bulk) echo "pgbench -c 4 -j 2 -T $LOAD_SECONDS -f bulk.sql (INSERT of 2000 rows of 64 random hex chars per transaction)" ;;
  esac
}

part2_run() {  # LOAD TOOL
  local load=$1 tool=$2 cmd k=$1.$2
  cmd=$(archive_command_of "$tool")
  set_archive_command "$cmd"
  # a clean start: nothing left from the previous run, a fresh checkpoint (full-page writes again)
  [[ $(wait_drained "$DRAIN_TIMEOUT") != timeout ]] || die "archive did not drain before $load/$tool"
  [[ $load == bulk ]] && q "TRUNCATE bulk" bench >/dev/null
  q "CHECKPOINT" >/dev/null
  sync
  wait_quiet
  local lsn0 arch0 fail0 lsn1 arch1 fail1 ready1 drain arch2 t0 t1 tps secs
  local pgb=(-n -c 4 -j 2 -T "$LOAD_SECONDS")
  [[ $load == bulk ]] && pgb+=(-f "$P2/bulk.sql")
  lsn0=$(q "SELECT pg_current_wal_lsn()")
  read -r arch0 fail0 <<<"$(q "SELECT archived_count, failed_count FROM pg_stat_archiver" | tr '|' ' ')"
  log "part 2: $load / $tool: pgbench ${pgb[*]} (loadavg $(cut -d' ' -f1 /proc/loadavg))"
  t0=$(now_us)
  as_pg "$BIN/pgbench" "${pgb[@]}" -h "$SOCK" -p "$PORT" bench >"$LOGDIR/p2-$load-$tool.pgbench" 2>&1 ||
    { tail "$LOGDIR/p2-$load-$tool.pgbench" >&2; die "pgbench failed ($load/$tool)"; }
  t1=$(now_us)
  ready1=$(ready_count)
  lsn1=$(q "SELECT pg_current_wal_lsn()")
  read -r arch1 fail1 <<<"$(q "SELECT archived_count, failed_count FROM pg_stat_archiver" | tr '|' ' ')"
  drain=$(wait_drained "$DRAIN_TIMEOUT")
  arch2=$(q "SELECT archived_count FROM pg_stat_archiver")
  secs=$(awk -v d=$((t1 - t0)) 'BEGIN{printf "%.1f", d/1e6}')
  tps=$(awk '/^tps = /{print $3; exit}' "$LOGDIR/p2-$load-$tool.pgbench")
  R[$k.tps]=$(printf '%.0f' "${tps:-0}")
  R[$k.load_s]=$secs
  R[$k.wal_mb]=$(q "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / 1e6)")
  R[$k.wal_mbps]=$(awk -v m="${R[$k.wal_mb]}" -v s="$secs" 'BEGIN{printf "%.1f", m/s}')
  R[$k.generated]=$(q "SELECT (floor(pg_wal_lsn_diff('$lsn1', '0/0') / $SEG_BYTES) - floor(pg_wal_lsn_diff('$lsn0', '0/0') / $SEG_BYTES))::int")
  R[$k.archived]=$((arch1 - arch0))
  R[$k.failed]=$((fail1 - fail0))
  R[$k.lag]=$ready1
  R[$k.drain_s]=$drain
  R[$k.archived_total]=$((arch2 - arch0))
  R[$k.seg_per_s]=$(awk -v a="${R[$k.archived]}" -v s="$secs" 'BEGIN{printf "%.2f", a/s}')
  R[$k.gen_per_s]=$(awk -v a="${R[$k.generated]}" -v s="$secs" 'BEGIN{printf "%.2f", a/s}')
  # archiver capacity seen while draining (no load): meaningful only with a real backlog
  R[$k.drain_rate]=$(awk -v l="$ready1" -v d="$drain" 'BEGIN{ if (l >= 3 && d ~ /^[0-9.]+$/ && d > 0) printf "%.1f", l/d; else printf "" }')
  log "  $load / $tool: generated ${R[$k.generated]} segments (${R[$k.wal_mbps]} MB/s), archived ${R[$k.archived]} during the load, lag $ready1, drain ${drain}s, ${R[$k.tps]} tps"
}

part2() {
  part2_setup
  q "CREATE TABLE bulk (id bigserial, pad text)" bench >/dev/null
  echo "INSERT INTO bulk (pad) SELECT md5(random()::text) || md5(random()::text) FROM generate_series(1, 2000);" >"$P2/bulk.sql"
  chown "$PG_OS_USER": "$P2/bulk.sql"
  local load tool
  for load in $LOADS; do
    for tool in "${PART2_TOOLS[@]}"; do part2_run "$load" "$tool"; done
  done
  set_archive_command "/bin/true"
}

report2() {
  local load tool k
  echo "### Part 2: sustained archiving under load (one run per archive_command; checkpoint_timeout $CHECKPOINT_TIMEOUT, full_page_writes on, wal_compression off; db $(awk -v b="${R[p2.db_bytes]}" 'BEGIN{printf "%.0f", b/1e6}') MB)"
  for load in $LOADS; do
    echo
    echo "Load: $(load_label "$load")"
    echo
    echo "| archive_command | pgbench tps | WAL MB/s | segments generated | archived during load | segments/s archived | lag at end (.ready) | drain s | drain rate seg/s | failures |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for tool in "${PART2_TOOLS[@]}"; do
      k=$load.$tool
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(label2 "$tool")" "${R[$k.tps]}" "${R[$k.wal_mbps]}" \
        "${R[$k.generated]}" "${R[$k.archived]}" "${R[$k.seg_per_s]}" "${R[$k.lag]}" "${R[$k.drain_s]}" \
        "${R[$k.drain_rate]}" "${R[$k.failed]}"
    done
  done
  echo
  echo "segments/s archived = archived during the load / load seconds (bounded by the WAL rate when the archiver keeps up);"
  echo "drain s = from the end of pgbench until no .ready file is left; drain rate = lag / drain s (shown only with a backlog"
  echo "of 3 or more: the archiver's capacity once the load stopped). tps differences are mostly machine noise."
}

# =================================================================== part 3 ==
report3() {
  echo "### Targets"
  echo
  local pv=${R[pv_lz4.median]:-NA} br=${R[pgbr.median]:-NA} fl=${R[floor.median]:-NA} verdict
  verdict=$(awk -v a="$pv" -v b="$br" 'BEGIN{ if (a ~ /^-?[0-9.]+$/ && b ~ /^-?[0-9.]+$/) print (a <= b ? "met" : "NOT MET"); else print "not measured" }')
  echo "- pgvault per-segment latency no worse than pgBackRest's: **$verdict** (net median $pv ms vs $br ms, ratio $(ratio_na "$pv" "$br"); p90 ${R[pv_lz4.p90]:-NA} vs ${R[pgbr.p90]:-NA} ms)"
  verdict=$(awk -v a="$pv" -v b="$fl" 'BEGIN{ if (a ~ /^-?[0-9.]+$/ && b ~ /^-?[0-9.]+$/) print (a <= 2*b ? "met" : "NOT MET"); else print "not measured" }')
  echo "- pgvault within 2x of cp+fsync: **$verdict** (net median $pv ms vs $fl ms, ratio $(ratio_na "$pv" "$fl"))"
  local pa=${R[pv_async.median]:-NA}
  verdict=$(awk -v a="$pa" -v b="$fl" 'BEGIN{ if (a ~ /^-?[0-9.]+$/ && b ~ /^-?[0-9.]+$/) print (a <= 2*b ? "met" : "NOT MET"); else print "not measured" }')
  echo "- pgvault asynchronous mode, foreground step within 2x of cp+fsync: **$verdict** (net median $pa ms vs $fl ms, ratio $(ratio_na "$pa" "$fl"))"
}

report() {
  echo "Run $(date -u '+%Y-%m-%d %H:%M UTC'), SEGMENTS=$SEGMENTS LOAD_SECONDS=$LOAD_SECONDS; loadavg at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg); waited ${QUIET_WAITED}s for a quiet machine"
  echo
  versions
  echo
  [[ $PARTS == *1* ]] && { report1; echo; }
  [[ $PARTS == *2* ]] && { report2; echo; }
  [[ $PARTS == *1* ]] && report3
  return 0
}

json() {
  local first=1 tool k
  printf '{\n  "benchmark": "wal",\n  "date_utc": "%s",\n  "host": "%s",\n  "cpus": %s,\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -srm)" "$(nproc)"
  printf '  "postgres": "%s",\n  "pgbackrest": "%s",\n  "pgvault": "%s",\n  "pgvault_build": "%s",\n' \
    "$("$BIN/postgres" --version)" "$("$PGBR_EXE" version)" "$PV_VERSION" "$PV_KIND"
  printf '  "segments": %s,\n  "load_seconds": %s,\n  "loadavg_start": "%s",\n  "quiet_waited_s": %s,\n' \
    "$SEGMENTS" "$LOAD_SECONDS" "$LOAD_START" "$QUIET_WAITED"
  printf '  "latency_ms": {'
  if [[ $PARTS == *1* ]]; then
    for tool in "${PART1_TOOLS[@]}"; do
      ((first)) || printf ','
      first=0
      printf '\n    "%s": {"n": %s, "median_net": %s, "p90_net": %s, "median_raw": %s, "p90_raw": %s, "min_raw": %s, "max_raw": %s, "stored_bytes_per_segment": %s, "samples_us": [%s]}' \
        "$tool" "${R[$tool.n]}" "${R[$tool.median]}" "${R[$tool.p90]}" "${R[$tool.median_raw]}" "${R[$tool.p90_raw]}" \
        "${R[$tool.min_raw]}" "${R[$tool.max_raw]}" "${R[$tool.bytes]:-null}" "$(paste -sd, "$LOGDIR/p1-$tool.us")"
    done
    printf '\n  },\n'
    printf '  "ratios": {"pv_lz4_vs_pgbr": %s, "pv_lz4_vs_floor": %s, "pv_zstd_vs_pgbr": %s, "pv_zstd_vs_floor": %s},\n' \
      "$(ratio_na "${R[pv_lz4.median]}" "${R[pgbr.median]}")" "$(ratio_na "${R[pv_lz4.median]}" "${R[floor.median]}")" \
      "$(ratio_na "${R[pv_zstd.median]}" "${R[pgbr.median]}")" "$(ratio_na "${R[pv_zstd.median]}" "${R[floor.median]}")" | sed 's/NA/null/g'
  else
    printf '},\n'
  fi
  first=1
  printf '  "sustained": {'
  if [[ $PARTS == *2* ]]; then
    local load lfirst=1
    for load in $LOADS; do
      ((lfirst)) || printf ','
      lfirst=0
      printf '\n    "%s": {"pgbench": "%s",' "$load" "$(load_label "$load")"
      first=1
      for tool in "${PART2_TOOLS[@]}"; do
        local k=$load.$tool
        ((first)) || printf ','
        first=0
        local dr=${R[$k.drain_s]} rate=${R[$k.drain_rate]:-null}
        [[ $dr =~ ^[0-9.]+$ ]] || dr=null
        [[ -n $rate ]] || rate=null
        printf '\n      "%s": {"archive_command": "%s", "tps": %s, "load_s": %s, "wal_mb": %s, "wal_mb_per_s": %s, "segments_generated": %s, "archived_during_load": %s, "segments_per_s": %s, "lag_at_end": %s, "drain_s": %s, "drain_rate": %s, "failures": %s}' \
          "$tool" "$(archive_command_of "$tool")" "${R[$k.tps]}" "${R[$k.load_s]}" "${R[$k.wal_mb]}" "${R[$k.wal_mbps]}" "${R[$k.generated]}" \
          "${R[$k.archived]}" "${R[$k.seg_per_s]}" "${R[$k.lag]}" "$dr" "$rate" "${R[$k.failed]}"
      done
      printf '\n    }'
    done
    printf '\n  }\n}\n'
  else
    printf '}\n}\n'
  fi
}

# ====================================================================== run ==
[[ $PARTS == *1* ]] && part1
[[ $PARTS == *2* ]] && part2

REPORT=$(report)
echo
echo "$REPORT"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RESULTS_DIR"
json >"$RESULTS_DIR/wal-$STAMP.json"
check_json "$RESULTS_DIR/wal-$STAMP.json"
log "JSON: $RESULTS_DIR/wal-$STAMP.json"

# README: replace what lies between the markers (create the file with them when missing).
if [[ -n $RESULTS_MD ]]; then
  BEGIN='<!-- wal.sh results: begin (generated; replaced by every run) -->'
  END='<!-- wal.sh results: end -->'
  write_between_markers "$RESULTS_MD" "$BEGIN" "$END" "$REPORT"
  log "tables written to $RESULTS_MD"
fi
log "done"
