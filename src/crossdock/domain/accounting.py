"""Postings: posting rules that turn financial facts into balanced journal entries, and the ledger they go into.

Owns: the balanced-entry invariant, account mapping, sequencing, idempotency and closed periods (money is rounded
by domain.money). Must not: read a clock, touch storage, or know documents' shapes: callers pass plain values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crossdock.domain.catalog import ExceptionOwner
from crossdock.domain.errors import MissingAccount, UnbalancedEntry
from crossdock.domain.events import derive_id
from crossdock.domain.money import minor_units, round_money, smallest_amount

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_PERIOD = re.compile(PERIOD_PATTERN)
Period = Annotated[str, Field(pattern=PERIOD_PATTERN, description="An accounting month, 'YYYY-MM'.")]
Account = Annotated[str, Field(min_length=1, description="An account code of the chart of accounts.")]
ZERO = Decimal(0)


# --- periods -------------------------------------------------------------------------------------------------


def period_of(day: date) -> str:
    """The accounting month a date falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def first_day(period: str) -> date:
    """The first day of an accounting month."""
    if not _PERIOD.match(period):
        raise ValueError(f"period {period!r} must look like 'YYYY-MM'")
    return date(int(period[:4]), int(period[5:]), 1)


def next_period(period: str) -> str:
    """The month after this one."""
    start = first_day(period)
    return period_of(date(start.year + start.month // 12, start.month % 12 + 1, 1))


# --- journal entries ----------------------------------------------------------------------------------------


class PostingRule(StrEnum):
    """Which financial fact an entry records; part of the entry id, so one fact posts once per rule."""

    INVOICE = "invoice"
    SHIPMENT = "shipment"
    PAYMENT = "payment"
    PREPAYMENT_APPLICATION = "prepayment_application"
    PREPAYMENT_RELEASE = "prepayment_release"
    CREDIT_MEMO = "credit_memo"
    GOODS_RECEIPT = "goods_receipt"
    SUPPLIER_INVOICE = "supplier_invoice"
    ACCRUAL_REVALUATION = "accrual_revaluation"


class SourceRef(BaseModel):
    """The document and event an entry was posted from, for audit and drill-down."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1)
    document_type: str = Field(min_length=1, description="e.g. 'invoice', 'shipment', 'payment'.")
    document_number: str = Field(min_length=1)
    reverses: str | None = Field(default=None, description="The document number a reversal undoes.")


class JournalLine(BaseModel):
    """One side of a posting: an account debited or credited by a positive amount."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: Account
    debit: Decimal = Field(default=ZERO, ge=0)
    credit: Decimal = Field(default=ZERO, ge=0)
    memo: str = ""

    @model_validator(mode="after")
    def _one_side(self) -> JournalLine:
        if (self.debit > 0) == (self.credit > 0):
            raise ValueError(f"line on {self.account} must have either a debit or a credit, and not both")
        return self

    @property
    def signed(self) -> Decimal:
        """Debit positive, credit negative: how the line moves its account's balance."""
        return self.debit - self.credit


class JournalEntry(BaseModel):
    """A balanced double-entry journal entry; constructing an unbalanced one raises UnbalancedEntry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    sequence: int | None = Field(default=None, ge=1, description="Set when posted: gap-free per ledger.")
    period: Period
    date: date
    currency: str
    rule: PostingRule
    source: SourceRef
    lines: tuple[JournalLine, ...] = Field(min_length=1)
    memo: str = ""
    moved_from_period: Period | None = Field(default=None, description="The closed period it was dated in.")

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        minor_units(value)
        return value

    @model_validator(mode="after")
    def _balanced(self) -> JournalEntry:
        if self.period != period_of(self.date):
            raise ValueError(f"entry dated {self.date} cannot belong to period {self.period}")
        for line in self.lines:
            for amount in (line.debit, line.credit):
                if amount != round_money(amount, self.currency):
                    raise ValueError(f"amount {amount} on {line.account} is finer than {self.currency} allows")
        # Not a ValueError: an unbalanced entry is a broken rule, and callers catch it by name.
        if self.total_debit != self.total_credit:
            raise UnbalancedEntry(self.id, self.total_debit, self.total_credit, self.currency)
        return self

    @property
    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)


def entry_id(rule: PostingRule, document_number: str) -> str:
    """The id a document's entry gets under a rule. Keyed on the business document, not the event that carried
    it: the same invoice or payment sent again under a new message id still posts once."""
    return derive_id("journal", rule.value, document_number)


def balances(entries: Iterable[JournalEntry]) -> dict[tuple[str, str], Decimal]:
    """Balance per (account, currency), debit positive: a trial balance of the given entries."""
    totals: dict[tuple[str, str], Decimal] = {}
    for entry in entries:
        for line in entry.lines:
            key = (line.account, entry.currency)
            totals[key] = totals.get(key, ZERO) + line.signed
    return totals


# --- account mapping -----------------------------------------------------------------------------------------


class AccountRole(StrEnum):
    """What an account is used for by the posting rules; the AccountMap says which account plays each role."""

    RECEIVABLE = "receivable"
    REVENUE = "revenue"
    TAX_PAYABLE = "tax_payable"
    COGS = "cogs"
    INVENTORY = "inventory"
    CASH = "cash"
    CUSTOMER_CREDIT = "customer_credit"
    # Money taken for an order before it is invoiced (a liability until applied). Optional in the AccountMap, like the
    # procure-to-pay roles below: estates that take no prepayments keep their configuration.
    CUSTOMER_DEPOSIT = "customer_deposit"
    # Procure to pay. Optional in the AccountMap, so estates that only sell keep their configuration; a posting that
    # needs one that is not configured raises MissingAccount.
    PAYABLES = "payables"
    GR_IR = "gr_ir"  # goods received / invoice received clearing: accrued at receipt, cleared by the invoice
    PRICE_VARIANCE = "price_variance"
    TAX_RECEIVABLE = "tax_receivable"  # input tax reclaimable on supplier invoices


PROCUREMENT_ROLES = frozenset(
    {AccountRole.PAYABLES, AccountRole.GR_IR, AccountRole.PRICE_VARIANCE, AccountRole.TAX_RECEIVABLE}
)


class AccountOverrides(BaseModel):
    """Accounts that replace the defaults for one channel or one item class; unset roles keep the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    receivable: Account | None = None
    revenue: Account | None = None
    tax_payable: Account | None = None
    cogs: Account | None = None
    inventory: Account | None = None
    cash: Account | None = None
    customer_credit: Account | None = None
    payables: Account | None = None
    gr_ir: Account | None = None
    price_variance: Account | None = None
    tax_receivable: Account | None = None


class AccountMap(BaseModel):
    """Which account each posting role uses: configuration, read by the caller and passed in.

    Precedence, most specific first: the item class's override, then the channel's, then the default. Item
    class decides what was sold (goods or services, which stock account); channel decides who owes the money
    (a marketplace clearing account, a card processor's cash account). Tax codes pick their own tax account.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    receivable: Account
    revenue: Account
    tax_payable: Account
    cogs: Account
    inventory: Account
    cash: Account
    customer_credit: Account
    customer_deposit: Account | None = Field(
        default=None,
        description="Prepayments held until their order's invoices post. One account for every channel: a prepayment "
        "may arrive before its order, so before the hub knows the channel, and what it puts in is what is taken out.",
    )
    payables: Account | None = None
    gr_ir: Account | None = None
    price_variance: Account | None = None
    tax_receivable: Account | None = None
    rounding: Account | None = Field(
        default=None, description="Where rounding differences go; without it a difference is an UnbalancedEntry."
    )
    rounding_tolerance: int = Field(
        default=1, ge=0, description="Largest rounding difference taken, in minor units per document line."
    )
    channels: dict[str, AccountOverrides] = Field(default_factory=dict)
    item_classes: dict[str, AccountOverrides] = Field(default_factory=dict)
    tax_codes: dict[str, Account] = Field(default_factory=dict)

    def account(self, role: AccountRole, *, channel: str | None = None, item_class: str | None = None) -> str:
        """The account playing this role for a channel and item class. Raises MissingAccount for a role nothing
        configures (only the procure-to-pay roles and the customer deposit may be left out)."""
        for overrides in (self.item_classes.get(item_class or ""), self.channels.get(channel or "")):
            chosen: str | None = getattr(overrides, role.value, None) if overrides is not None else None
            if chosen is not None:
                return chosen
        default: str | None = getattr(self, role.value)
        if default is None:
            raise MissingAccount(role.value)
        return default

    def tax_account(self, tax_code: str | None, *, channel: str | None = None, item_class: str | None = None) -> str:
        """The tax payable account: the tax code's own if it has one, else as any other role."""
        if tax_code is not None and tax_code in self.tax_codes:
            return self.tax_codes[tax_code]
        return self.account(AccountRole.TAX_PAYABLE, channel=channel, item_class=item_class)


# --- posting rules -------------------------------------------------------------------------------------------


class SalesLine(BaseModel):
    """What one invoice (or credit memo) line is worth: net revenue and its tax, before rounding."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    net: Decimal = Field(ge=0)
    tax: Decimal = Field(default=ZERO, ge=0)
    item_class: str | None = None
    tax_code: str | None = None


class CostLine(BaseModel):
    """Stock that left at cost: quantity times unit cost, before rounding."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: Decimal = Field(ge=0)
    unit_cost: Decimal = Field(ge=0)
    item_class: str | None = None


# A journal line before it is one: account, signed amount (debit positive), memo.
_Draft = tuple[str, Decimal, str]


def entry_for_invoice(
    *,
    event_id: str,
    invoice_number: str,
    day: date,
    currency: str,
    lines: Sequence[SalesLine],
    accounts: AccountMap,
    channel: str | None = None,
    total: Decimal | None = None,
) -> JournalEntry | None:
    """Invoice posted: Dr receivable (the total) / Cr revenue / Cr tax payable. None when it is worth nothing.

    `total` is the amount billed, when the invoice states one; it may differ from the sum of rounded lines
    (tax computed on the total), and that difference goes to the rounding account if one is configured.
    """
    drafts = _sales_drafts(lines, invoice_number, currency, accounts, channel, sign=-1)
    receivable = accounts.account(AccountRole.RECEIVABLE, channel=channel)
    owed = round_money(total, currency) if total is not None else -sum((d[1] for d in drafts), ZERO)
    drafts.insert(0, (receivable, owed, f"receivable {invoice_number}"))
    return _entry(
        rule=PostingRule.INVOICE,
        source=SourceRef(event_id=event_id, document_type="invoice", document_number=invoice_number),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=len(lines),
        memo=f"invoice {invoice_number}",
    )


def entry_for_credit_memo(
    *,
    event_id: str,
    credit_memo_number: str,
    invoice_number: str | None,
    day: date,
    currency: str,
    lines: Sequence[SalesLine],
    accounts: AccountMap,
    channel: str | None = None,
    total: Decimal | None = None,
) -> JournalEntry | None:
    """Credit memo posted: the reversal of the invoice lines it credits (Dr revenue / Dr tax / Cr receivable).

    Pass the credited lines as the invoice mapped them (same item class, tax code and channel) so the same
    accounts are reversed. `invoice_number` is None for a credit memo that credits no one invoice (a goodwill
    credit), as documents.CreditMemo allows: it then reduces the customer's receivable as a whole.
    """
    drafts = _sales_drafts(lines, credit_memo_number, currency, accounts, channel, sign=1)
    receivable = accounts.account(AccountRole.RECEIVABLE, channel=channel)
    owed = round_money(total, currency) if total is not None else sum((d[1] for d in drafts), ZERO)
    credited = f"receivable {invoice_number}" if invoice_number is not None else "receivable"
    drafts.append((receivable, -owed, f"{credited} credited by {credit_memo_number}"))
    return _entry(
        rule=PostingRule.CREDIT_MEMO,
        source=SourceRef(
            event_id=event_id,
            document_type="credit_memo",
            document_number=credit_memo_number,
            reverses=invoice_number,
        ),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=len(lines),
        memo=f"credit memo {credit_memo_number}" + (f" reversing invoice {invoice_number}" if invoice_number else ""),
    )


def entry_for_shipment(
    *,
    event_id: str,
    shipment_number: str,
    day: date,
    currency: str,
    lines: Sequence[CostLine],
    accounts: AccountMap,
    channel: str | None = None,
) -> JournalEntry | None:
    """Shipment confirmed: Dr cost of goods sold / Cr inventory, at cost. None when the goods cost nothing."""
    drafts = _stock_transfer(
        [(round_money(line.quantity * line.unit_cost, currency), line.item_class) for line in lines],
        accounts,
        channel,
        debit=(AccountRole.COGS, f"cost of goods sold {shipment_number}"),
        credit=(AccountRole.INVENTORY, f"inventory out {shipment_number}"),
    )
    return _entry(
        rule=PostingRule.SHIPMENT,
        source=SourceRef(event_id=event_id, document_type="shipment", document_number=shipment_number),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=len(lines),
        memo=f"shipment {shipment_number}",
    )


def _stock_transfer(
    values: Sequence[tuple[Decimal, str | None]],
    accounts: AccountMap,
    channel: str | None,
    *,
    debit: tuple[AccountRole, str],
    credit: tuple[AccountRole, str],
) -> list[_Draft]:
    """Per line (value, item class): the same value debited to one role's account and credited to another's,
    each chosen for the line's item class, as goods move in or out of stock."""
    drafts: list[_Draft] = []
    for value, item_class in values:
        drafts.append((accounts.account(debit[0], channel=channel, item_class=item_class), value, debit[1]))
        drafts.append((accounts.account(credit[0], channel=channel, item_class=item_class), -value, credit[1]))
    return drafts


def entry_for_payment(
    *,
    event_id: str,
    payment_number: str,
    day: date,
    currency: str,
    amount: Decimal,
    open_receivable: Decimal,
    accounts: AccountMap,
    channel: str | None = None,
) -> JournalEntry | None:
    """Payment applied: Dr cash / Cr receivable up to what is open; the rest is Cr customer credit.

    `open_receivable` is what the customer owes on what this payment applies to, as the caller's state knows it.
    """
    if amount < 0 or open_receivable < 0:
        raise ValueError(f"payment {payment_number}: amount and open receivable cannot be negative")
    received = round_money(amount, currency)
    applied = min(received, round_money(open_receivable, currency))
    drafts: list[_Draft] = [
        (accounts.account(AccountRole.CASH, channel=channel), received, f"received {payment_number}"),
        (accounts.account(AccountRole.RECEIVABLE, channel=channel), -applied, f"applied {payment_number}"),
        (
            accounts.account(AccountRole.CUSTOMER_CREDIT, channel=channel),
            applied - received,
            f"overpayment {payment_number} held as customer credit",
        ),
    ]
    return _entry(
        rule=PostingRule.PAYMENT,
        source=SourceRef(event_id=event_id, document_type="payment", document_number=payment_number),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=1,
        memo=f"payment {payment_number}",
    )


def entry_for_prepayment(
    *,
    event_id: str,
    payment_number: str,
    order_number: str,
    day: date,
    currency: str,
    amount: Decimal,
    accounts: AccountMap,
    channel: str | None = None,
) -> JournalEntry | None:
    """Prepayment received for an order not invoiced yet: Dr cash / Cr customer deposit, the whole amount. Posted
    under the payment rule, so a payment posts its cash once whichever way it is sent again."""
    if amount < 0:
        raise ValueError(f"prepayment {payment_number}: the amount cannot be negative")
    received = round_money(amount, currency)
    drafts: list[_Draft] = [
        (accounts.account(AccountRole.CASH, channel=channel), received, f"received {payment_number}"),
        (accounts.account(AccountRole.CUSTOMER_DEPOSIT), -received, f"held for order {order_number}"),
    ]
    return _entry(
        rule=PostingRule.PAYMENT,
        source=SourceRef(event_id=event_id, document_type="payment", document_number=payment_number),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=1,
        memo=f"prepayment {payment_number} for order {order_number}",
    )


def entry_for_prepayment_application(
    *,
    event_id: str,
    payment_number: str,
    order_number: str,
    application: int,
    invoice_number: str,
    day: date,
    currency: str,
    amount: Decimal,
    accounts: AccountMap,
    channel: str | None = None,
) -> JournalEntry | None:
    """Part of a prepayment settles an invoice: Dr customer deposit / Cr receivable (the invoice's channel, as the
    invoice debited it). `application` numbers the order's applications (1, 2, ...); with the order it keys the
    entry, because one prepayment may settle one invoice in two steps."""
    if amount < 0:
        raise ValueError(f"prepayment {payment_number}: an applied amount cannot be negative")
    applied = round_money(amount, currency)
    drafts: list[_Draft] = [
        (accounts.account(AccountRole.CUSTOMER_DEPOSIT), applied, f"applied {payment_number} to {invoice_number}"),
        (accounts.account(AccountRole.RECEIVABLE, channel=channel), -applied, f"receivable {invoice_number}"),
    ]
    return _entry(
        rule=PostingRule.PREPAYMENT_APPLICATION,
        source=SourceRef(event_id=event_id, document_type="payment", document_number=payment_number),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=1,
        memo=f"prepayment {payment_number} applied to invoice {invoice_number}",
        identity=(order_number, str(application)),
    )


def entry_for_prepayment_release(
    *,
    event_id: str,
    payment_number: str,
    order_number: str,
    day: date,
    currency: str,
    amount: Decimal,
    accounts: AccountMap,
) -> JournalEntry | None:
    """The order ended with part of a prepayment unapplied: Dr customer deposit / Cr customer credit, the same
    credit account an overpayment goes to. Once per prepayment and order. None when nothing is left."""
    if amount < 0:
        raise ValueError(f"prepayment {payment_number}: a released amount cannot be negative")
    left = round_money(amount, currency)
    drafts: list[_Draft] = [
        (accounts.account(AccountRole.CUSTOMER_DEPOSIT), left, f"released {payment_number}"),
        (accounts.account(AccountRole.CUSTOMER_CREDIT), -left, f"{payment_number} unapplied: customer credit"),
    ]
    return _entry(
        rule=PostingRule.PREPAYMENT_RELEASE,
        source=SourceRef(event_id=event_id, document_type="payment", document_number=payment_number),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=1,
        memo=f"prepayment {payment_number} left over when order {order_number} ended",
        identity=(order_number, payment_number),
    )


class ReceivedLine(BaseModel):
    """Goods received in good condition on one PO line: quantity times the PO's unit price, before rounding."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: Decimal = Field(ge=0)
    unit_price: Decimal = Field(ge=0, description="The purchase order's price, not the invoice's.")
    item_class: str | None = None


class SupplierInvoiceLine(BaseModel):
    """One approved supplier invoice line: what was billed, and the PO price its receipt was accrued at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: Decimal = Field(ge=0)
    unit_price: Decimal = Field(ge=0, description="As invoiced.")
    po_unit_price: Decimal = Field(ge=0, description="As ordered: the price the goods receipt accrued.")
    item_class: str | None = None


def entry_for_goods_receipt(
    *,
    event_id: str,
    receipt_number: str,
    day: date,
    currency: str,
    lines: Sequence[ReceivedLine],
    accounts: AccountMap,
    channel: str | None = None,
) -> JournalEntry | None:
    """Goods received: Dr inventory / Cr GR/IR clearing, at the PO's prices (each line rounded). None when the
    goods are worth nothing. The accrual says "we owe for goods we hold" before any invoice says how much."""
    drafts = _stock_transfer(
        [(round_money(line.quantity * line.unit_price, currency), line.item_class) for line in lines],
        accounts,
        channel,
        debit=(AccountRole.INVENTORY, f"inventory in {receipt_number}"),
        credit=(AccountRole.GR_IR, f"received not invoiced {receipt_number}"),
    )
    return _entry(
        rule=PostingRule.GOODS_RECEIPT,
        source=SourceRef(event_id=event_id, document_type="goods_receipt", document_number=receipt_number),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=len(lines),
        memo=f"goods receipt {receipt_number}",
    )


def entry_for_supplier_invoice(
    *,
    event_id: str,
    invoice_number: str,
    day: date,
    currency: str,
    lines: Sequence[SupplierInvoiceLine],
    tax: Decimal,
    accounts: AccountMap,
    channel: str | None = None,
    total: Decimal | None = None,
) -> JournalEntry | None:
    """Supplier invoice approved: Dr GR/IR clearing (the invoiced quantity at the PO price: what its receipt
    accrued) / Dr price variance (invoiced less PO value, a credit when cheaper) / Dr tax receivable / Cr payables.

    Each line's invoiced value and PO value are rounded on their own, so the variance is their difference and a
    line invoiced at the PO price clears exactly what its receipt accrued. `total` is what the supplier billed,
    when stated; a difference from the lines plus tax goes to the rounding account within its tolerance, and is
    an UnbalancedEntry beyond it (an invoice that does not add up is the match's business, not posting's).
    """
    if tax < 0:
        raise ValueError(f"supplier invoice {invoice_number}: tax cannot be negative")
    drafts: list[_Draft] = []
    for line in lines:
        accrued = round_money(line.quantity * line.po_unit_price, currency)
        billed = round_money(line.quantity * line.unit_price, currency)
        clearing = accounts.account(AccountRole.GR_IR, channel=channel, item_class=line.item_class)
        drafts.append((clearing, accrued, f"received and invoiced {invoice_number}"))
        if billed != accrued:
            variance = accounts.account(AccountRole.PRICE_VARIANCE, channel=channel, item_class=line.item_class)
            drafts.append((variance, billed - accrued, f"purchase price variance {invoice_number}"))
    tax_amount = round_money(tax, currency)
    if tax_amount:
        reclaimable = accounts.account(AccountRole.TAX_RECEIVABLE, channel=channel)
        drafts.append((reclaimable, tax_amount, f"input tax {invoice_number}"))
    owed = round_money(total, currency) if total is not None else sum((d[1] for d in drafts), ZERO)
    drafts.append((accounts.account(AccountRole.PAYABLES, channel=channel), -owed, f"payable {invoice_number}"))
    return _entry(
        rule=PostingRule.SUPPLIER_INVOICE,
        source=SourceRef(event_id=event_id, document_type="supplier_invoice", document_number=invoice_number),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=len(lines),
        memo=f"supplier invoice {invoice_number}",
    )


class RevaluedLine(BaseModel):
    """Goods received and not yet invoiced whose PO price changed after they were accrued."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quantity: Decimal = Field(ge=0)
    old_unit_price: Decimal = Field(ge=0)
    new_unit_price: Decimal = Field(ge=0)
    item_class: str | None = None


def entry_for_accrual_revaluation(
    *,
    event_id: str,
    reference: str,
    day: date,
    currency: str,
    lines: Sequence[RevaluedLine],
    accounts: AccountMap,
    channel: str | None = None,
) -> JournalEntry | None:
    """A PO price changed for goods already accrued: Dr inventory / Cr GR/IR by the difference (the other way round
    when the price fell), so that the invoice, cleared at the new price, nets the clearing account to zero.

    `reference` names the change (an acknowledgement or a PO revision): one change revalues once. Each value is
    the difference of two rounded amounts, as the receipt and the invoice round them. None when nothing moves."""
    drafts: list[_Draft] = []
    for line in lines:
        change = round_money(line.quantity * line.new_unit_price, currency) - round_money(
            line.quantity * line.old_unit_price, currency
        )
        stock = accounts.account(AccountRole.INVENTORY, channel=channel, item_class=line.item_class)
        clearing = accounts.account(AccountRole.GR_IR, channel=channel, item_class=line.item_class)
        drafts.append((stock, change, f"inventory revalued {reference}"))
        drafts.append((clearing, -change, f"received not invoiced revalued {reference}"))
    return _entry(
        rule=PostingRule.ACCRUAL_REVALUATION,
        source=SourceRef(event_id=event_id, document_type="purchase_order_change", document_number=reference),
        day=day,
        currency=currency,
        drafts=drafts,
        accounts=accounts,
        document_lines=len(lines),
        memo=f"accrual revalued by {reference}",
    )


def _sales_drafts(
    lines: Sequence[SalesLine], number: str, currency: str, accounts: AccountMap, channel: str | None, *, sign: int
) -> list[_Draft]:
    # An invoice credits revenue and tax (sign -1); its credit memo debits the very same accounts (sign +1).
    drafts: list[_Draft] = []
    for line in lines:
        revenue = accounts.account(AccountRole.REVENUE, channel=channel, item_class=line.item_class)
        drafts.append((revenue, sign * round_money(line.net, currency), f"revenue {number}"))
        tax = accounts.tax_account(line.tax_code, channel=channel, item_class=line.item_class)
        drafts.append((tax, sign * round_money(line.tax, currency), f"tax {number}"))
    return drafts


def _entry(
    *,
    rule: PostingRule,
    source: SourceRef,
    day: date,
    currency: str,
    drafts: list[_Draft],
    accounts: AccountMap,
    document_lines: int,
    memo: str,
    identity: tuple[str, ...] | None = None,
) -> JournalEntry | None:
    """Nets drafts per account, adds a configured rounding line, and builds the (validated) entry. The entry is keyed
    on its source document, or on `identity` when one document posts several entries under the rule."""
    ident = (
        derive_id("journal", rule.value, *identity) if identity is not None else entry_id(rule, source.document_number)
    )
    # One line per account keeps entries short; the first memo seen for an account describes it.
    netted: dict[str, tuple[Decimal, str]] = {}
    for account, amount, line_memo in drafts:
        previous, first_memo = netted.get(account, (ZERO, line_memo))
        netted[account] = (previous + amount, first_memo)
    difference = sum((amount for amount, _ in netted.values()), ZERO)
    tolerance = smallest_amount(currency) * accounts.rounding_tolerance * max(document_lines, 1)
    if difference != 0 and accounts.rounding is not None and abs(difference) <= tolerance:
        previous, first_memo = netted.get(accounts.rounding, (ZERO, "rounding difference"))
        netted[accounts.rounding] = (previous - difference, first_memo)
    lines = tuple(
        JournalLine(account=account, debit=max(amount, ZERO), credit=max(-amount, ZERO), memo=line_memo)
        for account, (amount, line_memo) in netted.items()
        if amount != 0
    )
    if not lines:
        return None
    # An imbalance left here (no rounding account, or beyond tolerance) makes JournalEntry raise UnbalancedEntry.
    return JournalEntry(
        id=ident,
        period=period_of(day),
        date=day,
        currency=currency,
        rule=rule,
        source=source,
        lines=lines,
        memo=memo,
    )


# --- the ledger ---------------------------------------------------------------------------------------------


class ClosedPeriodPolicy(StrEnum):
    """What posting does with an entry dated in a closed period; configuration, never a per-call whim."""

    NEXT_OPEN_PERIOD = "next_open_period"  # post it on the first day of the next open period, saying so
    EXCEPTION = "exception"  # hold it and ask finance


class HoldReason(StrEnum):
    """Why an entry was held for finance instead of posted: a stable code for exception queues."""

    PERIOD_CLOSED = "period_closed"


class LedgerState(BaseModel):
    """What posting needs to know of a ledger: its last sequence number, what it holds, which months are closed.

    A month is open unless it is listed as closed. `posted_ids` needs only the ids of the entries being posted
    when the caller's store can answer "is this id posted?"; a unique constraint there backs it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ledger: str = Field(min_length=1)
    last_sequence: int = Field(default=0, ge=0)
    posted_ids: frozenset[str] = frozenset()
    closed_periods: frozenset[Period] = frozenset()

    def is_open(self, period: str) -> bool:
        return period not in self.closed_periods

    def next_open_period(self, period: str) -> str:
        """The first open month after this one (there always is one: only finitely many are closed)."""
        candidate = next_period(period)
        while not self.is_open(candidate):
            candidate = next_period(candidate)
        return candidate


def close_period(state: LedgerState, period: str) -> LedgerState:
    """The ledger with this month closed to posting."""
    first_day(period)
    return state.model_copy(update={"closed_periods": state.closed_periods | {period}})


def reopen_period(state: LedgerState, period: str) -> LedgerState:
    """The ledger with this month open to posting again."""
    return state.model_copy(update={"closed_periods": state.closed_periods - {period}})


class HeldEntry(BaseModel):
    """An entry not posted because finance must decide: the exception to open, with its owner and reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exception_id: str = Field(description="Stable per entry and reason, so holding it again opens nothing new.")
    owner: ExceptionOwner = ExceptionOwner.FINANCE
    reason_code: HoldReason
    detail: str
    entry: JournalEntry


class PostingResult(BaseModel):
    """The ledger after posting, the entries actually posted (with sequences), and those held or repeated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: LedgerState
    posted: tuple[JournalEntry, ...] = ()
    held: tuple[HeldEntry, ...] = ()
    repeated: tuple[str, ...] = Field(default=(), description="Ids already in the ledger: posted nothing.")


def post(
    state: LedgerState, entries: Iterable[JournalEntry], *, closed_period_policy: ClosedPeriodPolicy
) -> PostingResult:
    """Post entries in order: repeats post nothing, sequences continue without gaps, closed months are respected."""
    posted: list[JournalEntry] = []
    held: list[HeldEntry] = []
    repeated: list[str] = []
    seen = set(state.posted_ids)
    sequence = state.last_sequence
    for entry in entries:
        if entry.id in seen:
            repeated.append(entry.id)
            continue
        dated = entry
        if not state.is_open(entry.period):
            if closed_period_policy is ClosedPeriodPolicy.EXCEPTION:
                held.append(_hold(entry))
                continue
            dated = _move_to_next_open_period(state, entry)
        sequence += 1
        seen.add(entry.id)
        # Only the sequence changes, and it plays no part in balance: copying without re-validating is safe.
        posted.append(dated.model_copy(update={"sequence": sequence}))
    new_state = state.model_copy(
        update={"last_sequence": sequence, "posted_ids": state.posted_ids | {done.id for done in posted}}
    )
    return PostingResult(state=new_state, posted=tuple(posted), held=tuple(held), repeated=tuple(repeated))


def _hold(entry: JournalEntry) -> HeldEntry:
    reason = HoldReason.PERIOD_CLOSED
    return HeldEntry(
        exception_id=derive_id("exception", entry.id, reason.value),
        reason_code=reason,
        detail=f"{entry.memo or entry.id} is dated {entry.date}, in closed period {entry.period}",
        entry=entry,
    )


def _move_to_next_open_period(state: LedgerState, entry: JournalEntry) -> JournalEntry:
    target = state.next_open_period(entry.period)
    day = first_day(target)
    fields: dict[str, Any] = entry.model_dump(exclude={"date", "period", "memo", "moved_from_period"})
    return JournalEntry(
        **fields,
        date=day,
        period=target,
        memo="; ".join(
            filter(None, [entry.memo, f"dated {entry.date} in closed period {entry.period}, posted on {day}"])
        ),
        moved_from_period=entry.period,
    )
