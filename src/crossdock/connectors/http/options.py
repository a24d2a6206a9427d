"""The `options:` of an http source or destination, checked strictly when the hub is built: an unknown or wrong key is
a configuration error naming it. Must not: import the mapping functions (loading.py does) or open connections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from crossdock.connectors.http.mapping import DEFAULT_SIGNATURE_HEADER, SignatureFormat

Reference = str  # 'package.module:function'


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=_Options)


class SourceOptions(_Options):
    mapping: Reference = Field(description="the function that maps a request to canonical events")
    identify: Reference | None = Field(
        default=None, description="the function that gives the dedupe key, business key and partition at intake"
    )
    path: str | list[str] | None = Field(default=None, description="folders added to sys.path to find the functions")
    secret: SecretStr | None = Field(default=None, description="only requests signed with it are taken")
    signature_header: str = Field(default=DEFAULT_SIGNATURE_HEADER, min_length=1)
    signature_format: SignatureFormat = "sha256=hex"


class Basic(_Options):
    username: str = Field(min_length=1)
    password: SecretStr


class HeaderAuth(_Options):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    value: SecretStr


class Auth(_Options):
    """One way to sign in: a bearer token, a user and password, or a header of the system's own."""

    bearer: SecretStr | None = None
    basic: Basic | None = None
    header: HeaderAuth | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        given = [name for name in ("bearer", "basic", "header") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give one of bearer, basic or header (given: {', '.join(given) or 'none'})")
        return self

    def headers(self) -> dict[str, str]:
        if self.bearer is not None:
            return {"Authorization": f"Bearer {self.bearer.get_secret_value()}"}
        if self.header is not None:
            return {self.header.name: self.header.value.get_secret_value()}
        return {}


class DestinationOptions(_Options):
    mapping: Reference = Field(description="the function that maps an event to a request, or None to send nothing")
    path: str | list[str] | None = None
    base_url: str = Field(description="every request goes under it, with the destination's credentials")
    auth: Auth | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, description="default: the destination's timeout")
    concurrency: int | None = Field(default=None, ge=1, description="requests in flight at once, at most")
    batch_size: int | None = Field(default=None, ge=1, description="deliveries handed to one send, at most")
    secret: SecretStr | None = Field(default=None, description="signs each body: X-Crossdock-Signature")

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1].strip("/")) == 0:
            raise ValueError(f"{value!r} is not an http:// or https:// address")
        return value.rstrip("/")


def read(model: type[OptionsT], where: str, options: Mapping[str, Any]) -> OptionsT:
    """The options as `model` reads them; ValueError naming each wrong key as `<where>.<key>`."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:5]:
            key = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}.{key}: {error['msg']}" if key else f"{where}: {error['msg']}")
        raise ValueError("; ".join(problems)) from None
