"""What a trading partner's X12 looks like to the mappings: ids, version, item id qualifiers, units, dates, and the
mapping error. A value handed in by the caller (configuration is read elsewhere); no I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from crossdock.connectors.x12.syntax import Separators, X12Error
from crossdock.domain.money import iso_4217

# X12 unit codes (data element 355) -> our unit codes. A code not listed passes through unchanged (YD, LB, KI...).
DEFAULT_UNITS: Mapping[str, str] = {
    "EA": "EA",
    "UN": "EA",  # "unit": books and media partners count in it; one unit is one each
    "CA": "CASE",
    "BX": "BOX",
    "PK": "PACK",
    "DZ": "DOZEN",
    "PL": "PALLET",
    "KG": "KG",
    "LB": "LB",
}


class X12MappingError(X12Error):
    """A transaction set could not be mapped to or from a canonical document."""

    def __init__(
        self,
        message: str,
        *,
        set_id: str,
        control_number: str | None = None,
        position: int | None = None,
        tag: str | None = None,
        element: int | None = None,
    ) -> None:
        self.set_id = set_id
        self.control_number = control_number
        self.position = position
        self.tag = tag
        self.element = element
        self.reason = message
        where = [f"{set_id} {control_number}" if control_number else set_id]
        if tag is not None:
            where.append(f"segment {position} {tag}" if position is not None else f"segment {tag}")
        if element is not None and tag is not None:
            where.append(f"element {tag}{element:02d}")
        super().__init__(f"{', '.join(where)}: {message}")


class ItemId(BaseModel):
    """One product id qualifier a partner sends (VP vendor part, BP buyer part, UP UPC, EN EAN, IN buyer item...)
    and how its ids become our skus: as they are (`cross_reference` None), or through a cross-reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    qualifier: str = Field(pattern=r"^[A-Z0-9]{2}$")
    cross_reference: dict[str, str] | None = Field(
        default=None, description="The partner's id -> our sku; None when the partner's id is our sku as it is."
    )

    def sku_for(self, partner_id: str) -> str | None:
        if self.cross_reference is None:
            return partner_id
        return self.cross_reference.get(partner_id)

    def id_for(self, sku: str) -> str | None:
        if self.cross_reference is None:
            return sku
        for partner_id, ours in self.cross_reference.items():
            if ours == sku:
                return partner_id
        return None


class PartnerRules(BaseModel):
    """How one trading partner's X12 maps to our documents. Inbound, the first qualifier of `item_ids` found on a
    line that gives a sku wins; outbound, every qualifier of `item_ids` that can be filled is written, in order, with
    the document's own id under a qualifier preferred to one derived from our sku (see `ids_for`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partner_id: str = Field(min_length=1, max_length=15, description="ISA06/ISA08 of the partner.")
    partner_qualifier: str = Field(default="ZZ", pattern=r"^[A-Z0-9]{2}$")
    our_id: str = Field(min_length=1, max_length=15)
    our_qualifier: str = Field(default="ZZ", pattern=r"^[A-Z0-9]{2}$")
    partner_application_id: str | None = Field(default=None, description="GS02/GS03 when not the ISA id.")
    our_application_id: str | None = None
    version: str = Field(default="004010", pattern=r"^00(4010|5010)[A-Z0-9]*$", description="GS08, e.g. 004010VICS.")
    usage: Literal["P", "T"] = "P"
    item_ids: tuple[ItemId, ...] = Field(default=(ItemId(qualifier="VP"),), min_length=1)
    units: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_UNITS))
    date_format: str = Field(default="%Y%m%d", description="strftime format of the partner's dates (CCYYMMDD).")
    timezone: str = Field(default="UTC", description="X12 dates carry no zone; they are read in this one.")
    currency: str = Field(default="USD", description="When the document has no CUR segment.")
    channel: str = "edi"
    customer: str | None = Field(default=None, description="Our customer number for the partner; partner_id if unset.")
    supplier: str | None = Field(default=None, description="Our supplier number for the partner; partner_id if unset.")
    location: str | None = Field(default=None, description="Our location code for the partner's warehouse (a 3PL).")
    transit_days: int | None = Field(
        default=None, ge=0, description="An 856 without an expected delivery date arrives this long after shipping."
    )
    element_separator: str = "*"
    component_separator: str = ">"
    segment_terminator: str = "~"
    repetition_separator: str = "^"  # written from 005010 on

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return iso_4217(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def interchange_version(self) -> str:
        """ISA12: 00401 for 004010, 00501 for 005010."""
        return self.version[:5]

    @property
    def repetitions(self) -> bool:
        return self.version >= "00402"

    @property
    def customer_number(self) -> str:
        return self.customer or self.partner_id

    @property
    def supplier_number(self) -> str:
        return self.supplier or self.partner_id

    def separators(self) -> Separators:
        return Separators(
            element=self.element_separator,
            component=self.component_separator,
            segment=self.segment_terminator,
            repetition=self.repetition_separator if self.repetitions else None,
        )

    def unit_in(self, code: str) -> str:
        return self.units.get(code, code)

    def unit_out(self, unit: str) -> str | None:
        """The X12 code for one of our units: the first code mapped to it, else the unit itself when it can be one."""
        for code, ours in self.units.items():
            if ours == unit:
                return code
        return unit if len(unit) == 2 and unit.isalnum() else None

    def sku_for(self, pairs: Iterable[tuple[str, str]]) -> str | None:
        """Our sku from a line's (qualifier, id) pairs, by the order of `item_ids`."""
        found = {q: v for q, v in pairs if q and v}
        for rule in self.item_ids:
            value = found.get(rule.qualifier)
            if value is not None:
                sku = rule.sku_for(value)
                if sku is not None:
                    return sku
        return None

    def ids_for(self, sku: str, given: Mapping[str, str | None] | None = None) -> list[tuple[str, str]]:
        """The (qualifier, id) pairs to write for a line: every qualifier of `item_ids` in order, then the `given`
        ones under other qualifiers. `given` are the ids the document itself carries (a PO line's VP, the buyer's
        part number from a customer's order): under its qualifier a given id wins over one derived from our sku,
        because a derived id is only our sku under the partner's label, and derived ids fill in what the document
        lacks. Which qualifiers a document carries follows the partner's role: to a supplier the vendor's part
        number (VP), to a customer the buyer's part number (BP)."""
        carried = {qualifier: value for qualifier, value in (given or {}).items() if value}
        pairs: list[tuple[str, str]] = []
        for rule in self.item_ids:
            value = carried.pop(rule.qualifier, None) or rule.id_for(sku)
            if value is not None:
                pairs.append((rule.qualifier, value))
        pairs.extend(carried.items())
        return pairs

    def parse_date(self, text: str) -> date:
        """A date in the partner's format; six digits are read as YYMMDD whatever the format (older senders)."""
        fmt = "%y%m%d" if len(text) == 6 and self.date_format == "%Y%m%d" else self.date_format
        return datetime.strptime(text, fmt).date()

    def format_date(self, value: date) -> str:
        return value.strftime(self.date_format)
