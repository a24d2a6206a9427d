"""A shop's settings as its source or destination section gives them (`kind: shopify` with `options:`), checked here
so that a mistake names the key. Must not: read files or the environment (bootstrap hands the section over)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from crossdock.hub.errors import HubError

DEFAULT_API_VERSION = "2025-07"
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


class ShopOptionsError(HubError):
    """The shop's options are not valid."""


class ShopOptions(BaseModel):
    """What the connector needs to know about one shop. Secrets are SecretStr so they are never printed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shop: str = Field(description="the shop's domain, e.g. northwind.myshopify.com")
    api_version: str = Field(default=DEFAULT_API_VERSION, pattern=r"^\d{4}-\d{2}$")
    secret: SecretStr | None = Field(default=None, description="the app's client secret: signs webhooks")
    token: SecretStr | None = Field(default=None, description="the Admin API access token (X-Shopify-Access-Token)")
    base_url: str | None = Field(default=None, description="instead of https://<shop>: a proxy or a test server")
    channel: str = Field(default="shopify", min_length=1, description="the hub channel of this shop's orders")
    order_prefix: str = Field(default="SHOP-", description="hub order number = prefix + Shopify order id")
    customer: str | None = Field(default=None, description="one hub customer for every order (a webshop account)")
    customer_prefix: str = Field(default="SHOPIFY-", description="else hub customer = prefix + Shopify customer id")
    unit: str = Field(default="EA", pattern=r"^[A-Z][A-Z0-9_]{0,15}$", description="the unit Shopify counts in")
    location: str | None = Field(default=None, description="hub location code of fulfillments with no known location")
    locations: dict[str, str] = Field(default_factory=dict, description="Shopify location id -> hub location code")
    shipments_from_shopify: bool = Field(
        default=True,
        description="false when the hub's warehouses ship and push fulfillments to Shopify: Shopify's "
        "fulfillments/create then only echoes the hub's own shipment and is kept without effect",
    )
    inventory_location: str | None = Field(
        default=None, description="outbound: the hub location whose Shopify location takes the channel's availability"
    )
    poll_minutes: float | None = Field(default=None, gt=0, description="poll orders updated since the watermark")
    slow_down_at: float = Field(default=0.8, gt=0, le=1, description="share of the call bucket that makes us wait")
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("shop")
    @classmethod
    def _a_shop_domain(cls, value: str) -> str:
        if not SHOP_DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a shop domain like northwind.myshopify.com")
        return value

    @property
    def admin_url(self) -> str:
        base = (self.base_url or f"https://{self.shop}").rstrip("/")
        return f"{base}/admin/api/{self.api_version}"


def shop_options(name: str, options: Mapping[str, Any]) -> ShopOptions:
    """The validated options of the source or destination `name`; the error names each bad key."""
    try:
        return ShopOptions.model_validate(dict(options))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "options"
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{name}.options.{key}: {message}")
        raise ShopOptionsError("; ".join(problems)) from None
