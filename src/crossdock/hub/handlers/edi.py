"""The EDI desk: numbers every interchange queued for a trading partner from the partner's gap-free sequences, in the
transaction that queues its delivery, and records it (with a customer's own item ids, kept from its orders);
matches the partner's functional acknowledgements (997 / CONTRL) to what was sent, opening exceptions for
rejections, answers for nothing sent and answers that never came; and lets a refused inbound interchange still be
answered. Must not: know a wire format (the partner's sender plans and renders
the file, its intake adapter builds the refusal) or read configuration (bootstrap passes PartnerTerms).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from crossdock.domain import catalog
from crossdock.domain import edi_acknowledgements as rules
from crossdock.domain.events import Envelope
from crossdock.hub import inbox
from crossdock.hub.handlers import exceptions
from crossdock.hub.handlers.exceptions import Problem, open_exception
from crossdock.hub.outbox import Numbering
from crossdock.hub.ports import (
    CONTROL_NUMBERS,
    CrossReference,
    DeliveryStatus,
    ExceptionAction,
    InterchangePlanner,
    NewDelivery,
    PlannedInterchange,
    RefusalAnswerer,
    SentInterchange,
    StoredEvent,
    StoredMessage,
    Timer,
    UnitOfWork,
)
from crossdock.hub.router import HandlerContext, Router
from crossdock.hub.timers import Publish, Timers, desk_job

log = logging.getLogger(__name__)

ACKNOWLEDGEMENT_TIMER = "edi.acknowledgement"
INTERCHANGE_KIND = "edi_interchange"  # what the desk's exceptions are about: "<partner>:<interchange number>"
AWAITING = "awaiting"
NOT_EXPECTED = "not_expected"
# Who closes an overdue exception once the late answer came; its exception.resolved is not a decision to carry out.
RULE_ACTOR = "crossdock/edi"
# Control-number sequences, per partner: X12 interchange and group, EDIFACT interchange reference.
ISA13, GS06, UNB0020 = "ISA13", "GS06", "UNB0020"
# A customer's own item ids are cross-references of this kind, the partner's name as the system; a delivery to the
# customer carries those of its skus under this field (the EDI sender's BUYER_ITEMS: the same name on both sides).
ITEM, CUSTOMER, BUYER_ITEMS = "item", "customer", "buyeritems"


@dataclass(frozen=True)
class PartnerTerms:
    """What configuration says about one partner's envelopes: its role, the range its control numbers run in
    (after `last` comes `first` again), and how long it has to acknowledge an interchange (None: it does not)."""

    role: str
    first: int = 1
    last: int = 999_999_999
    acknowledge_within: timedelta | None = timedelta(hours=24)


@dataclass
class EdiDesk:
    planners: Mapping[str, InterchangePlanner]  # destination name -> its sender
    partners: Mapping[str, PartnerTerms]

    def register(self, router: Router, timers: Timers, publish: Publish) -> None:
        router.register(catalog.EdiAcknowledgementReceived.event_type, self.on_acknowledgement)
        router.register(catalog.EdiItemIdsReceived.event_type, self.on_item_ids)
        timers.register(ACKNOWLEDGEMENT_TIMER, desk_job(self.overdue, publish, partition_by=("delivery_id",)))

    # --- numbering, in the transaction that queues the deliveries ----------------------------------------------

    def numbering(self) -> dict[str, Numbering]:
        """The outbox's numbering hook for every destination that writes files for a partner: new events and
        resends alike are numbered as they are queued (bootstrap hands this to the outbox)."""
        return dict.fromkeys(self.planners, self.number)

    def number(self, uow: UnitOfWork, stored: StoredEvent, delivery: NewDelivery, now: datetime) -> NewDelivery | None:
        """The delivery the outbox built, carrying the control numbers taken for it and recorded as a sent
        interchange; None when it was numbered before (its delivery was queued then, with its numbers), or when the
        file would be about another customer's order (nothing is queued for this partner: no file, no number)."""
        if uow.interchanges.get(delivery.id) is not None:
            return None
        event = stored.envelope
        planned = self.planners[delivery.destination].plan(event)
        if planned is None:
            return delivery
        if not _for_this_customer(uow, planned):
            return None
        terms = self.partners.get(planned.partner, PartnerTerms(role=""))
        interchange, group = self._take(uow, planned, terms)
        within = terms.acknowledge_within if planned.acknowledged else None
        due = rules.due_by(now, within)
        uow.interchanges.save(
            SentInterchange(
                delivery_id=delivery.id,
                partner=planned.partner,
                standard=planned.standard,
                interchange=f"{interchange:09d}",
                group=str(group) if group is not None else None,
                functional_id=planned.functional_id,
                sets=planned.sets,
                document=planned.document,
                business_key=planned.business_key,
                event_id=event.id,
                queued_at=now,
                due_by=due,
                status=AWAITING if due is not None else NOT_EXPECTED,
            )
        )
        if due is not None:
            # The earliest it can be overdue: it cannot have been sent before it was queued. The job looks again.
            _arm(uow, delivery.id, due)
        payload = {**delivery.payload, CONTROL_NUMBERS: {"interchange": interchange, "group": group}}
        if terms.role == CUSTOMER:
            items = _partner_items(uow, planned.partner, event.data)
            if items:
                payload[BUYER_ITEMS] = items
        return replace(delivery, payload=payload)

    def _take(self, uow: UnitOfWork, planned: PlannedInterchange, terms: PartnerTerms) -> tuple[int, int | None]:
        numbers = uow.control_numbers
        span = {"first": terms.first, "last": terms.last}
        if planned.standard == "x12":
            return numbers.take(planned.partner, ISA13, **span), numbers.take(planned.partner, GS06, **span)
        return numbers.take(planned.partner, UNB0020, **span), None

    # --- acknowledgements ------------------------------------------------------------------------------------

    def on_acknowledgement(self, event: Envelope, ctx: HandlerContext) -> None:
        """Match each acknowledged group to the interchange that carried it (partner + GS06): an acceptance clears
        it, errors or a rejection open an exception naming what was sent, and a group naming nothing we sent opens
        one too. A late answer closes the overdue exception it ends. A CONTRL is matched by the interchange it
        names instead (UCI: our UNB 0020)."""
        ack = catalog.payload_as(event, catalog.EdiAcknowledgementReceived)
        role = self.partners.get(ack.partner, PartnerTerms(role="")).role
        if ack.acknowledges is not None:
            self._match_interchange(ctx, ack, role)
            return
        for group in ack.groups:
            found = ctx.uow.interchanges.find(partner=ack.partner, group=group.control_number, limit=1)
            sent = found[0] if found else None
            finding = rules.judge(group, _view(sent) if sent is not None else None)
            if sent is None or finding.sent is None:
                about = f"{ack.partner}:ack {ack.interchange}:group {group.functional_id} {group.control_number}"
                self._open(ctx, role, rules.UNMATCHED, about, rules.message(finding, ack.interchange))
                continue
            about = _about(sent)
            ctx.uow.interchanges.save(
                replace(
                    sent,
                    status=finding.verdict.value,
                    sent_at=sent.sent_at or self._sent_at(ctx.uow, sent),
                    acknowledged_at=ctx.now,
                    acknowledgement=f"{ack.interchange}: " + "; ".join(finding.details),
                )
            )
            self._close(ctx, about, rules.OVERDUE, f"acknowledged late by {ack.interchange}")
            code = finding.reason_code
            if code is not None:
                self._open(ctx, role, code, about, rules.message(finding, ack.interchange))

    def _match_interchange(self, ctx: HandlerContext, ack: catalog.EdiAcknowledgementReceived, role: str) -> None:
        """Every group of the acknowledgement judged against the one interchange it names; the worst finding is the
        interchange's verdict and speaks in the exception (a CONTRL accepting the interchange in UCI but rejecting
        its message in UCM rejects it)."""
        named = _reference(ack.acknowledges or "")
        found = ctx.uow.interchanges.find(partner=ack.partner, interchange=named, limit=1)
        sent = found[0] if found else None
        view = _view(sent) if sent is not None else None
        findings = [rules.judge(group, view, standard=ack.standard) for group in ack.groups]
        finding = rules.worst(findings)
        if sent is None:
            about = f"{ack.partner}:ack {ack.interchange}:interchange {named}"
            text = rules.message(finding, ack.interchange, acknowledges=named)
            self._open(ctx, role, rules.UNMATCHED, about, text)
            return
        about = _about(sent)
        ctx.uow.interchanges.save(
            replace(
                sent,
                status=rules.status_of(findings).value,
                sent_at=sent.sent_at or self._sent_at(ctx.uow, sent),
                acknowledged_at=ctx.now,
                acknowledgement=f"{ack.interchange}: " + "; ".join(d for f in findings for d in f.details),
            )
        )
        self._close(ctx, about, rules.OVERDUE, f"acknowledged late by {ack.interchange}")
        if finding.reason_code is not None:
            self._open(ctx, role, finding.reason_code, about, rules.message(finding, ack.interchange))

    # --- cross-references ---------------------------------------------------------------------------------------

    def on_item_ids(self, event: Envelope, ctx: HandlerContext) -> None:
        """A customer's order named our items by its own part numbers: each is kept as a cross-reference (kind
        item, system the partner), so that the 856 and 810 going back name them the same way. A sku already known
        under another of their numbers keeps the first (the store links one to one); that is logged, not raised:
        the order itself went through."""
        named = catalog.payload_as(event, catalog.EdiItemIdsReceived)
        xrefs = ctx.uow.xrefs
        for item in named.items:
            if xrefs.external_id(ITEM, named.partner, item.sku) == item.partner_item:
                continue
            try:
                with ctx.uow.savepoint():
                    xrefs.link(CrossReference(ITEM, named.partner, item.sku, item.partner_item), ctx.now)
            except ValueError as exc:
                log.warning(
                    "order %s of %s names %s as %s %s, not linked: %s",
                    named.order,
                    named.partner,
                    item.sku,
                    named.qualifier,
                    item.partner_item,
                    exc,
                )

    # --- overdue ------------------------------------------------------------------------------------------------

    def overdue(self, ctx: HandlerContext, timer: Timer) -> None:
        """An interchange still awaiting its answer: once it was written, the partner has `acknowledge_within`
        from then; past that, its desk is asked, once. Not written yet (retrying, or a dead letter that may be
        replayed), the clock has not started: look again later."""
        sent = ctx.uow.interchanges.get(str(timer.payload["delivery_id"]))
        if sent is None or sent.status != AWAITING:
            return
        terms = self.partners.get(sent.partner, PartnerTerms(role=""))
        within = terms.acknowledge_within
        if within is None:
            return
        sent_at = sent.sent_at or self._sent_at(ctx.uow, sent)
        if sent_at is None:
            _arm(ctx.uow, sent.delivery_id, ctx.now + within)
            return
        due = sent_at + within
        ctx.uow.interchanges.save(replace(sent, sent_at=sent_at, due_by=due))
        if due > ctx.now:
            _arm(ctx.uow, sent.delivery_id, due)
            return
        text = rules.overdue_message(_view(sent), sent_at, due)
        self._open(ctx, terms.role, rules.OVERDUE, _about(sent), text)

    def _sent_at(self, uow: UnitOfWork, sent: SentInterchange) -> datetime | None:
        """When the file was written: the delivery's own record, or when it was queued if that was pruned."""
        delivery = uow.outbox.get(sent.delivery_id)
        if delivery is None:
            return sent.queued_at
        return delivery.delivered_at if delivery.status is DeliveryStatus.DELIVERED else None

    # --- exceptions ---------------------------------------------------------------------------------------------

    def _open(self, ctx: HandlerContext, role: str, code: str, about: str, text: str) -> None:
        problem = Problem(
            owner=rules.owner_for(role), reason_code=code, about_kind=INTERCHANGE_KIND, about_key=about, message=text
        )
        open_exception(ctx, problem)

    def _close(self, ctx: HandlerContext, about: str, code: str, note: str) -> None:
        ident = exceptions.exception_id(INTERCHANGE_KIND, about, code, "")
        exception = ctx.uow.exceptions.get(ident)
        if exception is None or exception.resolved_at is not None:
            return
        action = ExceptionAction(action=catalog.ExceptionAction.ACCEPT.value, actor=RULE_ACTOR, at=ctx.now, note=note)
        ctx.uow.exceptions.act(ident, action, resolve=True)
        resolution = catalog.ExceptionResolved(
            exception=ident, action=catalog.ExceptionAction.ACCEPT, resolved_by=RULE_ACTOR, note=note
        )
        ctx.emit(exceptions.RESOLVED, ident, catalog.data_of(resolution), partitionkey=about)


