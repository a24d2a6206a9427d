"""EDI out to one trading partner (the Sender of a destination `kind: edi`): events rendered as 997 / CONTRL, 850,
856 / DESADV, 810 / INVOIC, one file per delivery through the partner's transport. Must not: decide what is owed
(handlers do) or read configuration (it is handed a Profile).

Control numbers derive from the delivery id (a hash, 1 to 999999999), so a retry renders the same bytes under the
same file name and a file written before a crash is overwritten, not doubled. The price: numbers are not a gap-free
sequence per partner, and two deliveries may (rarely) share one. A per-partner sequence kept in storage, allocated
once per delivery and reused on retry, is the step that removes both.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from crossdock.connectors import edifact, x12
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.edifact import mapping as edifact_mapping
from crossdock.connectors.edifact import writer as edifact_writer
from crossdock.connectors.edifact.contrl import ACCEPTED as CONTRL_ACCEPTED
from crossdock.connectors.edifact.contrl import REJECTED as CONTRL_REJECTED
from crossdock.connectors.files.client import Transport
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.connectors.x12.acknowledgement import ACCEPTED as X12_ACCEPTED
from crossdock.domain import catalog
from crossdock.domain.errors import CrossdockError
from crossdock.hub.ports import AttemptOutcome, Delivery, SendResult

INTERCHANGE_RECEIVED = catalog.EdiInterchangeReceived.event_type
PURCHASE_ORDER_RELEASED = catalog.PurchaseOrderReleased.event_type
SHIPMENT_CONFIRMED = catalog.ShipmentConfirmed.event_type
INVOICE_POSTED = catalog.InvoicePosted.event_type
_MAX_CONTROL = 999_999_999
# X12 353 (BEG01): 00 original, 05 replace; a later revision of a PO replaces the terms sent before.
_REPLACE = "05"


class RenderError(ValueError):
    """The event cannot become a file for this partner; retrying will not change that."""


@dataclass(frozen=True)
class Rendered:
    """One file for the partner: its name in the outbound folder and its bytes."""

    name: str
    data: bytes


def control_number(delivery_id: str) -> int:
    """A number from 1 to 999999999 that a delivery id always gives (ISA13 / GS06 / UNB 0020)."""
    digest = hashlib.sha256(delivery_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % _MAX_CONTROL + 1


class EdiSender:
    """A Sender for the outbox: one X12 or EDIFACT file per delivery into the partner's outbound folder. An event
    addressed to another partner (their interchange, another supplier's PO, another customer's invoice) is
    delivered without a file: the subscription is by event type, the partner is read from the event."""

    def __init__(self, profile: Profile, transport: Transport) -> None:
        self.profile = profile
        self.transport = transport
        self._x12 = profile.x12_rules() if profile.standard == "x12" else None
        self._edifact = profile.edifact_options() if profile.standard == "edifact" else None

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        return [self._send_one(delivery) for delivery in deliveries]

    def close(self) -> None:
        self.transport.close()

    def _send_one(self, delivery: Delivery) -> SendResult:
        started = time.perf_counter()
        try:
            rendered = self.render(delivery)
        except RenderError as exc:
            return _result(delivery, AttemptOutcome.PERMANENT, started, str(exc))
        if rendered is None:
            return _result(delivery, AttemptOutcome.DELIVERED, started, None)
        try:
            self.transport.write_outbound(rendered.name, rendered.data)
        except OSError as exc:
            return _result(delivery, AttemptOutcome.RETRYABLE, started, f"cannot write {rendered.name}: {exc}")
        return _result(delivery, AttemptOutcome.DELIVERED, started, None)

    # -- rendering --------------------------------------------------------------------------------------------

    def render(self, delivery: Delivery) -> Rendered | None:
        """The file a delivery becomes, or None when its event is for another partner. RenderError says why an
        event cannot be sent to this partner (unknown type, wrong role, data the mapping refuses)."""
        renderers: Mapping[str, Callable[[Any, int, datetime], Rendered | None]] = {
            INTERCHANGE_RECEIVED: self._acknowledgement,
            PURCHASE_ORDER_RELEASED: self._purchase_order,
            SHIPMENT_CONFIRMED: self._shipment,
            INVOICE_POSTED: self._invoice,
        }
        type_name, data = catalog.upcast(delivery.event_type, _data(delivery))
        renderer = renderers.get(type_name)
        if renderer is None:
            raise RenderError(
                f"edi-unsupported-event: {delivery.event_type} is not sent to trading partners "
                f"(sent: {', '.join(sorted(renderers))})"
            )
        try:
            payload = catalog.EVENT_TYPES[type_name].model_validate(data)
            return renderer(payload, control_number(delivery.id), delivery.created_at)
        except RenderError:
            raise
        except ValidationError as exc:
            raise RenderError(f"{delivery.event_type} event {delivery.event_id}: {_describe(exc)}") from None
        except (x12.X12Error, edifact.EdifactError, CrossdockError, ValueError) as exc:
            raise RenderError(
                f"{delivery.event_type} event {delivery.event_id} to {self.profile.name}: {exc}"
            ) from None

    def _acknowledgement(self, received: catalog.EdiInterchangeReceived, number: int, at: datetime) -> Rendered | None:
        if received.partner != self.profile.name:
            return None
        if received.standard != self.profile.standard:
            raise RenderError(
                f"edi-standard-mismatch: interchange {received.interchange} is {received.standard}, partner "
                f"{self.profile.name} uses {self.profile.standard}"
            )
        if not received.groups:
            raise RenderError(f"interchange {received.interchange} has no group or message to acknowledge")
        if self._x12 is not None:
            acks = [_transaction_997(group, n) for n, group in enumerate(received.groups, start=1)]
            return self._x12_file("997", acks, number, at, renumber=False)
        return self._edifact_file("CONTRL", [self._contrl(received)], number, at)

    def _purchase_order(self, released: catalog.PurchaseOrderReleased, number: int, at: datetime) -> Rendered | None:
        order = released.purchase_order
        self._require_role("supplier", released)
        supplier = self.profile.settings.supplier
        if supplier is not None and order.supplier != supplier:
            return None
        if self._x12 is None:
            raise RenderError(
                f"edi-unsupported-event: purchase orders to EDIFACT partners ({self.profile.name}) are not "
                "rendered yet (ORDERS is mapped from sales orders only)"
            )
        tx = x12_mapping.purchase_order_to_850(order, self._x12)
        if released.revision > 1:
            tx = _with_purpose(tx, _REPLACE)
        return self._x12_file("850", [tx], number, at)

    def _shipment(self, confirmed: catalog.ShipmentConfirmed, number: int, at: datetime) -> Rendered | None:
        self._require_role("customer", confirmed)
        if self._x12 is not None:
            return self._x12_file("856", [x12_mapping.shipment_to_856(confirmed.shipment, self._x12)], number, at)
        assert self._edifact is not None
        message = edifact_mapping.desadv_message(confirmed.shipment, "1", options=self._edifact)
        return self._edifact_file("DESADV", [message], number, at)

    def _invoice(self, posted: catalog.InvoicePosted, number: int, at: datetime) -> Rendered | None:
        self._require_role("customer", posted)
        customer = self.profile.settings.customer
        if customer is not None and posted.invoice.customer != customer:
            return None
        if self._x12 is not None:
            return self._x12_file("810", [x12_mapping.invoice_to_810(posted.invoice, self._x12)], number, at)
        return self._edifact_file("INVOIC", [edifact_mapping.invoic_message(posted.invoice, "1")], number, at)

    def _require_role(self, role: str, payload: catalog.Payload) -> None:
        if self.profile.role != role:
            raise RenderError(
                f"edi-wrong-role: {payload.event_type} goes to {role} partners; {self.profile.name} is a "
                f"{self.profile.role}"
            )

    # -- envelopes --------------------------------------------------------------------------------------------

    def _x12_file(
        self, kind: str, transactions: Sequence[x12.Transaction], number: int, at: datetime, *, renumber: bool = True
    ) -> Rendered:
        assert self._x12 is not None
        # ISA13 and GS06 share the number; ST02 counts from 1 inside the interchange (unique per group, as required).
        controls = x12_mapping.ControlNumbers(interchange=number, group=number, transaction=1 if renumber else None)
        interchange = x12_mapping.build_interchange(self._x12, transactions, controls, at)
        return Rendered(f"{kind}-{number:09d}.edi", x12.write(interchange))

    def _edifact_file(self, kind: str, messages: Sequence[edifact.Message], number: int, at: datetime) -> Rendered:
        s = self.profile.settings
        assert self._edifact is not None
        built = edifact_writer.interchange(
            f"{number:09d}",
            sender=(s.our_id, s.our_qualifier),
            recipient=(s.id, s.qualifier),
            prepared=at.astimezone(self._edifact.timezone),
            messages=messages,
            test=s.usage == "T",
        )
        return Rendered(f"{kind.lower()}-{number:09d}.edi", edifact.render(built))

    def _contrl(self, received: catalog.EdiInterchangeReceived) -> edifact.Message:
        """CONTRL from what the intake recorded: UCI for the interchange, UCF per group, UCM per message."""
        rejected = received.status is catalog.InterchangeStatus.REJECTED
        body = [
            edifact.Segment.of(
                "UCI",
                received.interchange,
                (received.sender, received.sender_qualifier),
                (received.receiver, received.receiver_qualifier),
                CONTRL_REJECTED if rejected else CONTRL_ACCEPTED,
            )
        ]
        version, release = _edifact_version(self.profile.settings.version)
        for group in received.groups:
            if group.control_number:
                group_ok = group.status in ("A", "E") and all(t.status == CONTRL_ACCEPTED for t in group.transactions)
                body.append(
                    edifact.Segment.of("UCF", group.control_number, None, None, _action(group_ok), *group.codes[:1])
                )
            for tx in group.transactions:
                body.append(
                    edifact.Segment.of(
                        "UCM", tx.control_number, (tx.set_id, version, release, "UN"), tx.status, *tx.codes[:1]
                    )
                )
        return edifact_writer.message("1", "CONTRL", body, version="D", release="3")


def _transaction_997(group: catalog.AcknowledgedGroup, number: int) -> x12.Transaction:
    """One 997 for one received group, from the statuses the intake recorded (AK1, AK2-AK5 per set, AK9)."""
    v5 = group.version[:3].isdigit() and int(group.version[:3]) >= 5
    segments = [x12.Segment("AK1", (group.functional_id, group.control_number, *((group.version,) if v5 else ())))]
    for tx in group.transactions:
        reference = (tx.implementation_reference,) if v5 and tx.implementation_reference else ()
        segments.append(x12.Segment("AK2", (tx.set_id, tx.control_number, *reference)))
        segments.extend(_segment_errors(tx.errors))
        segments.append(x12.Segment("AK5", (tx.status, *tx.codes[:5])))
    included = group.included if group.included is not None else len(group.transactions)
    received = group.received if group.received is not None else len(group.transactions)
    accepted = (
        group.accepted if group.accepted is not None else sum(1 for t in group.transactions if t.status in X12_ACCEPTED)
    )
    segments.append(x12.Segment("AK9", (group.status, str(included), str(received), str(accepted), *group.codes[:5])))
    return x12.Transaction(set_id="997", control_number=f"{number:04d}", segments=tuple(segments))


def _segment_errors(errors: Sequence[catalog.AcknowledgedError]) -> Iterator[x12.Segment]:
    by_segment: dict[tuple[int, str], list[catalog.AcknowledgedError]] = {}
    for error in errors:
        by_segment.setdefault((error.position, error.segment), []).append(error)
    for (position, tag), found in sorted(by_segment.items()):
        # A segment-level code travels without an element; with element errors only, AK304 8 says "see AK4".
        own = next((e.code for e in found if e.element is None), "8")
        yield x12.Segment("AK3", (tag, str(position), "", own))
        for e in found:
            if e.element is None:
                continue
            where: str | x12.Composite = str(e.element)
            if e.component is not None:
                where = x12.Composite((str(e.element), str(e.component)))
            yield x12.Segment("AK4", (where, "", e.code, *((e.value,) if e.value else ())))


def _with_purpose(tx: x12.Transaction, purpose: str) -> x12.Transaction:
    segments = tuple(x12.Segment(s.tag, (purpose, *s.elements[1:])) if s.tag == "BEG" else s for s in tx.segments)
    return x12.Transaction(set_id=tx.set_id, control_number=tx.control_number, segments=segments)


def _edifact_version(version: str) -> tuple[str, str]:
    """A profile's EDIFACT version (D96A, D:01B) as UNH S009 version and release; D96A when it says none."""
    cleaned = version.replace(":", "").upper()
    if len(cleaned) >= 4 and cleaned[0].isalpha() and cleaned[1:3].isdigit():
        return cleaned[0], cleaned[1:]
    return "D", "96A"


def _action(accepted: bool) -> str:
    return CONTRL_ACCEPTED if accepted else CONTRL_REJECTED


def _data(delivery: Delivery) -> dict[str, Any]:
    data = delivery.payload.get("data")
    if not isinstance(data, dict):
        raise RenderError(f"{delivery.event_type} event {delivery.event_id} carries no data object")
    return data


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors()[:5])


def _result(delivery: Delivery, outcome: AttemptOutcome, started: float, error: str | None) -> SendResult:
    return SendResult(delivery.id, outcome, None, error, None, (time.perf_counter() - started) * 1000)
