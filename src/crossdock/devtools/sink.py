"""A local webhook target for tests and benchmarks: records every request, dedupes on Idempotency-Key, and
can be told to fail (status codes, Retry-After, delays) to exercise retries and breakers.

Run: python -m crossdock.devtools.sink --port 9000
Control: GET /_sink/received, POST /_sink/program {"fail_next": [{"status": 503, "retry_after": "2"}],
"always": {"status": 500} | null, "delay_ms": 0}, POST /_sink/reset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass
class SinkState:
    items: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    fail_next: list[dict[str, Any]] = field(default_factory=list)
    always: dict[str, Any] | None = None
    delay_ms: float = 0.0
    keep_bodies: bool = True

    def reset(self) -> None:
        self.items.clear()
        self.seen.clear()
        self.fail_next.clear()
        self.always = None
        self.delay_ms = 0.0


class Sink:
    """A bare ASGI app: fast enough to stand in for a target in a benchmark."""

    def __init__(self, keep_bodies: bool = True) -> None:
        self.state = SinkState(keep_bodies=keep_bodies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender gave up mid-request: nothing was delivered
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if path == "/_sink/received":
            await _reply(
                send, 200, {"count": len(self.state.items), "unique": len(self.state.seen), "items": self.state.items}
            )
        elif path == "/_sink/program":
            program = json.loads(body or b"{}")
            self.state.fail_next.extend(program.get("fail_next", []))
            if "always" in program:
                self.state.always = program["always"]
            self.state.delay_ms = float(program.get("delay_ms", self.state.delay_ms))
            await _reply(send, 200, {"ok": True})
        elif path == "/_sink/reset":
            self.state.reset()
            await _reply(send, 200, {"ok": True})
        else:
            await self._hook(scope, body, send)

    async def _hook(self, scope: Scope, body: bytes, send: Send) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if self.state.delay_ms:
            await asyncio.sleep(self.state.delay_ms / 1000)
        failure = self.state.fail_next.pop(0) if self.state.fail_next else self.state.always
        key = headers.get("idempotency-key", "")
        record: dict[str, Any] = {
            "delivery_id": key,
            "t": time.time(),
            "path": scope["path"],
            "status": failure["status"] if failure else 200,
        }
        if self.state.keep_bodies:
            try:
                event = json.loads(body)
            except ValueError:
                event = {}
            record.update(
                {
                    "event_id": event.get("id"),
                    "type": event.get("type"),
                    "subject": event.get("subject"),
                    "partitionkey": event.get("partitionkey"),
                    "position": event.get("position"),
                    "data": event.get("data"),
                }
            )
        self.state.items.append(record)
        if failure:
            extra = [(b"retry-after", str(failure["retry_after"]).encode())] if failure.get("retry_after") else []
            await _reply(send, int(failure["status"]), {"error": "programmed failure"}, extra)
            return
        duplicate = key in self.state.seen
        self.state.seen.add(key)
        await _reply(send, 200, {"ok": True, "duplicate": duplicate})


async def _reply(send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--no-bodies", action="store_true", help="Record ids and times only (benchmarks).")
    args = parser.parse_args()
    uvicorn.run(
        Sink(keep_bodies=not args.no_bodies), host=args.host, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
