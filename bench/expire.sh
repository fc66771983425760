#!/usr/bin/env bash
# expire.sh - `pgvault expire` on a large repository: wall time, store requests, peak RSS.
#
# Builds one throw-away cluster with 1 MiB WAL segments (initdb --wal-segsize=1) that archives with
# the real `pgvault-wal archive-push` into a filesystem repository and an S3 repository (s3rver) at
# once, then takes BACKUPS physical backups (a full every FULL_EVERY, incrementals between them,
# all with --no-expire) with SEGMENTS/BACKUPS WAL switches before each, so both repositories hold
# BACKUPS backups and about SEGMENTS archived segments. Then, per repository, it times
#   pgvault --repo R expire --output json        (policy: retention.full = KEEP_FULL)
# under /usr/bin/time -v and reports wall seconds, peak RSS, objects before/after (counted on
# disk: the filesystem repository's files, s3rver's stored objects), what expire says it removed,
# and for S3 the number of HTTP requests the expire made (s3rver's request log lines; PgVault has
# no request counter of its own).
#
# Usage (as root; the cluster runs as postgres):   bench/expire.sh
#        SMALL=1 bench/expire.sh                    (60 segments, 4 backups: a quick check)
#
# Environment (defaults in brackets):
#   SEGMENTS    archived WAL segments to create [5000; SMALL=1: 60]
#   BACKUPS     physical backups [60; SMALL=1: 4]
#   FULL_EVERY  a full backup every N backups, incrementals between [10; SMALL=1: 2]
#   KEEP_FULL   retention.full of the policy expire applies [2]
#   PGVAULT     the pgvault command to time [<repo>/pgvault, the Native AOT launcher: it builds
#               once when sources changed]; e.g. a wrapper around `dotnet .../pgvault.dll`
#   WORK, KEEP, PGBIN as in bench/lib.sh; RESULTS_DIR [<repo>/bench/results]
# Needs: node/npm (s3rver is installed into <repo>/.tools/s3rver when missing), /usr/bin/time.
# Writes bench/README-retention.md (between result markers) and bench/results/expire-<time>.json.
set -euo pipefail
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
WORK_GIVEN=${WORK:-}
PV_GIVEN=${PGVAULT:-}   # read before unset_env PG* clears it
. "$HERE/lib.sh"
if [[ ${SMALL:-0} == 1 ]]; then SEGMENTS=${SEGMENTS:-60} BACKUPS=${BACKUPS:-4} FULL_EVERY=${FULL_EVERY:-2}; fi
SEGMENTS=${SEGMENTS:-5000}
BACKUPS=${BACKUPS:-60}
FULL_EVERY=${FULL_EVERY:-10}
KEEP_FULL=${KEEP_FULL:-2}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
need_int SEGMENTS "$SEGMENTS" 1; need_int BACKUPS "$BACKUPS" 1; need_int FULL_EVERY "$FULL_EVERY" 1; need_int KEEP_FULL "$KEEP_FULL" 1
unset_env 'PG*'
pg_user_setup root
install_if_missing /usr/bin/time time
need_tools node npm python3
need_results_dir "$RESULTS_DIR"
S3RVER="$ROOT/.tools/s3rver/node_modules/.bin/s3rver"
[[ -x $S3RVER ]] || npm install --silent --prefix "$ROOT/.tools/s3rver" s3rver@3.7.1 >/dev/null

S3PID=""
stop_s3rver() { [[ -n $S3PID ]] && kill "$S3PID" 2>/dev/null; return 0; }
CLEANUP_HOOKS=(stop_s3rver)
LEFTOVER_MATCH=(archive-push)
make_work "$WORK_GIVEN" /var/tmp/pgvault-expire 755
PGDATA_DIR=$WORK/data SOCK=$WORK

if [[ -n $PV_GIVEN ]]; then
  PV=$PV_GIVEN PV_VERSION=$("$PV" --version) PV_HOW="$PV_GIVEN" PVWAL=$PV_GIVEN