def _arm(uow: UnitOfWork, ident: str, due: datetime) -> None:
    uow.timers.schedule(
        Timer(
            key=f"{ACKNOWLEDGEMENT_TIMER}:{ident}@{due.isoformat()}",
            kind=ACKNOWLEDGEMENT_TIMER,
            due_at=due,
            payload={"delivery_id": ident},
        )
    )


def _reference(named: str) -> str:
    """Our interchange numbers are written nine digits wide; a partner may echo one without its leading zeros."""
    return f"{int(named):09d}" if named.isdigit() and len(named) <= 9 else named


def _skus(data: object) -> set[str]:
    """Every sku a canonical document names (its lines' or its own): the items the file will carry."""
    if isinstance(data, dict):
        found = {v for k, v in data.items() if k == "sku" and isinstance(v, str)}
        return found.union(*(_skus(v) for k, v in data.items() if k != "sku"))
    if isinstance(data, list):
        return set().union(*(_skus(v) for v in data))
    return set()


def _partner_items(uow: UnitOfWork, partner: str, data: Mapping[str, object]) -> dict[str, str]:
    """The partner's own ids for the skus an event names, where its orders told us them."""
    found = {sku: uow.xrefs.external_id(ITEM, partner, sku) for sku in sorted(_skus(data))}
    return {sku: item for sku, item in found.items() if item is not None}


