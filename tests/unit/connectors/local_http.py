"""A real HTTP/1.1 server on 127.0.0.1 for sender tests: each test says how it answers, and it records what
it was sent.

Keep-alive is on and every answer carries Content-Length, as a real webhook target would. An answer may be
delayed to provoke a client timeout; closing the server cuts any such delay short so teardown stays quick.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """How the server answers one request. Header values are written as latin-1, so "\\xb2" goes out as the
    raw byte 0xB2."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    delay_seconds: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: Message
    body: bytes


Answer = Reply | Callable[[Received], Reply]


@dataclass
class _State:
    answer: Answer = field(default_factory=Reply)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # a forgotten keep-alive connection cannot hold up teardown for long
    server: _Server

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # the client gave up (say, it timed out first)
            super().handle()

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = Received(self.command, self.path, self.headers, body)
        with state.lock:
            state.received.append(request)
            answer = state.answer
        reply = answer(request) if callable(answer) else answer
        if reply.delay_seconds:
            state.stopping.wait(reply.delay_seconds)
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _State) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _Handler)


class LocalHttpServer:
    """Answers `answer` (a fixed Reply, or a function of the request) to every request, in its own thread."""

    def __init__(self) -> None:
        self._state = _State()
        self._server = _Server(self._state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="local-http", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, answer: Answer) -> None:
        with self._state.lock:
            self._state.answer = answer

    @property
    def received(self) -> list[Received]:
        with self._state.lock:
            return list(self._state.received)

    def close(self) -> None:
        self._state.stopping.set()
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads
        self._thread.join(timeout=5)


@contextmanager
def local_http_server() -> Iterator[LocalHttpServer]:
    server = LocalHttpServer()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening, so a connection to it is refused, and no other
    process can take it while the test runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])