else
  pgvault_prepare "$ROOT/pgvault" "$WORK" launcher
fi

# ---- store: s3rver logging every request (its log lines are the request count) ----
S3PORT=$(free_tcp_port)
mkdir -p "$WORK/s3data"
chown "$PG_OS_USER": "$WORK/s3data"
NODE_OPTIONS=--openssl-legacy-provider "$S3RVER" --address 127.0.0.1 --port "$S3PORT" --directory "$WORK/s3data" \
  --configure-bucket bench >"$WORK/s3rver.log" 2>&1 &
S3PID=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$S3PORT") 2>/dev/null && break; sleep 0.1; done
s3_requests() { grep -c -E ' [0-9]{3} [0-9.]+m?s' "$WORK/s3rver.log" || true; }
s3_objects() { find "$WORK/s3data/bench" -type f -name '*._S3rver_object' | wc -l; }
fs_objects() { find "$WORK/fs" -type f ! -name '.*' | wc -l; }

# ---- cluster: 1 MiB segments, archive_command = pgvault-wal archive-push into both repositories ----
pick_port 54700 54799
mkdir -p "$WORK/fs"; chown "$PG_OS_USER": "$WORK/fs"
pg_init "$WORK" --wal-segsize=1 --no-sync
cat >"$WORK/pgvault.yaml" <<YAML
repositories:
  - name: fs
    path: $WORK/fs
  - name: s3
    type: s3
    endpoint: http://127.0.0.1:$S3PORT
    bucket: bench
    path_style: true
    access_key_id_env: BENCH_S3_KEY
    secret_access_key_env: BENCH_S3_SECRET
clusters:
  main:
    connection: host=$SOCK port=$PORT user=$PG_OS_USER
    pgdata: $PGDATA_DIR
    compression: lz4
    archive_timeout: 120
    retention:
      full: $KEEP_FULL
      expire_after_backup: false
YAML
chmod 644 "$WORK/pgvault.yaml"
export BENCH_S3_KEY=S3RVER BENCH_S3_SECRET=S3RVER
cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
wal_level = replica
archive_mode = on
archive_command = 'BENCH_S3_KEY=S3RVER BENCH_S3_SECRET=S3RVER $PVWAL --config $WORK/pgvault.yaml archive-push %p'
max_wal_size = 64MB
fsync = off
EOF
pv() { "$PV" --config "$WORK/pgvault.yaml" "$@"; }
pv repo init >"$WORK/init.log" 2>&1 || { cat "$WORK/init.log" >&2; die "repo init failed"; }
chown -R "$PG_OS_USER": "$WORK/fs"
pg_start "$WORK/pg.log"
q "CREATE TABLE t (i int)"

# ---- the repository: BACKUPS backups, SEGMENTS segments between them ----
per=$(( (SEGMENTS + BACKUPS - 1) / BACKUPS ))
log "creating $BACKUPS backups and ~$SEGMENTS archived WAL segments ($per switches before each backup)"
t0=$(now_ns)
for ((b = 0; b < BACKUPS; b++)); do
  q "DO \$\$ BEGIN FOR i IN 1..$per LOOP INSERT INTO t VALUES (i); PERFORM pg_switch_wal(); END LOOP; END \$\$" >/dev/null
  type=incr; ((b % FULL_EVERY == 0)) && type=full
  pv backup --type "$type" --no-expire >"$WORK/backup.log" 2>&1 || { tail "$WORK/backup.log" >&2; die "backup $b failed"; }
  while (($(ready_count) > 0)); do sleep 0.5; done
  log "  backup $((b + 1))/$BACKUPS ($type) done, $(q "SELECT archived_count FROM pg_stat_archiver") segments archived"
done
SETUP_S=$(elapsed "$t0")
ARCHIVED=$(q "SELECT archived_count FROM pg_stat_archiver")
stop_cluster  # nothing writes while expire is timed

