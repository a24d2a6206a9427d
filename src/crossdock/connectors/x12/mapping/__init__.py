"""X12 transaction sets <-> canonical documents: 850, 855, 856, 810, 846, 940 and 945, each in its own module, driven
by a trading partner's PartnerRules, plus the envelopes of outbound interchanges. Pure mapping: Transactions in,
documents out, and back; reading bytes is the engine's (x12.parse), moving files the transports'.

Errors: X12MappingError (an X12Error, so a hub MappingError) names the set, its control number, the segment
position (ST = 1) and tag, and the element, e.g. "850 0001, segment 2 BEG, element BEG03: ... is missing"."""

from __future__ import annotations

from crossdock.connectors.x12.mapping.ack855 import acknowledgement_from_855, acknowledgement_to_855, sales_order_to_855
from crossdock.connectors.x12.mapping.asn856 import (
    ship_notice_from_856,
    ship_notice_to_856,
    ship_notices_from_856,
    shipment_from_856,
    shipment_to_856,
)
from crossdock.connectors.x12.mapping.envelope import ControlNumbers, build_interchange, transactions_of
from crossdock.connectors.x12.mapping.inventory846 import (
    Availability,
    availability_from_846,
    inventory_advice_to_846,
    inventory_advices,
)
from crossdock.connectors.x12.mapping.invoice810 import (
    Charge,
    ChargeKind,
    charges_from_810,
    invoice_from_810,
    invoice_to_810,
    supplier_invoice_from_810,
    supplier_invoice_to_810,
)
from crossdock.connectors.x12.mapping.po850 import (
    buyer_items_from_850,
    purchase_order_from_850,
    purchase_order_to_850,
    sales_order_from_850,
    sales_order_to_850,
)
from crossdock.connectors.x12.mapping.rules import DEFAULT_UNITS, ItemId, PartnerRules, X12MappingError
from crossdock.connectors.x12.mapping.warehouse940 import (
    Address,
    WarehouseOrder,
    WarehouseOrderLine,
    warehouse_order_from_940,
    warehouse_order_from_release,
    warehouse_order_to_940,
)
from crossdock.connectors.x12.mapping.warehouse945 import shipment_from_945, shipment_to_945

__all__ = [
    "DEFAULT_UNITS",
    "Address",
    "Availability",
    "Charge",
    "ChargeKind",
    "ControlNumbers",
    "ItemId",
    "PartnerRules",
    "WarehouseOrder",
    "WarehouseOrderLine",
    "X12MappingError",
    "acknowledgement_from_855",
    "acknowledgement_to_855",
    "availability_from_846",
    "build_interchange",
    "buyer_items_from_850",
    "charges_from_810",
    "inventory_advice_to_846",
    "inventory_advices",
    "invoice_from_810",
    "invoice_to_810",
    "purchase_order_from_850",
    "purchase_order_to_850",
    "sales_order_from_850",
    "sales_order_to_850",
    "sales_order_to_855",
    "ship_notice_from_856",
    "ship_notice_to_856",
    "ship_notices_from_856",
    "shipment_from_856",
    "shipment_from_945",
    "shipment_to_856",
    "shipment_to_945",
    "supplier_invoice_from_810",
    "supplier_invoice_to_810",
    "transactions_of",
    "warehouse_order_from_940",
    "warehouse_order_from_release",
    "warehouse_order_to_940",
]
