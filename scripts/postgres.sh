#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for tests and benchmarks.
#
# Usage:
#   scripts/postgres.sh start DIR PORT   start (or reuse) a cluster in DIR, print its URL
#   scripts/postgres.sh stop DIR         stop the cluster in DIR and delete its data
#   scripts/postgres.sh url DIR PORT     print the URL of the cluster in DIR
#   scripts/postgres.sh status DIR       exit 0 if the cluster in DIR is running
#   scripts/postgres.sh bindir           print the PostgreSQL bin directory in use
#   scripts/postgres.sh free-port [PORT] print PORT if it is free on 127.0.0.1, else a free port
#
# Uses the Debian `postgresql` package binaries (/usr/lib/postgresql/<version>/bin,
# highest version wins; override with PG_BINDIR). The server listens on 127.0.0.1
# only, trusts every local connection, and has a database named crossdock_test.
#
# initdb and postgres refuse to run as root, so when invoked as root the cluster
# is created and run as the `postgres` system user. If that user cannot reach DIR
# (for example a checkout under a 0700 home directory) or the unix socket path
# would be too long, the cluster itself lives in a private temporary directory
# and DIR only keeps a pointer to it, plus a copy of the server log after stop.
set -euo pipefail

DB_NAME="crossdock_test"
DB_USER="postgres"
PG_RUN_USER="postgres"

die() {
    echo "postgres.sh: error: $*" >&2
    exit 1
}

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        [[ -x "$PG_BINDIR/initdb" && -x "$PG_BINDIR/pg_ctl" ]] ||
            die "PG_BINDIR=$PG_BINDIR does not contain initdb and pg_ctl"
        echo "$PG_BINDIR"
        return 0
    fi
    local best="" dir
    # Highest numeric version directory that has the server binaries.
    while IFS= read -r dir; do
        if [[ -x "$dir/bin/initdb" && -x "$dir/bin/pg_ctl" ]]; then
            best="$dir/bin"
        fi
    done < <(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort -V)
    if [[ -z "$best" ]]; then
        echo "postgres.sh: error: PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin." >&2
        echo "postgres.sh: install them with: scripts/install-system-deps.sh (as root)" >&2
        return 1
    fi
    echo "$best"
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run a command as the user that owns the cluster.
as_pg() {
    if is_root; then
        (cd / && runuser -u "$PG_RUN_USER" -- "$@")
    else
        "$@"
    fi
}

abs_dir() {
    mkdir -p "$1"
    (cd "$1" && pwd -P)
}

validate_port() {
    [[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)) || die "invalid port: $1"
}

print_url() {
    echo "postgresql://${DB_USER}@127.0.0.1:$1/${DB_NAME}"
}

# The directory that holds data/, sock/ and postgres.log for the cluster in DIR.
cluster_root() {
    local dir="$1"
    if [[ -f "$dir/cluster-root" ]]; then
        cat "$dir/cluster-root"
    else
        echo "$dir/cluster"
    fi
}

cluster_running() {
    local bindir="$1" root="$2"
    [[ -f "$root/data/PG_VERSION" ]] || return 1
    as_pg "$bindir/pg_ctl" -D "$root/data" status >/dev/null 2>&1
}

# Can the cluster user create and use files under $1?
pg_user_can_use() {
    local probe="$1"
    if is_root; then
        chown "$PG_RUN_USER:" "$probe" 2>/dev/null || return 1
        runuser -u "$PG_RUN_USER" -- test -w "$probe" -a -x "$probe" 2>/dev/null
    else
        test -w "$probe" -a -x "$probe"
    fi
}

