"""Transport only: one pooled httpx client per destination, signed in as its `auth` says. Must not: map anything or
decide what an answer means for a delivery (outbound.py does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

TransportError = httpx.TransportError


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]
    text: str


class HttpClient:
    """Thread-safe: the sender sends from several threads at once, up to its concurrency, over one pool."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        max_connections: int,
        auth_headers: Mapping[str, str] | None = None,
        basic: tuple[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            timeout=timeout_seconds,
            transport=transport,
            auth=httpx.BasicAuth(*basic) if basic is not None else None,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"User-Agent": "crossdock"},
            follow_redirects=False,  # a redirect elsewhere would carry the credentials with it
        )
        self._auth_headers = dict(auth_headers or {})

    def request(self, method: str, url: str, content: bytes, headers: Mapping[str, str]) -> Answer:
        response = self._http.request(method, url, content=content or None, headers={**headers, **self._auth_headers})
        return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.text)

    def close(self) -> None:
        self._http.close()
