#!/usr/bin/env bash
# Installs what PgVault needs on a fresh Debian/Ubuntu machine: PostgreSQL 15 server, client and
# contrib (the demo and the tests start their own clusters with them). The .NET 10 SDK must be on
# PATH already. Safe to run again: it installs only what is missing.
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql-15)
[ -x /usr/lib/postgresql/15/bin/pg_dump ] || need+=(postgresql-client-15)
command -v runuser >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-prereqs: missing ${need[*]}; run this script as root (sudo)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if ! command -v dotnet >/dev/null; then
  echo "install-prereqs: the .NET 10 SDK (dotnet) is not on PATH; install it first" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "install-prereqs: running as root needs the 'postgres' OS user (the server refuses root); install postgresql-15" >&2
  exit 1
fi
echo "install-prereqs: PostgreSQL $(/usr/lib/postgresql/15/bin/pg_dump --version | awk '{print $3}') and .NET $(dotnet --version) are ready"
