#!/usr/bin/env bash
# s3.sh - PgVault repository throughput: filesystem vs a local S3 server (s3rver), side by side.
#
# Builds a ~1 GB logical backup (pgbench, --compression none so the bytes moved are the bytes
# measured), then times, with peak RSS of the pgvault process:
#   1  backup into a filesystem repository                 (pg_dump -> pipeline -> local disk)
#   2  backup into the S3 repository                       (pg_dump -> pipeline -> multipart upload)
#   3  repo sync filesystem -> S3   = upload of the stored backup
#   4  repo sync S3 -> filesystem   = download of the stored backup (checksums verified)
# and prints MB/s (10^6 bytes) per row.
#
# Environment: SCALE pgbench scale [70 ~ 1 GB dump], WORK [mktemp -d], PGBIN [/usr/lib/postgresql/15/bin],
#              PART_MB S3 part size [16], CONCURRENCY parts in flight [4].
# Needs: node/npm (s3rver is installed into <repo>/.tools/s3rver when missing), /usr/bin/time.
set -euo pipefail
HERE=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
SCALE=${SCALE:-70}
PART_MB=${PART_MB:-16}
CONCURRENCY=${CONCURRENCY:-4}
WORK_GIVEN=${WORK:-}
. "$HERE/lib.sh"
pg_user_setup
install_if_missing /usr/bin/time time
S3RVER="$ROOT/.tools/s3rver/node_modules/.bin/s3rver"
[ -x "$S3RVER" ] || npm install --silent --prefix "$ROOT/.tools/s3rver" s3rver@3.7.1 >/dev/null

S3PID=""
stop_s3rver() { [ -n "$S3PID" ] && kill "$S3PID" 2>/dev/null || true; }
CLEANUP_HOOKS=(stop_s3rver)
make_work "$WORK_GIVEN" /var/tmp/pgvault-s3bench 755
PGDATA_DIR=$WORK/data
SOCK=$WORK

pick_port 54600 54699; S3PORT=$(free_tcp_port)
pg_init "$WORK" --no-sync
pg_start "$WORK/pg.log"
echo "loading pgbench scale $SCALE ..."
as_pg "$BIN/pgbench" -i -q -s "$SCALE" -h "$WORK" -p "$PORT" -U postgres postgres >/dev/null 2>&1

mkdir -p "$WORK/s3data"
NODE_OPTIONS=--openssl-legacy-provider "$S3RVER" --address 127.0.0.1 --port "$S3PORT" --directory "$WORK/s3data" --configure-bucket bench --silent &
S3PID=$!
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$S3PORT) 2>/dev/null && break; sleep 0.1; done

export BENCH_S3_KEY=S3RVER BENCH_S3_SECRET=S3RVER
cat > "$WORK/pgvault.yaml" <<YAML
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
    part_size_mb: $PART_MB
    upload_concurrency: $CONCURRENCY
  - name: fs2
    path: $WORK/fs2
clusters:
  main:
    connection: host=$WORK port=$PORT user=postgres
    compression: none
YAML
"$ROOT/pgvault" --version >/dev/null   # builds once, outside the timings
PGV="$ROOT/.build/bin/pgvault"
"$PGV" --config "$WORK/pgvault.yaml" repo init >/dev/null

run() { # label, args... -> prints "seconds rss_mb"
  local start end
  start=$(now_ns)
  /usr/bin/time -f '%M' -o "$WORK/rss" "$PGV" --config "$WORK/pgvault.yaml" "$@" > "$WORK/out.json" 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }
  end=$(now_ns)
  echo "$(( (end - start) / 1000000 )) $(( $(cat "$WORK/rss") / 1024 ))"
}
sync; read -r t1 r1 < <(run --repo fs backup --db postgres --output json)
BYTES=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stored_bytes"])' "$WORK/out.json")
sync; read -r t2 r2 < <(run --repo s3 backup --db postgres --output json)
# Uploads and downloads of the stored backup (repo sync: read through one pipeline, write through the other).
"$PGV" --config "$WORK/pgvault.yaml" --repo fs2 repo init >/dev/null 2>&1 || true
sumjson() { python3 -c 'import json,sys; print(sum(x["stored_bytes"] for x in json.load(open(sys.argv[1]))))' "$WORK/out.json"; }
sync; read -r t3 r3 < <(run repo sync --from fs --to s3 --output json); B3=$(sumjson)
sync; read -r t4 r4 < <(run repo sync --from s3 --to fs2 --output json); B4=$(sumjson)

mbs() { python3 -c "import sys; b,ms=int(sys.argv[1]),int(sys.argv[2]); print(f'{b/1e6/(ms/1000):8.1f}')" "$1" "$2"; }
printf '\nPgVault repository throughput, %s MB backup (scale %s, no compression), S3 part %s MiB x %s, %s\n' \
  "$(( BYTES / 1000000 ))" "$SCALE" "$PART_MB" "$CONCURRENCY" "$(date -u +%Y-%m-%d)"
printf '%-44s %9s %9s %12s\n' "step" "seconds" "MB/s" "peak RSS MB"
printf '%-44s %9.2f %9s %12s\n' "1 backup -> filesystem (incl. pg_dump)" "$(echo "$t1/1000" | bc -l)" "$(mbs "$BYTES" "$t1")" "$r1"
printf '%-44s %9.2f %9s %12s\n' "2 backup -> S3 (incl. pg_dump)" "$(echo "$t2/1000" | bc -l)" "$(mbs "$BYTES" "$t2")" "$r2"
printf '%-44s %9.2f %9s %12s\n' "3 upload: repo sync fs -> S3 ($(( B3 / 1000000 )) MB)" "$(echo "$t3/1000" | bc -l)" "$(mbs "$B3" "$t3")" "$r3"
printf '%-44s %9.2f %9s %12s\n' "4 download: repo sync S3 -> fs ($(( B4 / 1000000 )) MB)" "$(echo "$t4/1000" | bc -l)" "$(mbs "$B4" "$t4")" "$r4"
printf '\nS3 upload vs filesystem backup: %.2fx the time; peak RSS stays bounded by part size x (concurrency + 1).\n' "$(echo "$t2/$t1" | bc -l)"
