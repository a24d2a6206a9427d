#!/usr/bin/env bash
# Run the test suite against a throwaway PostgreSQL cluster.
#
# Usage: scripts/test.sh [PYTEST ARGS...]        (default args: -q)
#
# Ensures .venv is installed, starts a cluster in var/test-pg on a free port
# (55432 if available), exports CROSSDOCK_TEST_POSTGRES_URL, runs .venv/bin/pytest
# and always stops the cluster afterwards. Exits with pytest's exit code; "no
# tests collected" (pytest exit code 5) counts as a failure unless
# CROSSDOCK_ALLOW_NO_TESTS=1.
#
# Environment:
#   CROSSDOCK_TEST_PG_DIR     cluster directory (default: var/test-pg)
#   CROSSDOCK_TEST_PG_PORT    preferred port (default: 55432)
#   CROSSDOCK_ALLOW_NO_TESTS  set to 1 to treat "no tests collected" as success
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG_DIR="${CROSSDOCK_TEST_PG_DIR:-var/test-pg}"
PREFERRED_PORT="${CROSSDOCK_TEST_PG_PORT:-55432}"

log() { echo "test.sh: $*" >&2; }

# 1. Virtualenv (same logic as `make venv`).
if command -v make >/dev/null 2>&1; then
    make --no-print-directory -s venv
elif [[ ! -f .venv/.installed || pyproject.toml -nt .venv/.installed ]]; then
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/python -m pip install -e '.[dev,bench]'
    touch .venv/.installed
fi

# 2. PostgreSQL server binaries.
if ! scripts/postgres.sh bindir >/dev/null 2>&1; then
    if [[ "$(id -u)" -eq 0 ]]; then
        log "PostgreSQL server binaries missing; running scripts/install-system-deps.sh"
        scripts/install-system-deps.sh
    else
        log "error: PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin."
        log "run scripts/install-system-deps.sh as root (or set PG_BINDIR) and try again."
        exit 1
    fi
fi

# 3. Throwaway cluster, always stopped on exit.
stop_pg() {
    scripts/postgres.sh stop "$PG_DIR" || log "warning: could not stop PostgreSQL in $PG_DIR"
}
# Clear anything left behind by an interrupted earlier run.
scripts/postgres.sh stop "$PG_DIR" >/dev/null 2>&1 || true
# Run "$@" as a child and wait for it, forwarding TERM/HUP so the cluster is
# still stopped when only this script is signalled. Ctrl-C reaches the child
# through the terminal's process group, so INT is not forwarded (that would
# interrupt pytest's own cleanup). Sets rc to the child's exit code.
run_child() {
    "$@" <&0 &
    local child=$!
    trap 'kill -TERM "$child" 2>/dev/null || true' TERM
    trap 'kill -HUP "$child" 2>/dev/null || true' HUP
    trap ':' INT
    rc=0
    while true; do
        wait "$child" && rc=0 || rc=$?
        # wait returns early (>128) when a trapped signal arrives while the child
        # is still running; keep waiting until it has really exited.
        kill -0 "$child" 2>/dev/null || break
    done
    # If the child exited during a trap, its real status is still recorded.
    local status=0
    wait "$child" 2>/dev/null || status=$?
    if [[ $status -ne 127 ]]; then
        rc=$status
    fi
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap - HUP
}

trap stop_pg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PORT="$(scripts/postgres.sh free-port "$PREFERRED_PORT")"
# A throwaway cluster for tests: the hub is what gets killed, never the server, so disk flushes buy nothing.
CROSSDOCK_TEST_POSTGRES_URL="$(POSTGRES_EXTRA_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off" scripts/postgres.sh start "$PG_DIR" "$PORT")"
export CROSSDOCK_TEST_POSTGRES_URL
log "PostgreSQL ready at $CROSSDOCK_TEST_POSTGRES_URL"

# 4. pytest.
if [[ $# -eq 0 ]]; then
    set -- -q
fi
run_child .venv/bin/pytest "$@"

if [[ $rc -eq 5 ]]; then
    if [[ "${CROSSDOCK_ALLOW_NO_TESTS:-0}" == "1" ]]; then
        log "no tests collected (allowed)"
        rc=0
    else
        log "error: no tests were collected"
    fi
fi
exit "$rc"
