"""A trading partner's profile (config.PartnerSettings, read here through the PartnerSpec protocol: connectors do not
import configuration) turned into what the engines and mappings read: X12 PartnerRules and Leniency, EDIFACT
MappingOptions and Leniency, and the partner's file transport. No I/O beyond building transport objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from crossdock.connectors import edifact, x12
from crossdock.connectors.edifact import mapping as edifact_mapping
from crossdock.connectors.edifact.mapping import MappingOptions
from crossdock.connectors.files.client import FolderTransport, Layout, SftpSettings, SftpTransport, Transport
from crossdock.connectors.x12 import mapping as x12_mapping

Role = Literal["customer", "supplier", "3pl"]

_X12_PRESETS = {"default": x12.DEFAULT, "strict": x12.STRICT, "lenient": x12.LENIENT}
_EDIFACT_PRESETS = {"default": edifact.STRICT, "strict": edifact.STRICT, "lenient": edifact.LENIENT}
# Item ids of a supplier without item_ids in its profile: our sku as the buyer's part number (BP, which suppliers
# echo), its own number as the vendor's part (VP, from the PO line; our sku where the line has none).
_SUPPLIER_ITEM_IDS = (x12_mapping.ItemId(qualifier="BP"), x12_mapping.ItemId(qualifier="VP"))
# EDIFACT service characters by the names a profile's `separators` use (UNA order).
_EDIFACT_DELIMITERS = {
    "component": "component",
    "element": "element",
    "decimal": "decimal",
    "release": "release",
    "repetition": "reserved",
    "segment": "terminator",
}


class ItemIdSpec(Protocol):
    @property
    def qualifier(self) -> str: ...
    @property
    def cross_reference(self) -> dict[str, str] | None: ...


class FoldersSpec(Protocol):
    @property
    def inbound(self) -> str: ...
    @property
    def outbound(self) -> str: ...
    @property
    def archive(self) -> str: ...
    @property
    def error(self) -> str: ...


class SftpSpec(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def known_hosts(self) -> str: ...
    @property
    def key_path(self) -> str | None: ...
    @property
    def passphrase(self) -> SecretStr | None: ...
    @property
    def password(self) -> SecretStr | None: ...
    @property
    def root(self) -> str: ...


class TransportSpec(Protocol):
    @property
    def path(self) -> str | None: ...
    @property
    def sftp(self) -> SftpSpec | None: ...
    @property
    def folders(self) -> FoldersSpec: ...
    @property
    def poll_seconds(self) -> float: ...
    @property
    def settle_seconds(self) -> float: ...


class PartnerSpec(Protocol):
    """What a partner profile says (config.PartnerSettings has these fields)."""

    @property
    def standard(self) -> Literal["x12", "edifact"]: ...
    @property
    def role(self) -> Role: ...
    @property
    def id(self) -> str: ...
    @property
    def qualifier(self) -> str: ...
    @property
    def our_id(self) -> str: ...
    @property
    def our_qualifier(self) -> str: ...
    @property
    def application_id(self) -> str | None: ...
    @property
    def our_application_id(self) -> str | None: ...
    @property
    def version(self) -> str: ...
    @property
    def usage(self) -> Literal["P", "T"]: ...
    @property
    def separators(self) -> Mapping[str, str]: ...
    @property
    def item_ids(self) -> Sequence[ItemIdSpec]: ...
    @property
    def units(self) -> Mapping[str, str]: ...
    @property
    def leniency(self) -> Literal["default", "strict", "lenient"]: ...
    @property
    def quirks(self) -> Mapping[str, str | bool]: ...
    @property
    def timezone(self) -> str: ...
    @property
    def currency(self) -> str | None: ...
    @property
    def channel(self) -> str: ...
    @property
    def customer(self) -> str | None: ...
    @property
    def supplier(self) -> str | None: ...
    @property
    def location(self) -> str | None: ...
    @property
    def transit_days(self) -> int | None: ...
    @property
    def transport(self) -> TransportSpec | None: ...
    @property
    def control_number_start(self) -> int: ...


class ProfileError(ValueError):
    """A partner profile cannot be used as written."""


@dataclass(frozen=True)
class Profile:
    """One partner, ready for the adapters: its name, role and standard, plus the engines' and mappings' values."""

    name: str
    settings: PartnerSpec

    @property
    def standard(self) -> str:
        return self.settings.standard

    @property
    def role(self) -> Role:
        return self.settings.role

    def x12_rules(self) -> x12_mapping.PartnerRules:
        s = self.settings
        extra: dict[str, object] = {}
        if s.item_ids:
            extra["item_ids"] = tuple(
                x12_mapping.ItemId(qualifier=i.qualifier, cross_reference=i.cross_reference) for i in s.item_ids
            )
        elif s.role == "supplier":
            extra["item_ids"] = _SUPPLIER_ITEM_IDS
        if s.units:
            extra["units"] = {**x12_mapping.DEFAULT_UNITS, **s.units}
        names = {"element": "element_separator", "component": "component_separator"}
        names |= {"segment": "segment_terminator", "repetition": "repetition_separator"}
        for key, value in s.separators.items():
            if key not in names:
                raise ProfileError(f"partner {self.name}: unknown separator {key!r} (known: {sorted(names)})")
            extra[names[key]] = value
        if s.currency:
            extra["currency"] = s.currency
        try:
            return x12_mapping.PartnerRules(
                partner_id=s.id,
                partner_qualifier=s.qualifier,
                our_id=s.our_id,
                our_qualifier=s.our_qualifier,
                partner_application_id=s.application_id,
                our_application_id=s.our_application_id,
                version=s.version,
                usage=s.usage,
                timezone=s.timezone,
                channel=s.channel,
                customer=s.customer,
                supplier=s.supplier,
                location=s.location,
                transit_days=s.transit_days,
                **extra,  # type: ignore[arg-type]
            )
        except ValueError as exc:
            raise ProfileError(f"partner {self.name}: {exc}") from None

    def x12_leniency(self) -> x12.Leniency:
        preset = _X12_PRESETS[self.settings.leniency]
        known = {f.name for f in fields(x12.Leniency)}
        changes: dict[str, object] = {}
        for quirk, value in self.settings.quirks.items():
            if quirk not in known:
                raise ProfileError(f"partner {self.name}: unknown X12 quirk {quirk!r} (known: {sorted(known)})")
            if quirk == "repetitions":
                changes[quirk] = bool(value)
            elif isinstance(value, bool):
                changes[quirk] = x12.Tolerance.WARN if value else x12.Tolerance.REFUSE
            else:
                try:
                    changes[quirk] = x12.Tolerance(value)
                except ValueError:
                    raise ProfileError(f"partner {self.name}: quirk {quirk} is refuse, warn or accept") from None
        return replace(preset, **changes)  # type: ignore[arg-type]

    def edifact_leniency(self) -> edifact.Leniency:
        preset = _EDIFACT_PRESETS[self.settings.leniency]
        known = {f.name for f in fields(edifact.Leniency)}
        changes: dict[str, bool] = {}
        for quirk, value in self.settings.quirks.items():
            if quirk not in known:
                raise ProfileError(f"partner {self.name}: unknown EDIFACT quirk {quirk!r} (known: {sorted(known)})")
            changes[quirk] = value if isinstance(value, bool) else value in ("warn", "accept")
        return replace(preset, **changes)

    def edifact_options(self) -> MappingOptions:
        s = self.settings
        options = MappingOptions(channel=s.channel, currency=s.currency, timezone=ZoneInfo(s.timezone))
        if s.role == "supplier":
            # What a supplier sends names our sku as the buyer's item number; its own article number is not a sku.
            options = replace(options, item_ids=edifact_mapping.BUYER_ITEM_IDS)
        if s.item_ids:
            options = replace(options, item_ids=tuple(i.qualifier for i in s.item_ids))
        if s.units:
            options = replace(options, units_in={**options.units_in, **s.units})
        return options

    def edifact_delimiters(self) -> edifact.Delimiters:
        """The service characters written to the partner (UNA): the defaults, changed by `separators` (component,
        element, decimal, release, repetition, segment)."""
        changes: dict[str, str] = {}
        for key, value in self.settings.separators.items():
            if key not in _EDIFACT_DELIMITERS:
                known = sorted(_EDIFACT_DELIMITERS)
                raise ProfileError(f"partner {self.name}: unknown EDIFACT separator {key!r} (known: {known})")
            if len(value) != 1:
                raise ProfileError(f"partner {self.name}: EDIFACT separator {key} must be one character, not {value!r}")
            changes[_EDIFACT_DELIMITERS[key]] = value
        delimiters = replace(edifact.Delimiters(), **changes)
        used = [delimiters.component, delimiters.element, delimiters.decimal, delimiters.release, delimiters.terminator]
        if len(set(used)) != len(used) or delimiters.decimal not in ".,":
            raise ProfileError(
                f"partner {self.name}: EDIFACT separators {delimiters.una()[3:]!r} repeat a character or have a "
                "decimal mark other than . or ,"
            )
        return delimiters

    @property
    def supplier_number(self) -> str:
        """Our supplier number for the partner: the profile's `supplier`, else its interchange id."""
        return self.settings.supplier or self.settings.id

    def check(self) -> list[str]:
        """Every problem of the profile as written (empty when it is usable)."""
        problems = []
        try:
            if self.standard == "x12":
                self.x12_rules()
                self.x12_leniency()
            else:
                self.edifact_options()
                self.edifact_leniency()
                self.edifact_delimiters()
        except (ProfileError, ValueError) as exc:
            problems.append(str(exc))
        return problems

    def transport(self, data_dir: Path | None = None) -> Transport | None:
        """The partner's file transport, or None when the profile has none. Folders are created when missing."""
        t = self.settings.transport
        if t is None:
            return None
        layout = Layout(
            inbound=t.folders.inbound, outbound=t.folders.outbound, archive=t.folders.archive, error=t.folders.error
        )
        if t.path is not None:
            root = Path(t.path)
            if not root.is_absolute() and data_dir is not None:
                root = data_dir / root
            return FolderTransport(root, layout=layout)
        assert t.sftp is not None  # the settings model holds one of the two
        return SftpTransport(
            SftpSettings(
                host=t.sftp.host,
                port=t.sftp.port,
                username=t.sftp.username,
                known_hosts=t.sftp.known_hosts,
                client_keys=(t.sftp.key_path,) if t.sftp.key_path else (),
                passphrase=t.sftp.passphrase.get_secret_value() if t.sftp.passphrase else None,
                password=t.sftp.password.get_secret_value() if t.sftp.password else None,
                root=t.sftp.root,
                layout=layout,
            )
        )


def profiles(partners: Mapping[str, PartnerSpec]) -> dict[str, Profile]:
    return {name: Profile(name, settings) for name, settings in partners.items()}
