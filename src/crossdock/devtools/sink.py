"""A local webhook target for tests and benchmarks: records every request, dedupes on Idempotency-Key, and
can be told to fail (status codes, Retry-After, delays, a random fraction) to exercise retries and breakers.

Run: python -m crossdock.devtools.sink --port 9000
Control: GET /_sink/received, POST /_sink/program {"fail_next": [{"status": 503, "retry_after": "2"}],
"always": {"status": 500} | null, "fail_rate": 0.2, "fail_status": 503, "seed": 7, "delay_ms": 0},
POST /_sink/reset. A request meets the first that applies: the next queued failure, then `always`, then a
failure drawn with probability `fail_rate` (0 turns it off; `seed` makes the draws repeatable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
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
    fail_rate: float = 0.0
    fail_status: int = 503
    rng: random.Random = field(default_factory=random.Random)
    delay_ms: float = 0.0
    keep_bodies: bool = True

    def reset(self) -> None:
        self.items.clear()
        self.seen.clear()
        self.fail_next.clear()
        self.always = None
        self.fail_rate = 0.0
        self.fail_status = 503
        self.delay_ms = 0.0

    def program(self, program: dict[str, Any]) -> None:
        """Apply a program; a field left out keeps its current setting."""
        self.fail_next.extend(program.get("fail_next", []))
        if "always" in program:
            self.always = program["always"]
        if "fail_rate" in program:
            rate = float(program["fail_rate"] or 0.0)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fail_rate must lie between 0 and 1, not {rate}")
            self.fail_rate = rate
        self.fail_status = int(program.get("fail_status", self.fail_status))
        if program.get("seed") is not None:
            self.rng.seed(program["seed"])
        self.delay_ms = float(program.get("delay_ms", self.delay_ms))

    def next_failure(self) -> dict[str, Any] | None:
        """The failure this request meets, if any: queued ones first, then `always`, then a random draw."""
        if self.fail_next:
            return self.fail_next.pop(0)
        if self.always:
            return self.always
        if self.fail_rate and self.rng.random() < self.fail_rate:
            return {"status": self.fail_status}
        return None


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
            try:
                self.state.program(json.loads(body or b"{}"))
            except (ValueError, TypeError) as error:
                await _reply(send, 400, {"error": str(error)})
                return
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
        failure = self.state.next_failure()
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
