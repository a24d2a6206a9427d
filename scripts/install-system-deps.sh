#!/usr/bin/env bash
# Install the system packages the test suite and benchmarks need (Debian/Ubuntu).
#
# - postgresql: the server binaries (initdb, pg_ctl) used by scripts/postgres.sh
#   to run throwaway clusters;
# - openssh-server: sshd (and the sftp client), which the SFTP tests start on
#   127.0.0.1 with their own keys and config (tests/integration/sftp_server.py);
# - chromium: Debian's browser build (/usr/bin/chromium), which the console's
#   browser tests drive headless through Playwright (tests/e2e/console/);
# - make, and python3 with venv support, when they are missing.
# Safe to run repeatedly; does nothing when everything is present. Must run as
# root (or with sudo available).
#
# The package's default cluster (usually "main" on port 5432) is not used by this
# project; if the install created and started it, it is stopped again.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

have_pg_server() {
    scripts/postgres.sh bindir >/dev/null 2>&1
}

PACKAGES=()
have_pg_server || PACKAGES+=(postgresql)
[[ -x /usr/sbin/sshd ]] || PACKAGES+=(openssh-server)
[[ -x /usr/bin/chromium ]] || PACKAGES+=(chromium)
command -v make >/dev/null 2>&1 || PACKAGES+=(make)
if ! command -v python3 >/dev/null 2>&1; then
    PACKAGES+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    PACKAGES+=(python3-venv)
fi

if [[ ${#PACKAGES[@]} -eq 0 ]]; then
    echo "install-system-deps: nothing to do (PostgreSQL server binaries at $(scripts/postgres.sh bindir))"
    exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-system-deps: error: must run as root (or have sudo) to install packages" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: error: apt-get not found; install the PostgreSQL server (initdb, pg_ctl) with your system's package manager" >&2
    echo "install-system-deps: and point PG_BINDIR at its bin directory" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-system-deps: installing ${PACKAGES[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${PACKAGES[@]}" </dev/null

# The project never uses the package's default cluster; stop it if it was started
# so it does not hold port 5432 or memory. Failure here is harmless.
if [[ " ${PACKAGES[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
    while read -r version name _port status _rest; do
        if [[ "$status" == online* ]]; then
            echo "install-system-deps: stopping default cluster $version/$name (not used by this project)"
            "${SUDO[@]}" pg_ctlcluster "$version" "$name" stop || true
        fi
    done < <(pg_lsclusters --no-header 2>/dev/null || true)
fi

if ! have_pg_server; then
    echo "install-system-deps: error: postgresql installed but initdb/pg_ctl still not found under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "install-system-deps: PostgreSQL server binaries at $(scripts/postgres.sh bindir)"
