"""EDI intake for one trading partner: an X12 or EDIFACT file in, canonical events out. identify() reads the
envelopes for the dedupe key (sender + ISA13 + every GS06/ST02, or sender + UNB reference + message references);
to_events() maps every set by its id and the partner's role. It must not move files or send acknowledgements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from crossdock.connectors import edifact, x12
from crossdock.connectors.edi.profiles import Profile
from crossdock.connectors.edifact import contrl
from crossdock.connectors.edifact import mapping as edifact_mapping
from crossdock.connectors.x12 import mapping as x12_mapping
from crossdock.domain import catalog, procurement
from crossdock.domain.errors import CrossdockError
from crossdock.domain.events import Envelope, derive_id
from crossdock.hub.errors import MappingError
from crossdock.hub.ports import Identity, StoredMessage

# Where each set keeps the business key its events are known by (first found wins).
_X12_KEYS: Mapping[str, tuple[tuple[str, int], ...]] = {
    "850": (("BEG", 3),),
    "855": (("BAK", 3),),
    "856": (("PRF", 1), ("BSN", 2)),
    "810": (("BIG", 4), ("BIG", 2)),
    "945": (("W06", 2),),
    "940": (("W05", 2),),
}


@dataclass(frozen=True)
class Document:
    """One canonical fact found in an interchange, before it is wrapped: its payload, key and place."""

    payload: catalog.Payload
    subject: str
    place: tuple[str, ...]  # partner, interchange, group, transaction, index: the event id's parts


@dataclass(frozen=True)
class Reading:
    """What one file held, mapped: the documents in file order, then one interchange_received per interchange."""

    documents: tuple[Document, ...]
    interchanges: tuple[catalog.EdiInterchangeReceived, ...]
    warnings: tuple[str, ...] = ()


class EdiInbound:
    """The intake adapter of a source fed by one trading partner's interchanges."""

    def __init__(self, source: str, profile: Profile) -> None:
        self.source = source
        self.profile = profile
        self._rules = profile.x12_rules() if profile.standard == "x12" else None
        self._x12_leniency = profile.x12_leniency() if profile.standard == "x12" else x12.DEFAULT
        self._edifact_leniency = profile.edifact_leniency() if profile.standard == "edifact" else edifact.STRICT
        self._options = profile.edifact_options() if profile.standard == "edifact" else None

    # -- intake -----------------------------------------------------------------------------------------------

    def identify(self, body: bytes, headers: Mapping[str, str]) -> Identity:
        if self.profile.standard == "x12":
            return self._identify_x12(body)
        return self._identify_edifact(body)

    def _identify_x12(self, body: bytes) -> Identity:
        reading = x12.read(body, self._x12_leniency)
        if not reading.interchanges:
            raise x12.X12Refused(reading.issues)
        parts = []
        business_key = None
        for interchange in reading.interchanges:
            sets = ",".join(f"{g.control_number}/{t.control_number}" for g, t in interchange.transactions())
            parts.append(f"{interchange.sender_qualifier}/{interchange.sender_id}:{interchange.control_number}:{sets}")
            for _, tx in interchange.transactions():
                business_key = business_key or _x12_key(tx)
        return Identity(key="x12:" + ";".join(parts), business_key=business_key, partition_key=business_key)

    def _identify_edifact(self, body: bytes) -> Identity:
        interchanges = edifact.read(body, self._edifact_leniency)
        if not interchanges:
            raise MappingError("edifact: the file holds no interchange (UNB)")
        parts = []
        business_key = None
        for interchange in interchanges:
            refs = ",".join(m.reference for m in _messages(interchange))
            parts.append(f"{interchange.header.value(2, 1)}:{interchange.reference}:{refs}")
            for message in _messages(interchange):
                business_key = business_key or (_edifact_key(message) or None)
        return Identity(key="edifact:" + ";".join(parts), business_key=business_key, partition_key=business_key)

    def to_events(self, message: StoredMessage) -> list[Envelope]:
        read = self.read(message.body)
        events = [self._envelope(d.payload, d.subject, d.place, message) for d in read.documents]
        for received in read.interchanges:
            subject = f"{self.profile.name}:{received.interchange}"
            place = (self.profile.name, received.interchange, "interchange")
            events.append(self._envelope(received, subject, place, message))
        return events

    def _envelope(
        self, payload: catalog.Payload, subject: str, place: tuple[str, ...], message: StoredMessage
    ) -> Envelope:
        return Envelope(
            id=derive_id("edi", *place),
            source=f"crossdock/{self.source}",
            type=catalog.type_of(payload),
            subject=subject,
            time=message.received_at,
            data=catalog.data_of(payload),
            partitionkey=subject,
            correlationid=message.headers.get("x-correlation-id"),
            traceparent=message.headers.get("traceparent"),
        )

    def answer_refusal(self, message: StoredMessage, reason: str) -> list[Envelope]:
        """A refused file still owes its sender an answer when its envelope can be read: one interchange_received
        per interchange saying rejected, every set in it rejected (none was taken in), with the engine's AK3/AK4
        errors where it found them, so that the partner's destination answers with a 997 (AK9 R) or a CONTRL
        (action 4). A file whose ISA / UNB cannot be read gets none: there is no one to address it to."""
        try:
            if self.profile.standard == "x12":
                rejected = self._x12_rejections(message.body)
            else:
                rejected = self._edifact_rejections(message.body)
        except (x12.X12Error, edifact.EdifactError, MappingError, ValueError):
            return []
        return [
            self._envelope(
                received.model_copy(update={"issues": [*received.issues, reason]}),
                f"{self.profile.name}:{received.interchange}",
                (self.profile.name, received.interchange, "refusal", str(message.id)),
                message,
            )
            for received in rejected
        ]

    def _x12_rejections(self, body: bytes) -> list[catalog.EdiInterchangeReceived]:
        reading = x12.read(body, self._x12_leniency)
        out = []
        for index, interchange in enumerate(reading.interchanges):
            unsupported = set()
            for group, tx in interchange.transactions():
                try:
                    list(self._x12_documents(interchange, group, tx))
                except MappingError as exc:
                    if "mapping-unsupported-set" in str(exc):
                        unsupported.add((group.control_number, tx.control_number))
            received = self._x12_received(interchange, reading.issues, index)
            groups = [_all_rejected(g, unsupported) for g in received.groups]
            out.append(received.model_copy(update={"groups": groups, "status": catalog.InterchangeStatus.REJECTED}))
        return out

    def _edifact_rejections(self, body: bytes) -> list[catalog.EdiInterchangeReceived]:
        out = []
        for interchange in edifact.read(body, self._edifact_leniency):
            received = self._edifact_received(interchange)
            groups = [
                g.model_copy(
                    update={
                        "status": "R",
                        "accepted": 0,
                        "transactions": [t.model_copy(update={"status": _CONTRL_REJECTED}) for t in g.transactions],
                    }
                )
                for g in received.groups
            ]
            out.append(received.model_copy(update={"groups": groups, "status": catalog.InterchangeStatus.REJECTED}))
        return out

    # -- reading and mapping (pure; also used by the command line) ----------------------------------------------

    def read(self, body: bytes) -> Reading:
        """Every canonical document of a file, or a MappingError naming the rule and the place."""
        if self.profile.standard == "x12":
            return self._read_x12(body)
        return self._read_edifact(body)

    def _read_x12(self, body: bytes) -> Reading:
        assert self._rules is not None
        reading = x12.read(body, self._x12_leniency)
        if reading.errors or not reading.interchanges:
            raise x12.X12Refused(reading.issues)
        documents: list[Document] = []
        received: list[catalog.EdiInterchangeReceived] = []
        for index, interchange in enumerate(reading.interchanges):
            for group, tx in interchange.transactions():
                documents.extend(self._x12_documents(interchange, group, tx))
            received.append(self._x12_received(interchange, reading.issues, index))
        return Reading(tuple(documents), tuple(received), tuple(str(w) for w in reading.warnings))

    def _x12_documents(
        self, interchange: x12.Interchange, group: x12.FunctionalGroup, tx: x12.Transaction
    ) -> Iterator[Document]:
        assert self._rules is not None
        rules, role = self._rules, self.profile.role
        where = f"interchange {interchange.control_number}, group {group.control_number}"
        base = (self.profile.name, interchange.control_number, group.control_number, tx.control_number)

        def doc(payload: catalog.Payload, subject: str, n: int = 0) -> Document:
            return Document(payload, subject, (*base, str(n)))

        try:
            if tx.set_id == "850" and role == "customer":
                order = x12_mapping.sales_order_from_850(tx, rules)
                yield doc(catalog.OrderReceived(order=order), order.number)
                named = x12_mapping.buyer_items_from_850(tx, rules)
                if named:
                    items = tuple(catalog.PartnerItem(sku=sku, partner_item=bp) for sku, bp in named.items())
                    ids = catalog.EdiItemIdsReceived(
                        partner=self.profile.name, order=order.number, qualifier=BUYER_PART, items=items
                    )
                    yield doc(ids, order.number, 1)
            elif tx.set_id == "855" and role == "supplier":
                ack = x12_mapping.acknowledgement_from_855(tx, rules)
                yield doc(catalog.PurchaseOrderAcknowledged(acknowledgement=ack), ack.order)
            elif tx.set_id == "856" and role == "supplier":
                for n, notice in enumerate(x12_mapping.ship_notices_from_856(tx, rules)):
                    yield doc(catalog.ShipNoticeReceived(notice=notice), notice.order, n)
            elif tx.set_id == "810" and role == "supplier":
                invoice = x12_mapping.supplier_invoice_from_810(tx, rules)
                yield doc(catalog.SupplierInvoiceReceived(invoice=invoice), invoice.order)
            elif tx.set_id == "945" and role == "3pl":
                shipment = x12_mapping.shipment_from_945(tx, rules)
                yield doc(catalog.ShipmentConfirmed(shipment=shipment), shipment.order)
            elif tx.set_id == "997":
                yield doc(
                    self._x12_acknowledgement(interchange, tx), f"{self.profile.name}:{interchange.control_number}"
                )
            else:
                raise x12_mapping.X12MappingError(
                    f"mapping-unsupported-set: a {tx.set_id} from a {role} partner ({self.profile.name}) is not mapped",
                    set_id=tx.set_id,
                    control_number=tx.control_number,
                )
        except MappingError as exc:
            raise MappingError(f"{where}, {exc}") from None
        except (ValidationError, CrossdockError) as exc:
            raise MappingError(f"{where}, {tx.set_id} {tx.control_number}: {_describe(exc)}") from None

    def _x12_acknowledgement(self, interchange: x12.Interchange, tx: x12.Transaction) -> catalog.Payload:
        ack = x12.read_acknowledgement(tx)
        return catalog.EdiAcknowledgementReceived(
            partner=self.profile.name, standard="x12", interchange=interchange.control_number, groups=[_group(ack)]
        )

    def _x12_received(
        self, interchange: x12.Interchange, issues: Sequence[x12.Issue], index: int
    ) -> catalog.EdiInterchangeReceived:
        groups = [
            _group(x12.read_acknowledgement(x12.acknowledgement_for(interchange, issues, g, index=index)), group)
            for g, group in enumerate(interchange.groups)
        ]
        mine = [i for i in issues if i.place.interchange_index in (index, None)]
        return catalog.EdiInterchangeReceived(
            partner=self.profile.name,
            standard="x12",
            interchange=interchange.control_number,
            sender_qualifier=interchange.sender_qualifier,
            sender=interchange.sender_id,
            receiver_qualifier=interchange.receiver_qualifier,
            receiver=interchange.receiver_id,
            version=interchange.version,
            status=_status(g.status for g in groups),
            groups=groups,
            issues=[str(i) for i in mine],
        )

    def _read_edifact(self, body: bytes) -> Reading:
        assert self._options is not None
        interchanges = edifact.parse(body, self._edifact_leniency)
        documents: list[Document] = []
        received: list[catalog.EdiInterchangeReceived] = []
        role, name = self.profile.role, self.profile.name
        for interchange in interchanges:
            for message in _messages(interchange):
                base = (name, interchange.reference, _group_of(interchange, message), message.reference)
                where = f"interchange {interchange.reference}, message {message.reference} ({message.type})"
                try:
                    if message.type == "CONTRL":
                        subject = f"{name}:{interchange.reference}"
                        report = _contrl_acknowledgement(name, interchange, message)
                        documents.append(Document(report, subject, (*base, "0")))
                    elif message.type == "ORDERS" and role == "customer":
                        order, _ = edifact_mapping.to_sales_order(message, interchange, self._options)
                        if self.profile.settings.customer:
                            order = order.model_copy(update={"customer": self.profile.settings.customer})
                        documents.append(Document(catalog.OrderReceived(order=order), order.number, (*base, "0")))
                    elif message.type == "DESADV" and role == "3pl":
                        shipments, _ = edifact_mapping.to_shipments(message, interchange, self._options)
                        for n, shipment in enumerate(shipments):
                            payload = catalog.ShipmentConfirmed(shipment=shipment)
                            documents.append(Document(payload, shipment.order, (*base, str(n))))
                    elif message.type in edifact_mapping.FROM_SUPPLIERS and role == "supplier":
                        found = edifact_mapping.from_supplier(
                            message,
                            interchange,
                            self._options,
                            supplier=self.profile.supplier_number,
                            transit_days=self.profile.settings.transit_days,
                        )
                        for n, answer in enumerate(found):
                            event, subject = _supplier_payload(answer)
                            documents.append(Document(event, subject, (*base, str(n))))
                    else:
                        raise MappingError(
                            f"mapping-unsupported-message: a {message.type} from a {role} partner ({name}) "
                            "is not mapped"
                        )
                except MappingError as exc:
                    raise MappingError(f"{where}: {exc}") from None
                except (ValidationError, CrossdockError) as exc:
                    raise MappingError(f"{where}: {_describe(exc)}") from None
            received.append(self._edifact_received(interchange))
        warnings = tuple(str(w) for i in interchanges for w in i.warnings)
        return Reading(tuple(documents), tuple(received), warnings)

    def _edifact_received(self, interchange: edifact.Interchange) -> catalog.EdiInterchangeReceived:
        # A parsed interchange has no errors (parse refuses them): every message is acknowledged (CONTRL action 7).
        groups = []
        for reference, messages in _edifact_groups(interchange):
            groups.append(
                catalog.AcknowledgedGroup(
                    functional_id=messages[0].type if messages else "",
                    control_number=reference,
                    status="A",
                    included=len(messages),
                    received=len(messages),
                    accepted=len(messages),
                    transactions=[
                        catalog.AcknowledgedTransaction(set_id=m.type, control_number=m.reference, status="7")
                        for m in messages
                    ],
                )
            )
        header = interchange.header
        return catalog.EdiInterchangeReceived(
            partner=self.profile.name,
            standard="edifact",
            interchange=interchange.reference,
            sender=header.value(2, 1),
            sender_qualifier=header.value(2, 2),
            receiver=header.value(3, 1),
            receiver_qualifier=header.value(3, 2),
            version=f"{header.value(1, 1)}:{header.value(1, 2)}",
            status=catalog.InterchangeStatus.ACCEPTED,
            groups=groups,
            issues=[str(w) for w in interchange.warnings],
        )