def _for_this_customer(uow: UnitOfWork, planned: PlannedInterchange) -> bool:
    """A file the sender marked as one customer's (an 856 names only the order) goes only when the hub holds the order
    as that customer's; an order it does not hold is no one's yet, so nothing goes (never another customer's goods)."""
    if planned.order is None or planned.customer is None:
        return True
    record = uow.orders.load(planned.order)
    return record is not None and record.customer_id == planned.customer


def _about(sent: SentInterchange) -> str:
    return f"{sent.partner}:{sent.interchange}"


def _view(sent: SentInterchange) -> rules.Sent:
    return rules.Sent(
        partner=sent.partner,
        interchange=sent.interchange,
        group=sent.group,
        functional_id=sent.functional_id,
        sets=sent.sets,
        document=sent.document,
    )


@dataclass
class AnsweringProcessor(inbox.Processor):
    """The processor, plus: a message from a trading partner that failed is still answered (a 997 or CONTRL
    rejecting it) when its envelope can be read, the first time it fails. The message stays failed, with its reason,
    replayable after a fix; a replay that fails again does not answer the partner twice."""

    answerers: Mapping[str, RefusalAnswerer] = field(default_factory=dict)

    def process(self, uow: UnitOfWork, messages: Sequence[StoredMessage], now: datetime) -> inbox.Processed:
        done = super().process(uow, messages, now)
        for message in messages:
            reason = done.failed.get(message.id)
            answerer = self.answerers.get(message.source)
            if reason is None or answerer is None or message.replays:
                continue
            try:
                with uow.savepoint():
                    answer = answerer.answer_refusal(message, reason)
                    if answer:
                        self.publish(uow, answer, message.id, now)
            except self.store_errors:
                raise
            except Exception as exc:  # noqa: BLE001 - the message stays failed with its own reason; logged
                log.warning("refused message %s from %s could not be answered: %s", message.id, message.source, exc)
        return done


__all__ = ["ACKNOWLEDGEMENT_TIMER", "AnsweringProcessor", "EdiDesk", "PartnerTerms"]
