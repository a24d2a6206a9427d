"""Transport only: a 3PL's folders (local or SFTP, connectors/files), seen as two streams: its stock snapshots, and
every other file (confirmations, acknowledgements). Must not: look inside a file; which files are snapshots is
decided by their names."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from crossdock.connectors.files.client import RemoteFile, Transport

DEFAULT_SNAPSHOTS = "stock*.csv"


def is_snapshot(pattern: str, name: str) -> bool:
    """Snapshot files are named by the 3PL's convention, matched without regard to case ('STOCK_20250303.CSV')."""
    return fnmatch.fnmatch(name.lower(), pattern.lower())


@dataclass(frozen=True)
class Stream:
    """The 3PL's transport with only the inbound files of one stream listed; everything else is the transport's.
    Closing is left to the stream that owns the transport, so that the two never close it twice."""

    transport: Transport
    pattern: str
    snapshots: bool
    owner: bool

    def list_inbound(self) -> list[RemoteFile]:
        return [f for f in self.transport.list_inbound() if is_snapshot(self.pattern, f.name) == self.snapshots]

    def read_inbound(self, name: str) -> bytes:
        return self.transport.read_inbound(name)

    def archive(self, name: str, as_name: str) -> str:
        return self.transport.archive(name, as_name)

    def reject(self, name: str, as_name: str, reason: str) -> str:
        return self.transport.reject(name, as_name, reason)

    def write_outbound(self, name: str, data: bytes) -> None:
        self.transport.write_outbound(name, data)

    def close(self) -> None:
        if self.owner:
            self.transport.close()
