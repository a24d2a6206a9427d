"""What every fake server shares: an aiohttp application on a free port of 127.0.0.1, served from a thread of its own
so that the hub's blocking clients can call it from the test's thread. Must not: know any system's API (the fakes
built on it do).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import ClassVar

from aiohttp import web


@dataclass
class FakeServer:
    title: ClassVar[str] = "the fake server"  # as the start-up error names it
    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        """The fake's routes and middlewares; built on the server's own loop."""
        raise NotImplementedError

    def start(self) -> str:
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.title.removeprefix("the ").replace(" ", "-"), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError(f"{self.title} did not start")
        return self.url

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self._app())
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = None
