# bench/lib.sh - what the bench scripts share. Sourced, never run:
#   HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
#   . "$HERE/lib.sh"
#
# Sections: logging; checks; the postgres OS user; work directory and cleanup (one EXIT trap
# that stops the timed step, the cluster and leftover processes, then removes WORK); the
# throw-away cluster (free port, initdb, settings, start); the PgVault binary (launcher, Native
# AOT check, snapshot); timing (CPU ticks, quiet-machine wait, peak RSS sampling); number
# formatting, ratios, JSON and markdown report helpers; pgBackRest's and PgVault's configurations
# for the throw-away cluster.
#
# Globals a script sets before calling (defaults in brackets): BIN [/usr/lib/postgresql/15/bin],
# KEEP [0], QUIET_WAIT [60], QUIET_CORES [0.3], PG_OS_USER [postgres].
# Globals the library sets: ROOT, WORK, WORK_CREATED, PGDATA_DIR, SOCK, PORT, AS_PG, CLK_TCK,
# QUIET_WAITED, PV, PV_VERSION, PV_KIND, PV_HOW, HOST_DESC, CPU_MODEL; CUR_TPID and SAMPLER_PID
# are read by the cleanup (a step in progress and its sampler are stopped).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
BIN=${BIN:-${PGBIN:-/usr/lib/postgresql/15/bin}}
PG_OS_USER=${PG_OS_USER:-postgres}
KEEP=${KEEP:-0}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_CORES=${QUIET_CORES:-0.3}

# ------------------------------------------------------------------ logging --
exec 9>&2   # progress goes to the original stderr, also from redirected steps
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&9; }
die() { log "ERROR: $*"; exit 1; }

# ------------------------------------------------------------------- checks --
# unset_env PATTERN... : unset every environment variable whose name matches a glob (PG*, ...),
# so the caller's libpq / pgBackRest / PgVault settings cannot leak into a run.
unset_env() {
  local v p
  for v in $(compgen -e); do
    for p in "$@"; do
      # shellcheck disable=SC2053
      if [[ $v == $p ]]; then unset "$v"; break; fi
    done
  done
}
need_int() {  # NAME VALUE MIN
  [[ $2 =~ ^[0-9]+$ && $2 -ge $3 ]] ||
    die "$1 must be $([[ $3 == 1 ]] && echo "a positive integer" || echo "an integer >= $3")"
}
need_tools() { local t; for t in "$@"; do command -v "$t" >/dev/null || die "$t missing"; done; }
need_results_dir() {  # DIR
  if ! mkdir -p "$1" 2>/dev/null || [[ ! -w $1 ]]; then die "cannot write to RESULTS_DIR=$1"; fi
}
# install_if_missing COMMAND PACKAGE : apt-get install (after apt-get update if needed); root only
install_if_missing() {
  command -v "$1" >/dev/null && return 0
  [[ $EUID -eq 0 ]] || die "$1 is missing (apt-get install -y $2)"
  log "$1 missing: running 'apt-get install -y $2' (and 'apt-get update' if needed)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >&9 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update >&9 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >&9 2>&1 || die "could not install $2"
  fi
}

# --------------------------------------------------------- postgres OS user --
# pg_user_setup [root] : as_pg CMD... runs CMD as PG_OS_USER (runuser when root). "root": the
# script must run as root; otherwise root or PG_OS_USER itself.
pg_user_setup() {
  if [[ $EUID -eq 0 ]]; then
    id "$PG_OS_USER" >/dev/null 2>&1 || die "OS user $PG_OS_USER missing"
    AS_PG=(runuser -u "$PG_OS_USER" --)
  elif [[ ${1:-} == root ]]; then
    die "run as root (the cluster and the tools run as $PG_OS_USER through runuser)"
  else
    [[ $(id -un) == "$PG_OS_USER" ]] || die "run as root or as $PG_OS_USER"
    AS_PG=()
  fi
}
as_pg() { "${AS_PG[@]}" "$@"; }

# ------------------------------------------------------- work + cleanup ------
WORK="" WORK_CREATED=0 PGDATA_DIR="" CUR_TPID="" SAMPLER_PID=""
CLEANUP_HOOKS=()     # functions run by the cleanup after the cluster is stopped
LEFTOVER_MATCH=()    # kill, at exit, processes whose command line names WORK/ and one of these