def _x12_key(tx: x12.Transaction) -> str | None:
    for tag, position in _X12_KEYS.get(tx.set_id, ()):
        for segment in tx.segments:
            if segment.tag == tag:
                value = segment.value(position).strip()
                if value:
                    return value
                break
    return None


def _edifact_key(message: edifact.Message) -> str:
    for segment in message.segments:
        if segment.tag == "BGM":
            return segment.value(2, 1).strip()
    return ""


def _messages(interchange: edifact.Interchange) -> Iterator[edifact.Message]:
    yield from interchange.messages
    for group in interchange.groups:
        yield from group.messages


def _group_of(interchange: edifact.Interchange, message: edifact.Message) -> str:
    for group in interchange.groups:
        if message in group.messages:
            return group.reference
    return ""


def _edifact_groups(interchange: edifact.Interchange) -> Iterator[tuple[str, tuple[edifact.Message, ...]]]:
    if interchange.messages:
        yield "", interchange.messages
    for group in interchange.groups:
        yield group.reference, group.messages


def _group(ack: x12.GroupAcknowledgement, received: x12.FunctionalGroup | None = None) -> catalog.AcknowledgedGroup:
    """The event's form of a 997's group: from a built one (received given: ST03s echoed) or a partner's."""
    st03 = {t.control_number: t.implementation_reference for t in received.transactions} if received else {}
    return catalog.AcknowledgedGroup(
        functional_id=ack.functional_id,
        control_number=ack.group_control_number,
        version=ack.version or (received.version if received else ""),
        status=ack.status,
        included=ack.included,
        received=ack.received,
        accepted=ack.accepted_count,
        codes=list(ack.codes),
        transactions=[
            catalog.AcknowledgedTransaction(
                set_id=t.set_id,
                control_number=t.control_number,
                status=t.status,
                codes=list(t.codes),
                errors=[
                    catalog.AcknowledgedError(
                        segment=s.tag,
                        position=s.position,
                        code=e.code if e else s.code,
                        element=e.position if e else None,
                        component=e.component if e else None,
                        value=e.bad_value if e else "",
                    )
                    for s in t.segments
                    for e in (s.elements or (None,))
                ],
                implementation_reference=st03.get(t.control_number),
            )
            for t in ack.transactions
        ],
    )


