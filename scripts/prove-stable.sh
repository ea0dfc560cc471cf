#!/usr/bin/env bash
# Proves the suite does not flake, as CI would see it: on a fresh clone of HEAD,
# runs tests/e2e/test_resilience.py N times in a row; then `CI=true make test`
# M times in a row, each on a fresh clone of its own (installs included).
# Prints one line per run.
#
#   scripts/prove-stable.sh                  # 20 resilience runs, 3 full suites
#   scripts/prove-stable.sh 5 0              # 5 resilience runs only
#
# Every run's output is kept in .devstack/prove-stable/<time>/ of this checkout.
# Exit status: 0 when every run passed, 1 otherwise.
set -uo pipefail

resilience_runs=${1:-20}
suite_runs=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
logs="$here/.devstack/prove-stable/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$logs"
work=$(mktemp -d)
cleanup() {
    # a stack whose state directory the Postgres OS user cannot reach keeps its
    # cluster under that user's home, behind a symlink (devstack): remove both
    find "$work" -path '*/.devstack/*' -name postgres -type l 2>/dev/null |
        while read -r link; do rm -rf "$(readlink -f "$link")"; done
    rm -rf "$work"
}
trap cleanup EXIT
commit=$(git -C "$here" rev-parse HEAD)
echo "commit $(git -C "$here" rev-parse --short HEAD); clones in $work; logs in $logs"

fresh_clone() {  # fresh_clone <name>: clone HEAD and cd into it
    git clone -q "$here" "$work/$1" && cd "$work/$1" && git checkout -q "$commit"
}

failed=0
run() {  # run <label> <log> <command...>
    local label=$1 log=$2 started status
    shift 2
    started=$(date +%s)
    "$@" >"$log" 2>&1
    status=$?
    local summary
    summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|[0-9]+ (passed|failed)' "$log" | tail -n 1)
    printf '%-16s %-4s %4ss  %s\n' "$label" "$([ $status -eq 0 ] && echo ok || echo FAIL)" \
        "$(($(date +%s) - started))" "${summary:-see $log}"
    [ $status -eq 0 ] || failed=$((failed + 1))
}

export CI=true
if [ "$resilience_runs" -gt 0 ]; then
    fresh_clone resilience || exit 1
    run "install" "$logs/install.log" make deps
    for i in $(seq 1 "$resilience_runs"); do
        run "resilience $i" "$logs/resilience-$i.log" \
            .venv/bin/python -m pytest tests/e2e/test_resilience.py -q -p no:cacheprovider
    done
fi
for i in $(seq 1 "$suite_runs"); do
    fresh_clone "suite-$i" || exit 1
    run "make test $i" "$logs/make-test-$i.log" make test
    if [ -n "$(git status --porcelain)" ]; then
        echo "make test $i left the clone dirty:"; git status --short
        failed=$((failed + 1))
    fi
done
echo "$failed failed run(s)"
[ "$failed" -eq 0 ]