# ---- expire per repository ----
declare -A WALL RSS BEFORE AFTER REMOVED BACKUPS_REMOVED WAL_REMOVED REQ
for repo in fs s3; do
  wait_quiet
  if [[ $repo == fs ]]; then BEFORE[$repo]=$(fs_objects); else BEFORE[$repo]=$(s3_objects); fi
  r0=$(s3_requests)
  t0=$(now_ns)
  /usr/bin/time -v -o "$WORK/time-$repo" "$PV" --config "$WORK/pgvault.yaml" --repo "$repo" expire --output json \
    >"$WORK/expire-$repo.json" 2>"$WORK/expire-$repo.err" || { cat "$WORK/expire-$repo.err" >&2; die "expire on $repo failed"; }
  WALL[$repo]=$(elapsed "$t0")
  REQ[$repo]=$(( $(s3_requests) - r0 ))
  RSS[$repo]=$(awk -F': ' '/Maximum resident set size/{print $2}' "$WORK/time-$repo")
  if [[ $repo == fs ]]; then AFTER[$repo]=$(fs_objects); else AFTER[$repo]=$(s3_objects); fi
  read -r REMOVED[$repo] BACKUPS_REMOVED[$repo] WAL_REMOVED[$repo] < <(python3 - "$WORK/expire-$repo.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["repositories"][0]
print(r["objects_removed"], sum(1 for d in r["decisions"] if not d["keep"]), sum(w["objects"] for w in r["wal_removed"]))
PY
)
  log "$repo: expire ${WALL[$repo]} s, peak RSS $(kib_mb "${RSS[$repo]}") MB, objects ${BEFORE[$repo]} -> ${AFTER[$repo]}, S3 requests ${REQ[$repo]}"
done

# ---- report ----
host_facts
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
report=$(
  echo "Run $STAMP on $HOST_DESC ($CPU_MODEL); pgvault $PV_VERSION (${PV_KIND:-$PV_HOW})."
  echo "Repository: $BACKUPS backups (a full every $FULL_EVERY), $ARCHIVED archived 1 MiB WAL segments, in a filesystem and an S3 (s3rver) repository; setup took ${SETUP_S} s."
  echo "Policy: \`retention: {full: $KEEP_FULL}\`."
  echo
  md_row repository "expire wall s" "peak RSS MB" "objects before" "objects after" "backups removed" "WAL files removed" "objects removed (expire)" "S3 requests"
  md_row --- --- --- --- --- --- --- --- ---
  for repo in fs s3; do
    req=${REQ[$repo]}; [[ $repo == fs ]] && req="n/a"
    md_row "$repo" "${WALL[$repo]}" "$(kib_mb "${RSS[$repo]}")" "${BEFORE[$repo]}" "${AFTER[$repo]}" "${BACKUPS_REMOVED[$repo]}" "${WAL_REMOVED[$repo]}" "${REMOVED[$repo]}" "$req"
  done
)
printf '%s\n' "$report"
write_between_markers "$ROOT/bench/README-retention.md" "<!-- expire results: begin -->" "<!-- expire results: end -->" "$report"
cat >"$RESULTS_DIR/expire-$STAMP.json" <<JSON
{"segments": $(jnum "$ARCHIVED"), "backups": $BACKUPS, "keep_full": $KEEP_FULL, "setup_s": $(jnum "$SETUP_S"),
 "fs": {"wall_s": $(jnum "${WALL[fs]}"), "peak_rss_kib": $(jnum "${RSS[fs]}"), "objects_before": ${BEFORE[fs]}, "objects_after": ${AFTER[fs]}, "objects_removed": ${REMOVED[fs]}},
 "s3": {"wall_s": $(jnum "${WALL[s3]}"), "peak_rss_kib": $(jnum "${RSS[s3]}"), "objects_before": ${BEFORE[s3]}, "objects_after": ${AFTER[s3]}, "objects_removed": ${REMOVED[s3]}, "requests": ${REQ[s3]}}}
JSON
check_json "$RESULTS_DIR/expire-$STAMP.json"
