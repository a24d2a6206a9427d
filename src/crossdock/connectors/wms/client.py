"""Transport only: the WMS's REST API over httpx, with its bearer token and an Idempotency-Key on every write. Must
not: map documents or decide what an answer means for a delivery (outbound.py does)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

TransportError = httpx.TransportError
PICK_RELEASES = "/v1/pick-releases"
CANCELLATIONS = "/v1/pick-releases/cancellations"


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]
    text: str


class WmsClient:
    """One pooled connection per destination; requests go one at a time from the sender's thread."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_seconds,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "crossdock"},
        )

    def post(self, path: str, body: Mapping[str, Any], *, idempotency_key: str) -> Answer:
        content = json.dumps(body, separators=(",", ":")).encode()
        response = self._http.post(
            path,
            content=content,
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
        )
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.text)

    def close(self) -> None:
        self._http.close()
