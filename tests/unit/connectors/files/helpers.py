"""Shared pieces for the file transport tests: a clock the test moves, an intake that records what it was handed
(and what was still in inbound at that moment), and the hub's real intake over the in-memory store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from crossdock.connectors.files.client import FolderTransport
from crossdock.connectors.generic.inbound import GenericInbound
from crossdock.connectors.generic.mapping import GenericMapping
from crossdock.hub import inbox
from crossdock.hub.ports import IntakeResult, IntakeStatus, MessageStatus, StoredMessage
from crossdock.storage.memory import MemoryUnitOfWorkFactory
from tests.unit.factories import T0

SOURCE = "acme-files"


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@dataclass
class Handed:
    source: str
    body: bytes
    headers: dict[str, str]
    inbound_then: list[str]  # what inbound held while intake ran: the file must still be there


@dataclass
class RecordingIntake:
    """Stands in for hub.receive: records each call, then answers, fails or refuses as told."""

    inbound: Path
    answer: Callable[[Handed], IntakeResult] = field(
        default=lambda handed: IntakeResult(IntakeStatus.ACCEPTED, 1, MessageStatus.PENDING, T0)
    )
    calls: list[Handed] = field(default_factory=list)

    def __call__(self, source: str, body: bytes, headers: dict[str, str]) -> IntakeResult:
        handed = Handed(source, body, dict(headers), sorted(p.name for p in self.inbound.iterdir()))
        self.calls.append(handed)
        return self.answer(handed)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def partner(root: Path) -> FolderTransport:
    return FolderTransport(root / "acme")


@dataclass
class MemoryHub:
    """The hub's own intake (keys, dedupe, durable store) over the in-memory twin, as hub.receive does it."""

    factory: MemoryUnitOfWorkFactory = field(default_factory=lambda: MemoryUnitOfWorkFactory(lambda: T0))
    intake: inbox.Intake = field(
        default_factory=lambda: inbox.Intake({SOURCE: GenericInbound(SOURCE, GenericMapping(format="raw"))}, shards=4)
    )

    def receive(self, source: str, body: bytes, headers: dict[str, str]) -> IntakeResult:
        return inbox.accept(self.factory(), [self.intake.prepare(source, body, headers, T0)])[0]

    def messages(self) -> list[StoredMessage]:
        with self.factory() as uow:
            return uow.inbox.find(source=SOURCE)
