"""Transport only: a partner's four folders (inbound, outbound, archive, error) on a local disk or an SFTP server,
behind one small Protocol. Must not: decide when an inbound file is ready (the poller does), look inside a file,
or talk to the hub.

Exception tree::

    OSError
    └── TransportError          the folder or server could not do what was asked (retry later)
        └── FileGone            the file is no longer there (another poller moved it first)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import stat
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, cast

import asyncssh

T = TypeVar("T")

# Names a writer uses while a file is still being written: never read, whatever their age.
TEMP_SUFFIXES = (".tmp", ".part")
REASON_SUFFIX = ".reason.txt"

Folder = Literal["inbound", "outbound", "archive", "error"]


class TransportError(OSError):
    """The partner's folder could not be reached or changed."""


class FileGone(TransportError):
    """The file is no longer in the folder."""


def is_candidate(name: str) -> bool:
    """Whether a name in inbound may ever be read: hidden names and temporary suffixes never are."""
    return bool(name) and not name.startswith(".") and not name.lower().endswith(TEMP_SUFFIXES)


def temp_name(name: str) -> str:
    """Where a file is written before it is renamed into place: hidden and .part, so no reader (ours or a
    partner's following the same rule) can pick it up half-written. Deterministic, so a retry after a crash
    overwrites its own leftover instead of leaving another one."""
    return f".{name}.part"


