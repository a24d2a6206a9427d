"""Currencies and money rounding: the one ISO 4217 table, each code's minor units, and half-up rounding.

Owns: which currency codes exist and how many decimals an amount in each keeps; documents, postings and workflows
all round through `round_money`. Must not: convert between currencies, read a clock, or touch storage.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from crossdock.domain.errors import UnknownCurrency


def _codes(table: str) -> frozenset[str]:
    """A blank-separated table of codes: easier to check against the standard than a list of quoted strings."""
    return frozenset(table.split())


# Active ISO 4217 codes, including the fund and precious-metal codes that trading partners do send.
ISO_4217 = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF
    CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD
    LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP
    PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP
    TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF
    XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
    """
)
# ISO 4217 gives these no minor unit ("N.A."): precious metals, bond-market and drawing-right units, the testing
# and "no currency" codes. A document may name them, but an amount in them is never rounded: there is no right
# number of decimals to round to, and a guessed two would move money silently.
_NO_MINOR_UNIT = _codes("XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA XXX")
# Digits after the decimal point for every code that has a minor unit: the exceptions as ISO 4217 lists them,
# two for all the others. A code outside ISO_4217 has no entry and is refused, never given a default.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(ISO_4217 - _NO_MINOR_UNIT, 2),
    **dict.fromkeys(_codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"), 0),
    **dict.fromkeys(_codes("BHD IQD JOD KWD LYD OMR TND"), 3),
    **dict.fromkeys(_codes("CLF UYW"), 4),
}


def iso_4217(code: str) -> str:
    """The code itself when it is an ISO 4217 currency; UnknownCurrency (a ValueError) otherwise."""
    if code not in ISO_4217:
        raise UnknownCurrency(f"{code!r} is not an ISO 4217 currency code")
    return code


def minor_units(currency: str) -> int:
    """How many decimals an amount in this currency keeps (JPY 0, EUR 2, KWD 3, CLF 4).

    Raises UnknownCurrency for a code that is not ISO 4217 and for one that has no minor unit (e.g. XAU).
    """
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        if currency in ISO_4217:
            raise UnknownCurrency(f"{currency} has no minor unit in ISO 4217: its amounts are never rounded") from None
        raise UnknownCurrency(f"unknown currency {currency!r}: expected an ISO 4217 code such as EUR") from None


def smallest_amount(currency: str) -> Decimal:
    """One minor unit of the currency: 0.01 EUR, 1 JPY, 0.001 KWD."""
    return Decimal(1).scaleb(-minor_units(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """The amount at the currency's minor units, halves rounded away from zero (commercial rounding)."""
    return amount.quantize(smallest_amount(currency), rounding=ROUND_HALF_UP)