def _status(statuses: Iterable[str]) -> catalog.InterchangeStatus:
    found = set(statuses)
    if found <= {"A"}:
        return catalog.InterchangeStatus.ACCEPTED
    if found <= {"A", "E"}:
        return catalog.InterchangeStatus.ACCEPTED_WITH_ERRORS
    if found == {"R"}:
        return catalog.InterchangeStatus.REJECTED
    return catalog.InterchangeStatus.PARTIALLY_ACCEPTED


def _supplier_payload(document: edifact_mapping.SupplierDocument) -> tuple[catalog.Payload, str]:
    """The event a supplier's document becomes, and its subject: the purchase order it answers."""
    if isinstance(document, procurement.POAcknowledgement):
        return catalog.PurchaseOrderAcknowledged(acknowledgement=document), document.order
    if isinstance(document, procurement.AdvanceShipNotice):
        return catalog.ShipNoticeReceived(notice=document), document.order
    return catalog.SupplierInvoiceReceived(invoice=document), document.order


_CONTRL_REJECTED = "4"  # EDIFACT 0083: rejected
BUYER_PART = "BP"  # X12 235: the buyer's part number, the id a customer's 855 / 856 / 810 echo


def _contrl_acknowledgement(
    partner: str, interchange: edifact.Interchange, message: edifact.Message
) -> catalog.EdiAcknowledgementReceived:
    """A partner's CONTRL as the acknowledgement event: `acknowledges` its UCI reference (our UNB 0020), then one
    group for the interchange itself (UCI action and code, the UCMs outside any group) and one per UCF. Groups take
    X12's letters (7 acknowledged and 8 received: A, 4: R) so both standards are judged alike; messages keep the
    UCM action (7 or 4) with their UCS / UCD errors."""
    try:
        report = contrl.read_contrl(message, interchange.place())
    except edifact.EdifactValidationError as exc:
        raise MappingError(str(exc)) from None
    for action, where in (
        (report.action, "UCI"),
        *((g.action, f"UCF {g.reference}") for g in report.groups),
        *((m.action, f"UCM {m.reference}") for m in report.messages),
    ):
        if action not in contrl.ACTIONS:
            raise MappingError(f"contrl-action: {where} action {action!r} is not 7 (acknowledged), 4 or 8")
    if not report.interchange:
        raise MappingError("contrl-reference: the UCI names no interchange reference")

    def transactions(group: str | None) -> list[catalog.AcknowledgedTransaction]:
        return [
            catalog.AcknowledgedTransaction(
                set_id=m.message_type,
                control_number=m.reference,
                status=m.action,
                codes=[m.code] if m.code else [],
                errors=[error for s in m.segments for error in _contrl_errors(s)],
            )
            for m in report.messages
            if m.group == group
        ]

    def group(
        reference: str, action: str, code: str, found: list[catalog.AcknowledgedTransaction]
    ) -> catalog.AcknowledgedGroup:
        types = {t.set_id for t in found}
        return catalog.AcknowledgedGroup(
            functional_id=types.pop() if len(types) == 1 else "",
            control_number=reference,
            status="R" if action == contrl.REJECTED else "A",
            codes=[code] if code else [],
            received=len(found) or None,
            accepted=sum(1 for t in found if t.status == contrl.ACCEPTED) if found else None,
            transactions=found,
        )

    groups = [group("", report.action, report.code, transactions(None))]
    groups.extend(group(g.reference, g.action, g.code, transactions(g.reference)) for g in report.groups)
    return catalog.EdiAcknowledgementReceived(
        partner=partner,
        standard="edifact",
        interchange=interchange.reference,
        acknowledges=report.interchange,
        groups=groups,
    )


def _contrl_errors(segment: contrl.SegmentError) -> Iterator[catalog.AcknowledgedError]:
    # UCS names a segment by its position only (UNH = 1); its tag is not in the report.
    if segment.code or not segment.elements:
        yield catalog.AcknowledgedError(segment="", position=segment.position, code=segment.code)
    for e in segment.elements:
        yield catalog.AcknowledgedError(
            segment="", position=segment.position, code=e.code, element=e.position or None, component=e.component
        )


_X12_UNSUPPORTED = "1"  # X12 718 (AK502): transaction set not supported


def _all_rejected(group: catalog.AcknowledgedGroup, unsupported: set[tuple[str, str]]) -> catalog.AcknowledgedGroup:
    """The group as refused: the file was not taken in, so no set of it was either, whatever its own status."""
    transactions = []
    for t in group.transactions:
        codes = list(t.codes)
        if (group.control_number, t.control_number) in unsupported and _X12_UNSUPPORTED not in codes:
            codes.append(_X12_UNSUPPORTED)
        transactions.append(t.model_copy(update={"status": "R", "codes": codes}))
    return group.model_copy(update={"status": "R", "accepted": 0, "transactions": transactions})


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)
