"""Transport only: a pooled async HTTP client driven from worker threads through its own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


class HttpTransport:
    """One event loop thread and one connection pool per destination, shared by every send."""

    def __init__(
        self, timeout_seconds: float, max_connections: int = 64, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="http-transport", daemon=True)
        self._thread.start()
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)

        async def make() -> httpx.AsyncClient:
            return httpx.AsyncClient(timeout=timeout_seconds, limits=limits, transport=transport)

        self._client = self.run(make())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        return await self._client.post(url, content=content, headers=dict(headers))

    def close(self) -> None:
        self.run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()  # a stopped loop still holds its selector and self-pipe until closed
