"""A real OpenSSH server on 127.0.0.1 for SFTP tests: fresh host and client keys, a minimal sshd_config, and sshd
run in the foreground as the current user (root or not) for the length of one test.

Without an sshd the tests are skipped on a developer's machine but fail under CI (env CI set), as PostgreSQL's are
(tests/conftest.py): a missing server is never a silent pass. `scripts/install-system-deps.sh` installs it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD_SEARCH_PATH = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", os.environ.get("PATH", "")])
# sshd started as root insists on this directory (its privilege separation chroot); Debian's service unit
# creates it at boot, which a container never does.
PRIVSEP_DIR = Path("/run/sshd")


@dataclass(frozen=True)
class SftpServer:
    host: str
    port: int
    username: str
    client_key: Path  # private key the server accepts
    known_hosts: Path  # holds the server's host key, as [host]:port
    home: Path  # a folder on this machine, reachable over SFTP under the same absolute path
    log: Path  # sshd's own log (-e), for failure messages
    pid: int  # the listening sshd
    sftp_client: str  # OpenSSH's sftp program

    def drop_sessions(self) -> int:
        """End every open session the way a server restart or a network cut would: the listener forks one
        process per connection, and those are stopped. Returns how many."""
        dropped = 0
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat_file.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.pid:  # the parent pid
                with suppress(ProcessLookupError):
                    os.kill(int(stat_file.parent.name), signal.SIGTERM)
                    dropped += 1
        return dropped


@dataclass(frozen=True)
class OpenSsh:
    sshd: str
    keygen: str
    sftp: str  # the client, as a partner would use it


def _binaries() -> OpenSsh | None:
    found = [shutil.which(name, path=SSHD_SEARCH_PATH) for name in ("sshd", "ssh-keygen", "sftp")]
    sshd, keygen, sftp = found
    return OpenSsh(sshd, keygen, sftp) if sshd and keygen and sftp else None


def sshd_or_skip() -> OpenSsh:
    """The OpenSSH binaries; a skip with the reason when absent, a failure under CI."""
    found = _binaries()
    if found is None:
        reason = "no OpenSSH server (sshd, ssh-keygen, sftp): run scripts/install-system-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keypair(keygen: str, path: Path) -> str:
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "crossdock-test", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def _config(folder: Path, port: int, host_key: Path, authorized: Path, username: str) -> Path:
    lines = [
        "ListenAddress 127.0.0.1",
        f"Port {port}",
        f'HostKey "{host_key}"',
        f'PidFile "{folder / "sshd.pid"}"',
        f'AuthorizedKeysFile "{authorized}"',
        f"AllowUsers {username}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "StrictModes no",  # the tmp folder's modes are the test runner's, not a home directory's
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
    ]
    path = folder / "sshd_config"
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on port {port} within {timeout} s:\n{log.read_text()}")


@contextmanager
def running_sshd(folder: Path) -> Iterator[SftpServer]:
    """Start sshd with its keys and config under `folder`; stopped (with any session it forked) on exit."""
    openssh = sshd_or_skip()
    folder.mkdir(parents=True, exist_ok=True)
    username = pwd.getpwuid(os.geteuid()).pw_name
    host_public = _keypair(openssh.keygen, folder / "host_ed25519")
    client_public = _keypair(openssh.keygen, folder / "client_ed25519")
    authorized = folder / "authorized_keys"
    authorized.write_text(client_public + "\n")
    port = _free_port()
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public}\n")
    config = _config(folder, port, folder / "host_ed25519", authorized, username)
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    home = folder / "home"
    home.mkdir()
    log = folder / "sshd.log"
    with log.open("wb") as log_file:
        # Its own session, so that teardown stops the per-connection children it forks as well.
        process = subprocess.Popen(
            [openssh.sshd, "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_port(process, port, log)
        yield SftpServer(
            "127.0.0.1", port, username, folder / "client_ed25519", known_hosts, home, log, process.pid, openssh.sftp
        )
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    # Sessions still closing may outlive the listener briefly; they are in the same group.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
