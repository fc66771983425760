#!/usr/bin/env bash
# Installs what PgVault needs on a fresh Debian/Ubuntu machine: PostgreSQL 15 server, client and
# contrib (the demo and the tests start their own clusters with them), s3rver (npm) for the S3
# storage tests, Prometheus and python3-aiosmtpd for the daemon and alert tests. The .NET 10 SDK must be on PATH already. Safe to run again: it installs only what is missing.
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -x /usr/lib/postgresql/15/bin/pg_dump ] || need+=(postgresql-client-15)
command -v runuser >/dev/null || need+=(util-linux)
command -v npm >/dev/null || need+=(nodejs npm)
# The daemon and alert tests start a real Prometheus and a real SMTP sink.
[ -x /usr/bin/prometheus ] || need+=(prometheus)
python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
# The zstd tool reads what PgVault compresses (a test checks that it does).
command -v zstd >/dev/null || need+=(zstd)
# As root (a container, CI) apt runs directly; as a user it runs through sudo.
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then as_root=(sudo); else as_root=(false); fi
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "${as_root[*]}" = false ]; then
    echo "install-prereqs: missing ${need[*]}; run this script as root, or install sudo" >&2
    exit 1
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if ! command -v dotnet >/dev/null; then
  echo "install-prereqs: the .NET 10 SDK (dotnet) is not on PATH; install it first" >&2
  exit 1
fi
# s3rver: a local S3-compatible server for the storage tests, kept under .tools/ (git-ignored).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x "$repo/.tools/s3rver/node_modules/.bin/s3rver" ]; then
  if ! command -v npm >/dev/null; then
    echo "install-prereqs: npm is needed to install s3rver (the S3 test server); install nodejs and npm" >&2
    exit 1
  fi
  npm install --prefix "$repo/.tools/s3rver" --no-audit --no-fund --loglevel=error s3rver@3.7.1 >/dev/null
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "install-prereqs: running as root needs the 'postgres' OS user (the server refuses root); install postgresql-15" >&2
  exit 1
fi
echo "install-prereqs: PostgreSQL $(/usr/lib/postgresql/15/bin/pg_dump --version | awk '{print $3}'), .NET $(dotnet --version) and s3rver are ready"
