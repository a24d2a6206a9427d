#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster available.
#
# Usage: scripts/with-postgres.sh DIR ENV_VAR [--port PORT] -- COMMAND [ARGS...]
#
# Starts a cluster in DIR on a free port (PORT if available, default 55432),
# exports its URL in ENV_VAR, runs COMMAND, and always stops the cluster
# afterwards. Exits with COMMAND's exit code.
set -euo pipefail

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 4 ]] || usage
PG_DIR="$1"
ENV_VAR="$2"
shift 2
PREFERRED_PORT=55432
if [[ "$1" == "--port" ]]; then
    PREFERRED_PORT="$2"
    shift 2
fi
[[ "${1:-}" == "--" ]] || usage
shift
[[ $# -ge 1 ]] || usage
[[ "$ENV_VAR" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || usage

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG="$HERE/postgres.sh"

log() { echo "with-postgres.sh: $*" >&2; }

if ! "$PG" bindir >/dev/null 2>&1; then
    if [[ "$(id -u)" -eq 0 ]]; then
        log "PostgreSQL server binaries missing; running scripts/install-system-deps.sh"
        "$HERE/install-system-deps.sh"
    else
        log "error: PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin."
        log "run scripts/install-system-deps.sh as root (or set PG_BINDIR) and try again."
        exit 1
    fi
fi

stop_pg() {
    "$PG" stop "$PG_DIR" || log "warning: could not stop PostgreSQL in $PG_DIR"
}
"$PG" stop "$PG_DIR" >/dev/null 2>&1 || true
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

PORT="$("$PG" free-port "$PREFERRED_PORT")"
URL="$("$PG" start "$PG_DIR" "$PORT")"
export "$ENV_VAR=$URL"
log "PostgreSQL ready at $URL ($ENV_VAR)"

run_child "$@"
exit "$rc"