def plain_name(name: str) -> str:
    """A file name must stay in its folder: no separators, no '.' or '..'."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    return name


def numbered(name: str, n: int) -> str:
    """The n-th alternative to a taken name, extension kept: 'orders.edi' -> 'orders-2.edi'."""
    if n == 0:
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}-{n}.{suffix}" if dot and stem else f"{name}-{n}"


@dataclass(frozen=True)
class Layout:
    """Folder names under a partner's root. A partner's server may call them otherwise ('/out' is our inbound)."""

    inbound: str = "inbound"
    outbound: str = "outbound"
    archive: str = "archive"
    error: str = "error"

    def of(self, folder: Folder) -> str:
        return str(getattr(self, folder))


@dataclass(frozen=True)
class RemoteFile:
    """A file seen in inbound: its size and modification time are what readiness is judged on."""

    name: str
    size: int
    mtime: float


class Transport(Protocol):
    def list_inbound(self) -> list[RemoteFile]:
        """Regular files in inbound whose names may be read (see is_candidate); ready or not."""

    def read_inbound(self, name: str) -> bytes: ...

    def archive(self, name: str, as_name: str) -> str:
        """Move an inbound file to archive under `as_name` (numbered if taken); returns the name used."""

    def reject(self, name: str, as_name: str, reason: str) -> str:
        """Move an inbound file to error, with `<name>.reason.txt` written beside it first."""

    def write_outbound(self, name: str, data: bytes) -> None:
        """Write a file into outbound atomically: a temporary name first, then a rename over `name`."""

    def close(self) -> None: ...


MAX_NUMBERED = 1000


class FolderTransport:
    """A partner's folders on a local (or mounted) file system. Every rename stays on one file system, so it is
    atomic; data is fsynced before the rename and the folder after, so a crash leaves the old or the new name."""

    def __init__(self, root: Path, layout: Layout | None = None, *, create: bool = True) -> None:
        self.root = Path(root)
        self.layout = layout or Layout()
        if create:
            for folder in ("inbound", "outbound", "archive", "error"):
                self._dir(folder).mkdir(parents=True, exist_ok=True)

    def _dir(self, folder: Folder) -> Path:
        return self.root / self.layout.of(folder)

    def list_inbound(self) -> list[RemoteFile]:
        files = []
        with os.scandir(self._dir("inbound")) as entries:
            for entry in entries:
                if not is_candidate(entry.name):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    files.append(RemoteFile(entry.name, info.st_size, info.st_mtime_ns / 1e9))
        return files

    def read_inbound(self, name: str) -> bytes:
        try:
            return (self._dir("inbound") / plain_name(name)).read_bytes()
        except FileNotFoundError as exc:
            raise FileGone(f"{name} is no longer in inbound") from exc

    def archive(self, name: str, as_name: str) -> str:
        return self._move(name, "archive", as_name)

    def reject(self, name: str, as_name: str, reason: str) -> str:
        error = self._dir("error")
        target = self._free(error, as_name, REASON_SUFFIX)
        if not (self._dir("inbound") / plain_name(name)).exists():
            raise FileGone(f"{name} is no longer in inbound")
        self._write_atomically(error, target + REASON_SUFFIX, reason.encode("utf-8"))
        return self._move(name, "error", target)

    def write_outbound(self, name: str, data: bytes) -> None:
        self._write_atomically(self._dir("outbound"), plain_name(name), data)

    def close(self) -> None:
        return None

    def _move(self, name: str, folder: Folder, as_name: str) -> str:
        source = self._dir("inbound") / plain_name(name)
        folder_path = self._dir(folder)
        target = self._free(folder_path, as_name)
        try:
            # Only the hub writes into archive and error, so a name found free stays free until the rename.
            source.rename(folder_path / target)
        except FileNotFoundError as exc:
            raise FileGone(f"{name} is no longer in inbound") from exc
        _fsync_dir(folder_path)
        _fsync_dir(source.parent)
        return target

    @staticmethod
    def _free(folder: Path, name: str, companion: str = "") -> str:
        for n in range(MAX_NUMBERED):
            candidate = numbered(plain_name(name), n)
            if not (folder / candidate).exists() and not (companion and (folder / (candidate + companion)).exists()):
                return candidate
        raise TransportError(f"no free name for {name} in {folder}")

    @staticmethod
    def _write_atomically(folder: Path, name: str, data: bytes) -> None:
        temp = folder / temp_name(name)
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, folder / name)
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable. Some file systems (network mounts) cannot open a directory: nothing to do there."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class SftpSettings:
    """How to reach a partner's SFTP server. The server's host key is always checked against `known_hosts`
    (an OpenSSH known_hosts file); there is no way to turn that off."""

    host: str
    username: str
    known_hosts: str
    port: int = 22
    client_keys: tuple[str, ...] = ()  # private key files (OpenSSH or PEM format)
    passphrase: str | None = None
    password: str | None = None
    root: str = "."  # the partner's folders are under this path on the server
    layout: Layout = field(default_factory=Layout)
    create_folders: bool = False  # a partner's server has its own, and we may not be allowed to create any
    connect_timeout_seconds: float = 15.0
    timeout_seconds: float = 60.0  # for any one operation


class SftpTransport:
    """A partner's folders on an SFTP server, over one connection opened on first use and reopened after a
    failure. Synchronous callers are served by a private event loop thread (asyncssh is asynchronous)."""

    def __init__(self, settings: SftpSettings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-transport", daemon=True)
        self._thread.start()
        self._connection: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._connecting = asyncio.Lock()  # two sends at once must not open two connections

    # ---- the Protocol --------------------------------------------------------------------------------------
    def list_inbound(self) -> list[RemoteFile]:
        async def listing(sftp: asyncssh.SFTPClient) -> list[RemoteFile]:
            files = []
            for entry in await sftp.readdir(self._path("inbound")):
                name = str(entry.filename)
                attrs = entry.attrs
                if not is_candidate(name) or attrs.permissions is None or not stat.S_ISREG(attrs.permissions):
                    continue
                mtime = (attrs.mtime or 0) + (attrs.mtime_ns or 0) / 1e9
                files.append(RemoteFile(name, int(attrs.size or 0), mtime))
            return files

        return self._call(listing)

    def read_inbound(self, name: str) -> bytes:
        path = self._path("inbound", plain_name(name))

        async def read(sftp: asyncssh.SFTPClient) -> bytes:
            try:
                async with sftp.open(path, "rb") as handle:
                    return cast(bytes, await handle.read())  # binary mode: bytes, whatever the stub says
            except asyncssh.SFTPNoSuchFile:
                raise FileGone(f"{name} is no longer in inbound") from None

        return self._call(read)

    def archive(self, name: str, as_name: str) -> str:
        return self._call(lambda sftp: self._move(sftp, name, "archive", as_name))

    def reject(self, name: str, as_name: str, reason: str) -> str:
        async def reject(sftp: asyncssh.SFTPClient) -> str:
            target = await self._free(sftp, "error", as_name, REASON_SUFFIX)
            if not await sftp.exists(self._path("inbound", plain_name(name))):
                raise FileGone(f"{name} is no longer in inbound")
            await self._write_atomically(sftp, "error", target + REASON_SUFFIX, reason.encode("utf-8"))
            return await self._move(sftp, name, "error", target)

        return self._call(reject)

    def write_outbound(self, name: str, data: bytes) -> None:
        self._call(lambda sftp: self._write_atomically(sftp, "outbound", plain_name(name), data))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._disconnect())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    # ---- the work ------------------------------------------------------------------------------------------
    def _path(self, folder: Folder, name: str = "") -> str:
        base = posixpath.join(self.settings.root, self.settings.layout.of(folder))
        return posixpath.join(base, name) if name else base

    async def _move(self, sftp: asyncssh.SFTPClient, name: str, folder: Folder, as_name: str) -> str:
        source = self._path("inbound", plain_name(name))
        for n in range(MAX_NUMBERED):
            target = numbered(plain_name(as_name), n)
            try:
                # Plain SFTP rename never replaces an existing file: a taken name fails and the next is tried.
                await sftp.rename(source, self._path(folder, target))
                return target
            except asyncssh.SFTPNoSuchFile as exc:
                raise FileGone(f"{name} is no longer in inbound") from exc
            except asyncssh.SFTPFailure:
                if not await sftp.exists(source):
                    raise FileGone(f"{name} is no longer in inbound") from None
                if not await sftp.exists(self._path(folder, target)):
                    raise
        raise TransportError(f"no free name for {as_name} in {folder}")

    async def _free(self, sftp: asyncssh.SFTPClient, folder: Folder, name: str, companion: str) -> str:
        for n in range(MAX_NUMBERED):
            candidate = numbered(plain_name(name), n)
            if not await sftp.exists(self._path(folder, candidate)) and not await sftp.exists(
                self._path(folder, candidate + companion)
            ):
                return candidate
        raise TransportError(f"no free name for {name} in {folder}")

    async def _write_atomically(self, sftp: asyncssh.SFTPClient, folder: Folder, name: str, data: bytes) -> None:
        temp = self._path(folder, temp_name(name))
        final = self._path(folder, name)
        async with sftp.open(temp, "wb") as handle:
            await handle.write(data)
            # A server that cannot be asked to flush still gets the rename, which hides a partial file.
            with contextlib.suppress(asyncssh.SFTPOpUnsupported):
                await handle.fsync()
        try:
            await sftp.posix_rename(temp, final)
        except asyncssh.SFTPOpUnsupported:
            # Without OpenSSH's posix-rename the final name is briefly absent, never partial.
            if await sftp.exists(final):
                await sftp.remove(final)
            await sftp.rename(temp, final)

    # ---- connection and loop plumbing ----------------------------------------------------------------------
    def _call(self, work: Callable[[asyncssh.SFTPClient], Awaitable[T]]) -> T:
        """Run `work(sftp)` on the loop; a failure drops the connection so that the next call opens a new one."""

        async def attempt() -> T:
            sftp = await self._client()
            try:
                return await asyncio.wait_for(work(sftp), self.settings.timeout_seconds)
            except (TransportError, ValueError):
                raise
            except asyncssh.SFTPNoSuchFile as exc:
                raise FileGone(str(exc.reason)) from exc
            except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection) as exc:
                await self._disconnect()
                raise TransportError(f"SFTP {self.settings.host}: {exc.reason}") from exc
            except asyncssh.SFTPError as exc:
                # The server answered: the connection is still good.
                raise TransportError(f"SFTP {self.settings.host}: {exc.reason}") from exc
            except (OSError, asyncssh.Error) as exc:
                await self._disconnect()
                raise TransportError(f"SFTP {self.settings.host}: {_describe(exc)}") from exc

        return self._run(attempt())

    async def _client(self) -> asyncssh.SFTPClient:
        async with self._connecting:
            if self._sftp is None:
                self._sftp = await self._connect()
            return self._sftp

    async def _connect(self) -> asyncssh.SFTPClient:
        s = self.settings
        try:
            self._connection = await asyncssh.connect(
                s.host,
                port=s.port,
                username=s.username,
                known_hosts=s.known_hosts,
                client_keys=list(s.client_keys) or None,
                passphrase=s.passphrase,
                password=s.password,
                agent_path=None,
                config=[],  # the settings say everything: no user's ~/.ssh/config is read
                connect_timeout=s.connect_timeout_seconds,
            )
            sftp = await self._connection.start_sftp_client()
            if s.create_folders:
                for folder in ("inbound", "outbound", "archive", "error"):
                    await sftp.makedirs(self._path(folder), exist_ok=True)
        except (OSError, asyncssh.Error) as exc:  # TimeoutError is an OSError
            await self._disconnect()
            raise TransportError(f"cannot open SFTP to {s.host}:{s.port}: {_describe(exc)}") from exc
        return sftp

    async def _disconnect(self) -> None:
        sftp, connection = self._sftp, self._connection
        self._sftp = self._connection = None
        if sftp is not None:
            sftp.exit()
        if connection is not None:
            connection.close()
            await connection.wait_closed()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, asyncssh.Error):
        return f"{exc.__class__.__name__}: {exc.reason}"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