cmd_start() {
    [[ $# -eq 2 ]] || usage
    local dir port bindir root
    dir="$(abs_dir "$1")"
    port="$2"
    validate_port "$port"
    bindir="$(find_bindir)" || exit 1

    if is_root; then
        id -u "$PG_RUN_USER" >/dev/null 2>&1 ||
            die "running as root but the '$PG_RUN_USER' system user does not exist (run scripts/install-system-deps.sh)"
    fi

    root="$(cluster_root "$dir")"
    if cluster_running "$bindir" "$root"; then
        local running_port
        running_port="$(cat "$dir/port" 2>/dev/null || echo "$port")"
        if [[ "$running_port" != "$port" ]]; then
            echo "postgres.sh: cluster in $dir is already running on port $running_port (requested $port)" >&2
        fi
        print_url "$running_port"
        return 0
    fi

    # Choose where the cluster lives. Unix socket paths are limited to ~107 bytes.
    if [[ ! -f "$root/data/PG_VERSION" ]]; then
        rm -rf "$dir/cluster" "$dir/cluster-root"
        local candidate="$dir/cluster"
        mkdir -p "$candidate"
        local sock_path="$candidate/sock/.s.PGSQL.$port"
        if ((${#sock_path} > 100)) || ! pg_user_can_use "$candidate"; then
            rmdir "$candidate"
            candidate="$(mktemp -d "${TMPDIR:-/tmp}/crossdock-pg.XXXXXX")"
            chmod 0755 "$candidate"
            pg_user_can_use "$candidate" || die "the $PG_RUN_USER user cannot use $candidate"
            echo "$candidate" >"$dir/cluster-root"
        fi
        root="$candidate"
    fi

    if [[ ! -f "$root/data/PG_VERSION" ]]; then
        rm -rf "$root/data"
        as_pg mkdir -p "$root/data" "$root/sock"
        as_pg chmod 0700 "$root/data"
        if ! as_pg "$bindir/initdb" -D "$root/data" -U "$DB_USER" -A trust \
            --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
            cat "$dir/initdb.log" >&2
            die "initdb failed"
        fi
    fi
    as_pg mkdir -p "$root/sock"

    echo "$port" >"$dir/port"
    if ! as_pg "$bindir/pg_ctl" -D "$root/data" -l "$root/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k '$root/sock' -c max_connections=200 ${POSTGRES_EXTRA_OPTS:-}" start >/dev/null; then
        cat "$root/postgres.log" >&2 2>/dev/null || true
        die "could not start PostgreSQL on 127.0.0.1:$port (is the port in use?)"
    fi

    local exists
    exists="$("$bindir/psql" -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres -XAtq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")"
    if [[ "$exists" != "1" ]]; then
        "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" "$DB_NAME"
    fi
    print_url "$port"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    local dir="$1" bindir root
    [[ -d "$dir" ]] || return 0
    dir="$(abs_dir "$dir")"
    bindir="$(find_bindir)" || exit 1
    root="$(cluster_root "$dir")"
    if cluster_running "$bindir" "$root"; then
        as_pg "$bindir/pg_ctl" -D "$root/data" -m fast -w -t 60 stop >/dev/null
    fi
    if [[ -f "$root/postgres.log" ]]; then
        cp "$root/postgres.log" "$dir/postgres.log" 2>/dev/null || true
    fi
    rm -rf "$root" "$dir/cluster" "$dir/cluster-root" "$dir/port"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    local dir="$1" bindir
    [[ -d "$dir" ]] || return 1
    dir="$(abs_dir "$dir")"
    bindir="$(find_bindir)" || exit 1
    cluster_running "$bindir" "$(cluster_root "$dir")"
}

cmd_url() {
    [[ $# -eq 2 ]] || usage
    validate_port "$2"
    print_url "$2"
}

cmd_free_port() {
    local preferred="${1:-55432}"
    validate_port "$preferred"
    local py
    py="$(command -v python3 || true)"
    [[ -n "$py" ]] || die "python3 is needed to pick a free port"
    "$py" - "$preferred" <<'EOF'
import socket
import sys


def free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


preferred = int(sys.argv[1])
if free(preferred):
    print(preferred)
else:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
EOF
}

main() {
    [[ $# -ge 1 ]] || usage
    local cmd="$1"
    shift
    case "$cmd" in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    url) cmd_url "$@" ;;
    status) cmd_status "$@" ;;
    bindir) [[ $# -eq 0 ]] || usage; find_bindir ;;
    free-port) cmd_free_port "$@" ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
    esac
}

main "$@"
