"""What the order-to-cash handlers are told by configuration: reference data and the rules they apply.

Owns: the one object bootstrap builds from settings and hands to every desk. Must not: read files or settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from crossdock.domain import documents
from crossdock.domain.accounting import AccountMap, ClosedPeriodPolicy
from crossdock.domain.catalog import ExceptionOwner
from crossdock.domain.inventory import AuthorityRules, ChannelBuffers, ReservationPolicy
from crossdock.domain.workflows.order_to_cash import DEFAULT_SLA, PriceList, SlaStage

# Who is asked when an order sits too long in a stage.
SLA_OWNERS: Mapping[SlaStage, ExceptionOwner] = {
    SlaStage.RECEIVED_NOT_VALIDATED: ExceptionOwner.CUSTOMER_SERVICE,
    SlaStage.ACCEPTED_NOT_RESERVED: ExceptionOwner.PROCUREMENT,
    SlaStage.ACCEPTED_NOT_RELEASED: ExceptionOwner.WAREHOUSE,
    SlaStage.RELEASED_NOT_SHIPPED: ExceptionOwner.WAREHOUSE,
    SlaStage.SHIPPED_NOT_INVOICED: ExceptionOwner.FINANCE,
    SlaStage.INVOICED_NOT_PAID: ExceptionOwner.FINANCE,
}


@dataclass(frozen=True)
class OrderToCashPolicy:
    customers: Mapping[str, documents.Customer] = field(default_factory=dict)
    items: Mapping[str, documents.Item] = field(default_factory=dict)
    price_lists: Mapping[str, PriceList] = field(default_factory=dict)
    default_price_list: str | None = None
    price_tolerance_percent: Decimal = Decimal(0)
    reservation_policy: ReservationPolicy = ReservationPolicy.FEWEST_SHIPMENTS
    # Preference order of locations for reservations; empty: every location that holds the sku.
    locations: tuple[str, ...] = ()
    sla: Mapping[SlaStage, timedelta] = field(default_factory=lambda: dict(DEFAULT_SLA))
    # True: the hub bills each shipment itself; False: an ERP posts invoices and the hub only follows them.
    hub_invoices: bool = True
    tax_rate: Decimal = Decimal(0)
    invoice_prefix: str = "INV-"
    channels: tuple[str, ...] = ()
    buffers: ChannelBuffers = field(default_factory=ChannelBuffers)
    authority: AuthorityRules = field(default_factory=AuthorityRules)
    # Movements within this window are announced as one availability change per sku x channel.
    availability_window: timedelta = timedelta(seconds=1)
    accounts: AccountMap | None = None  # None: no journal postings
    ledger: str = "main"
    ledger_currency: str = "EUR"  # what stock is valued in: unit costs and cost-of-goods entries
    closed_period_policy: ClosedPeriodPolicy = ClosedPeriodPolicy.NEXT_OPEN_PERIOD
    unit_costs: Mapping[str, Decimal] = field(default_factory=dict)  # per base unit, in ledger_currency

    def item(self, sku: str, unit: str = "EA") -> documents.Item:
        """The item; one counted in the unit it arrived in when the catalogue does not know it."""
        return self.items.get(sku) or documents.Item(sku=sku, base_unit=unit)

    def base_quantity(self, sku: str, quantity: documents.Quantity) -> Decimal:
        """Raises UnknownUnit when the item has no conversion for the quantity's unit."""
        return documents.to_base_units(self.item(sku, quantity.unit), quantity).value

    def base_unit(self, sku: str) -> str:
        return self.item(sku).base_unit

    def price_list_for(self, customer_id: str | None) -> PriceList | None:
        customer = self.customers.get(customer_id or "")
        name = (customer.price_list if customer else None) or self.default_price_list
        return self.price_lists.get(name or "")