# work_processes SUBSTRING... : PIDs (not this shell) whose command line contains WORK/ and one
# of the substrings.
work_processes() {
  local f p c s
  [[ -n $WORK ]] || return 0
  for f in /proc/[0-9]*/cmdline; do
    p=${f#/proc/}; p=${p%/cmdline}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    c=$( { tr '\0' ' ' <"$f"; } 2>/dev/null) || continue
    [[ $c == *"$WORK/"* ]] || continue
    for s in "$@"; do
      if [[ $c == *"$s"* ]]; then echo "$p"; break; fi
    done
  done
}

# stop_cluster : fast, then immediate, then SIGQUIT to a postmaster still running in PGDATA_DIR.
stop_cluster() {
  [[ -n $PGDATA_DIR && -f $PGDATA_DIR/postmaster.pid ]] || return 0
  log "stopping throw-away cluster ($PGDATA_DIR)"
  local pid
  pid=$(head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null)
  as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w -t 60 stop >/dev/null 2>&1 ||
    as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w -t 30 stop >/dev/null 2>&1
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
     [[ $(readlink -f "/proc/$pid/cwd" 2>/dev/null) == "$(readlink -f "$PGDATA_DIR")" ]]; then
    kill -QUIT "$pid" 2>/dev/null; sleep 2
  fi
  return 0
}

bench_cleanup() {
  local rc=$? h p kids=""
  set +e
  trap - EXIT INT TERM
  # an interrupted step: the timed command (child of /usr/bin/time), then time, then the sampler
  if [[ -n $CUR_TPID ]] && kill -0 "$CUR_TPID" 2>/dev/null; then
    read -r kids <"/proc/$CUR_TPID/task/$CUR_TPID/children" 2>/dev/null
    # shellcheck disable=SC2086
    [[ -n $kids ]] && kill -TERM $kids 2>/dev/null
    kill -TERM "$CUR_TPID" 2>/dev/null
    sleep 1
  fi
  [[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null
  stop_cluster
  if ((${#LEFTOVER_MATCH[@]})); then
    for p in $(work_processes "${LEFTOVER_MATCH[@]}"); do
      log "stopping left-over pid $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-120)"
      kill "$p" 2>/dev/null
    done
  fi
  for h in "${CLEANUP_HOOKS[@]}"; do "$h"; done
  if [[ -n $WORK && -d $WORK ]]; then
    if [[ $KEEP == 1 ]]; then
      log "KEEP=1: work dir left at $WORK"
    elif [[ $WORK_CREATED == 1 ]]; then
      rm -rf --one-file-system "$WORK"
    else  # a WORK the caller gave (empty when we started): remove what we put in it
      find "$WORK" -mindepth 1 -maxdepth 1 -exec rm -rf --one-file-system {} + 2>/dev/null
    fi
  fi
  exit "$rc"
}

# make_work GIVEN PREFIX MODE : WORK = GIVEN (must be empty or absent) or a new mktemp -d
# PREFIX.XXXXXX; owned by PG_OS_USER, chmod MODE; installs the cleanup traps.
make_work() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [[ -n $1 ]]; then
    if [[ -e $1 ]]; then
      [[ -d $1 && -z $(ls -A "$1") ]] || die "WORK=$1 must be an empty directory or not exist"
    else
      mkdir -p "$1"; WORK_CREATED=1
    fi
    WORK=$(readlink -f "$1")
  else
    WORK=$(mktemp -d "$2.XXXXXX"); WORK_CREATED=1
  fi
  [[ $WORK != *"'"* && $WORK != *" "* && $WORK != *'"'* ]] || die "work path must not contain quotes or spaces: $WORK"
  chown "$PG_OS_USER": "$WORK" 2>/dev/null || true
  chmod "$3" "$WORK"
}

# ------------------------------------------------------- throw-away cluster --
port_busy() {  # a TCP listener on the port, or a socket file for it in the usual places
  local hex; hex=$(printf '%04X' "$1")
  awk -v h=":$hex" 'FNR>1 && $4=="0A" && substr($2, length($2)-4)==h {f=1} END{exit !f}' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
  [[ -e /var/run/postgresql/.s.PGSQL.$1 || -e /tmp/.s.PGSQL.$1 || ( -n ${SOCK:-} && -e $SOCK/.s.PGSQL.$1 ) ]]
}
pick_port() {  # FIRST LAST -> PORT, the first free one
  local p
  PORT=""
  for ((p = $1; p <= $2; p++)); do
    if ! port_busy "$p"; then PORT=$p; return 0; fi
  done
  die "no free port in $1..$2"
}
free_tcp_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# pg_init LOGDIR [INITDB ARGS...] : initdb into PGDATA_DIR, then the settings every bench uses
# (port, unix socket SOCK only); append the script's own settings to $PGDATA_DIR/postgresql.conf.
pg_init() {
  local logdir=$1; shift
  as_pg "$BIN/initdb" -D "$PGDATA_DIR" -U "$PG_OS_USER" -A trust -E UTF8 --locale=C "$@" \
    >"$logdir/initdb.log" 2>&1 || { tail "$logdir/initdb.log" >&2; die "initdb failed"; }
  cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# ---- bench/$(basename "$0") throw-away settings ----
port = $PORT
listen_addresses = ''
unix_socket_directories = '$SOCK'
EOF
}
pg_start() {  # LOGFILE
  log "starting cluster"
  as_pg "$BIN/pg_ctl" -D "$PGDATA_DIR" -l "$1" -w -t 120 start >/dev/null ||
    { tail -n 20 "$1" >&2; die "cluster did not start"; }
}
q() { as_pg "$BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$PG_OS_USER" -d "${2:-postgres}" -c "$1"; }
ready_count() { find "$PGDATA_DIR/pg_wal/archive_status" -name '*.ready' 2>/dev/null | wc -l; }

# ----------------------------------------------------------- PgVault binary --
# pgvault_prepare LAUNCHER LOGDIR FALLBACK : calls the launcher once (it builds when sources
# changed), then PV = what gets timed: SNAPSHOT=1 a copy of <launcher dir>/.build/bin in
# WORK/pvbin (a rebuild mid-run cannot replace it), else FALLBACK: "launcher" (time the launcher
# itself; also when nothing is built) or "built" (the built binary in place). REQUIRE_AOT=1 stops
# on a framework-dependent build (the launcher's Native AOT publish failed).
pgvault_prepare() {
  local launcher=$1 logdir=$2 fallback=$3 bindir
  bindir=$(dirname "$launcher")/.build/bin
  [[ -x $launcher ]] || die "no PgVault launcher at $launcher"
  log "calling $launcher --version once (it rebuilds when sources changed)"
  PV_VERSION=$("$launcher" --version 2>"$logdir/launcher.err") ||
    { cat "$logdir/launcher.err" >&2; die "the PgVault launcher failed"; }
  if [[ ! -x $bindir/pgvault ]]; then
    [[ $fallback == launcher ]] || die "no built binary at $bindir/pgvault"
    PV=$launcher PVWAL=$launcher PV_KIND="" PV_HOW="launcher $launcher"
    log "pgvault $PV_VERSION ($PV_HOW)"
    return 0
  fi
  if [[ -e $bindir/pgvault.dll ]]; then  # the JIT fallback puts pgvault.dll next to the apphost
    PV_KIND="framework-dependent (JIT) build, NOT Native AOT"
    [[ ${REQUIRE_AOT:-0} == 1 ]] &&
      die "the launcher's build in $bindir is framework-dependent (its Native AOT publish failed: see $bindir/../build-aot.log); rerun when it is AOT again, or REQUIRE_AOT=0"
    log "WARNING: timing a $PV_KIND"
  else
    PV_KIND="Native AOT"
  fi
  if [[ ${SNAPSHOT:-1} == 1 ]]; then
    cp -a "$bindir" "$WORK/pvbin"
    rm -f "$WORK/pvbin/"*.dbg "$WORK/pvbin/"*.pdb
    chown -R "$PG_OS_USER": "$WORK/pvbin" 2>/dev/null || true
    PV=$WORK/pvbin/pgvault
    [[ $(as_pg "$PV" --version) == "$PV_VERSION" ]] || die "the snapshot of the PgVault binary does not run as $PG_OS_USER"
    PV_HOW="snapshot of $bindir/pgvault"
  elif [[ $fallback == launcher ]]; then
    PV=$launcher PV_HOW="launcher $launcher"
  else
    PV=$bindir/pgvault PV_HOW="$bindir/pgvault in place"
  fi
  # PVWAL: what `pgvault setup archiving` writes into archive_command (pgvault-wal, the WAL commands'
  # own binary, when the build made one next to pgvault; else pgvault itself).
  PVWAL=$PV
  [[ -x $(dirname "$PV")/pgvault-wal ]] && PVWAL=$(dirname "$PV")/pgvault-wal
  log "pgvault $PV_VERSION ($PV_KIND; timing the $PV_HOW); WAL commands: $PVWAL"
}

# ------------------------------------------------------------------- timing --
CLK_TCK=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# CPU ticks of the cluster so far: postmaster + its live children + the children it reaped.
server_ticks() {
  local pm kids="" k
  pm=$(head -n1 "$PGDATA_DIR/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  read -r kids <"/proc/$pm/task/$pm/children" 2>/dev/null || true
  # shellcheck disable=SC2086
  { cat "/proc/$pm/stat" 2>/dev/null; for k in $kids; do cat "/proc/$k/stat" 2>/dev/null || true; done; } |
    awk '{ sub(/^.*\) /, ""); t += $12 + $13; if (NR == 1) t += $14 + $15 } END { print t + 0 }'
}
# wait_quiet : waits (up to QUIET_WAIT s) until the rest of the machine uses at most QUIET_CORES
# cores (1 s samples of /proc/stat): this is a shared 2-core box and other work doubles timings.
QUIET_WAITED=0
wait_quiet() {
  ((QUIET_WAIT > 0)) || return 0
  local start=$SECONDS b0 b1
  while :; do
    b0=$(busy_ticks); sleep 1; b1=$(busy_ticks)
    if awk -v d=$((b1 - b0)) -v h="$CLK_TCK" -v t="$QUIET_CORES" 'BEGIN{exit !(d/h <= t)}'; then break; fi
    if ((SECONDS - start >= QUIET_WAIT)); then
      log "  machine still busy after ${QUIET_WAIT}s (loadavg $(cut -d' ' -f1 /proc/loadavg)); measuring anyway"; break
    fi
  done
  QUIET_WAITED=$((QUIET_WAITED + SECONDS - start))
}
now_ns() { date +%s%N; }
now_us() { local t=$EPOCHREALTIME; echo $((10#${t/./})); }
elapsed() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b-a)/1e9}'; }  # T0_NS -> s
# sample_hwm TPID FILE : VmHWM (KiB) of the pgvault process, the child of /usr/bin/time (pid
# TPID), sampled every 50 ms until it exits; the last value goes to FILE. It waits with
# `read -t` on a pipe nobody writes, not with sleep(1): forking /usr/bin/sleep 20 times a
# second cost about 0.1 core on this machine (5 ms of CPU each), which the pgvault rows alone
# paid (it showed as "CPU s others" 0.5 s per 2.5 s backup, 1.6 s per 8 s restore).
sample_hwm() {
  local tpid=$1 outf=$2 pid="" hwm=0 k v _ comm pause
  exec {pause}<> <(:)
  while kill -0 "$tpid" 2>/dev/null; do
    if [[ -z $pid ]]; then
      read -r pid _ <"/proc/$tpid/task/$tpid/children" 2>/dev/null || true  # no trailing newline
    fi
    if [[ -n $pid ]]; then
      comm=""; read -r comm <"/proc/$pid/comm" 2>/dev/null || true
      if [[ $comm == pgvault ]]; then
        while read -r k v _; do
          if [[ $k == VmHWM: ]]; then ((v > hwm)) && hwm=$v; break; fi
        done <"/proc/$pid/status" 2>/dev/null || true
      fi
    fi
    read -r -t 0.05 -u "$pause" _ || true
  done
  exec {pause}<&-
  echo "$hwm" >"$outf"
}

# ------------------------------------------------------- numbers and reports --
bytes_of() { { du -sb "$@" 2>/dev/null || true; } | awk '{s+=$1} END{print s+0}'; }
mb()     { [[ -n ${1:-} ]] && awk -v b="$1" 'BEGIN{printf "%.1f", b/1e6}'; return 0; }
kib_mb() { [[ -n ${1:-} ]] && awk -v k="$1" 'BEGIN{printf "%.0f", k*1024/1e6}'; return 0; }
secs()   { [[ -n ${1:-} ]] && awk -v s="$1" 'BEGIN{printf "%.2f", s}'; return 0; }
pct()    { [[ -n ${1:-} && -n ${2:-} ]] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.1f", 100*a/b }'; return 0; }
# ratio A B [MISSING] : A/B to 2 decimals; MISSING (default: nothing) when either is not a number
# or B is not > 0.
ratio() {
  awk -v a="${1:-}" -v b="${2:-}" -v na="${3:-}" \
    'BEGIN{ if (a ~ /^-?[0-9.]+$/ && b ~ /^-?[0-9.]+$/ && b > 0) printf "%.2f", a/b; else printf "%s", na }'
}
md_row() { local c s="|"; for c in "$@"; do s+=" $c |"; done; printf '%s\n' "$s"; }  # CELL... -> | a | b |

host_facts() {  # -> HOST_DESC, CPU_MODEL
  HOST_DESC="$(nproc) cores, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
  CPU_MODEL=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
}

jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n\t' '  ')"; }
jstr_array() { local s="" x; for x in "$@"; do s+="${s:+, }$(jstr "$x")"; done; printf '[%s]' "$s"; }
jnum() { if [[ ${1:-} =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi; }
# json_field KEY FILE -> the value of the top-level KEY of the JSON object in FILE (or empty)
json_field() {
  local v=""
  if command -v jq >/dev/null; then
    v=$(jq -r --arg k "$1" 'if type == "object" and has($k) then .[$k] | tostring else empty end' "$2" 2>/dev/null | head -n1) || v=""
  fi
  if [[ -z $v ]]; then
    v=$(grep -o "\"$1\"[[:space:]]*:[[:space:]]*\(\"[^\"]*\"\|[-+0-9.eE]*\)" "$2" 2>/dev/null | head -n1 |
        sed 's/^[^:]*:[[:space:]]*//; s/^"//; s/"$//') || v=""
  fi
  printf '%s' "$v"
}
check_json() {  # FILE
  if command -v jq >/dev/null && ! jq empty "$1" 2>/dev/null; then log "warning: $1 is not valid JSON"; fi
}

# write_between_markers FILE BEGIN END TEXT : replaces what lies between the two marker lines of
# FILE with TEXT (the markers are appended first when missing; the rest of FILE is kept).
write_between_markers() {
  local file=$1 begin=$2 end=$3
  if [[ ! -f $file ]] || ! grep -qF "$begin" "$file"; then
    { [[ -f $file ]] && cat "$file"; printf '\n%s\n%s\n' "$begin" "$end"; } >"$file.tmp"
    mv "$file.tmp" "$file"
  fi
  printf '%s\n' "$4" >"$WORK/report.md"
  awk -v b="$begin" -v e="$end" -v f="$WORK/report.md" '
    $0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == e { skip = 0 }
    !skip' "$file" >"$file.tmp"
  mv "$file.tmp" "$file"
}

# print_notes : the "Notes:" block of a report (a blank line, "Notes:", one "- " line per entry
# of the NOTES array); nothing when NOTES is empty.
print_notes() {
  ((${#NOTES[@]})) || return 0
  echo
  echo "Notes:"
  local n; for n in "${NOTES[@]}"; do echo "- $n"; done
}
# ------------------------------------------------ tool configurations -------
# pgbr_stanza : the [bench] stanza of a pgBackRest configuration for the throw-away cluster
pgbr_stanza() { printf '[bench]\npg1-path=%s\npg1-port=%s\npg1-socket-path=%s\n' "$PGDATA_DIR" "$PORT" "$SOCK"; }
# pg_archiving_conf ARCHIVE_COMMAND : appends what the physical benchmarks share to
# PGDATA_DIR/postgresql.conf: WAL archiving through ARCHIVE_COMMAND (no single quotes in it),
# 256 MB shared buffers, checkpoints only when asked (max_wal_size 2 GB, 30 min), autovacuum off
# (nothing but the benchmark changes the data), server log to stderr.
pg_archiving_conf() {
  cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
wal_level = replica
archive_mode = on
archive_command = '$1'
shared_buffers = 256MB
max_wal_size = 2GB
checkpoint_timeout = 30min
autovacuum = off
logging_collector = off
EOF
}
# pgbr_write_conf CONF DIR PARALLEL : pgBackRest's configuration for the throw-away cluster, with
# everything of its own below DIR (repo/, log/, lock/, spool/, and conf.d/, left empty: pass
# --config-include-path=DIR/conf.d so /etc/pgbackrest/conf.d is never read); zst:3,
# process-max=PARALLEL, start-fast, synchronous archive-push.
pgbr_write_conf() {
  local conf=$1 dir=$2
  as_pg mkdir -p "$dir/repo" "$dir/conf.d" "$dir/log" "$dir/lock" "$dir/spool"
  cat >"$conf" <<EOF
[global]
repo1-path=$dir/repo
repo1-retention-full=99
log-path=$dir/log
lock-path=$dir/lock
spool-path=$dir/spool
log-level-console=warn
log-level-file=info
start-fast=y
archive-async=n
process-max=$3
compress-type=zst
compress-level=3

$(pgbr_stanza)
EOF
  chown -R "$PG_OS_USER": "$dir" 2>/dev/null || true
}
# pv_write_conf CONF REPO PARALLEL : PgVault's configuration: one filesystem repository at REPO
# (created), cluster "bench" = the throw-away cluster, zstd:3, parallel PARALLEL.
pv_write_conf() {
  as_pg mkdir -p "$2"
  cat >"$1" <<EOF
repositories:
  - name: local
    type: filesystem
    path: $2
clusters:
  bench:
    connection: "host=$SOCK port=$PORT user=$PG_OS_USER dbname=postgres"
    pgdata: $PGDATA_DIR
    bindir: $BIN
    compression: zstd:3
    parallel: $3
EOF
  chown "$PG_OS_USER": "$1" 2>/dev/null || true
}
