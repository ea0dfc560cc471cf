#!/usr/bin/env bash
# Runs the Postman collection (postman/finledger.postman_collection.json) with newman
# against a running stack, top to bottom, as a new user would:
#
#   scripts/newman.sh [base_url] [newman options...]
#
# base_url defaults to http://127.0.0.1:8080 (`make run`); any further arguments go to
# `newman run`, e.g. `-r cli,json --reporter-json-export report.json`. Every request runs
# (no --bail); the exit status is non-zero when any assertion or request failed.
#
# newman is installed on first use into .devstack/node-tools (git-ignored) from
# postman/package.json and postman/package-lock.json with `npm ci`, so every package is
# pinned and checked against its recorded hash. It needs node (>= 16) and npm: when they
# are missing, CI=true installs them with apt-get; otherwise this exits with status 3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POSTMAN="$ROOT/postman"
TOOLS="$ROOT/.devstack/node-tools"
NEWMAN="$TOOLS/node_modules/.bin/newman"
STAMP="$TOOLS/.installed-package-lock.json"

base_url="http://127.0.0.1:8080"
if [[ $# -gt 0 && $1 != -* ]]; then
  base_url=$1
  shift
fi

have_node() {
  command -v node >/dev/null && command -v npm >/dev/null || return 1
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 16 ? 0 : 1)'
}

install_node() {
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || {
      echo "newman.sh: need root or sudo to install nodejs and npm" >&2
      exit 3
    }
    sudo="sudo"
  fi
  command -v apt-get >/dev/null || {
    echo "newman.sh: no apt-get here; install node (>= 16) and npm yourself" >&2
    exit 3
  }
  echo "newman.sh: installing nodejs and npm (CI=true)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
}

if ! have_node; then
  if [[ ${CI:-} == true ]]; then
    install_node
    have_node || {
      echo "newman.sh: node (>= 16) and npm are still not usable after installing them" >&2
      exit 3
    }
  else
    cat >&2 <<'EOF'
newman.sh: node (>= 16) and npm are needed to run newman, and were not found.
Install them (Debian/Ubuntu: sudo apt-get install nodejs npm), or run with CI=true to have
this script install them.
EOF
    exit 3
  fi
fi

install_newman() {
  mkdir -p "$TOOLS"
  cp "$POSTMAN/package.json" "$POSTMAN/package-lock.json" "$TOOLS/"
  rm -f "$STAMP"
  echo "newman.sh: installing newman into ${TOOLS#"$ROOT"/}"
  npm ci --prefix "$TOOLS" --no-audit --no-fund --loglevel=error
  cp "$POSTMAN/package-lock.json" "$STAMP"
}

if [[ ! -x $NEWMAN ]] || ! cmp -s "$POSTMAN/package-lock.json" "$STAMP"; then
  mkdir -p "$TOOLS"
  # test runs on other port bases may start at the same time: one installs, the others wait
  if command -v flock >/dev/null; then
    exec 9>"$TOOLS.lock"
    flock 9
  fi
  if [[ ! -x $NEWMAN ]] || ! cmp -s "$POSTMAN/package-lock.json" "$STAMP"; then
    install_newman
  fi
  if command -v flock >/dev/null; then
    exec 9>&-
  fi
fi

exec "$NEWMAN" run "$POSTMAN/finledger.postman_collection.json" \
  --environment "$POSTMAN/local.postman_environment.json" \
  --env-var "base_url=$base_url" \
  --timeout-request 30000 \
  "$@"
