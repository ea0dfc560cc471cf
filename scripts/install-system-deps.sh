#!/usr/bin/env bash
# Installs the system programs the local stack needs when they are missing:
# Postgres server binaries, Redis, nginx, and wrk for the benchmark
# (Debian/Ubuntu, via apt-get).
set -euo pipefail

have_postgres() {
  local bindir
  bindir=$(pg_config --bindir 2>/dev/null || true)
  [[ -n "$bindir" && -x "$bindir/initdb" ]] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v runuser >/dev/null || missing+=(util-linux)
command -v wrk >/dev/null || missing+=(wrk)  # make bench, and its tests
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
echo "installing: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
