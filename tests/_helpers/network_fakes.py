"""Fake httpcore network backends and streams that record their calls.

A fake is enough here: what the network layer's unit tests check is pure logic (which
arguments reach the inner backend, what a tripped signal does before and after a call),
not I/O; the real-socket proofs are in ``tests/io``. A stream can be given a real socket
(one end of a ``socket.socketpair()``) for the tests that check a shutdown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FakeStream:
    """A sync httpcore-like network stream that records its calls."""

    def __init__(self, data: bytes = b"data", sock: Any = None, alpn: str | None = None) -> None:
        self.data = data
        self.sock = sock
        self.alpn = alpn
        self.calls: list[tuple[Any, ...]] = []
        self.closed = False
        self.during: Callable[[], object] | None = None  # runs inside the next blocking call
        self.custom = "passed through"

    def _blocking(self, *call: Any) -> None:
        self.calls.append(call)
        during, self.during = self.during, None
        if during is not None:
            during()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._blocking("read", max_bytes, timeout)
        return self.data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._blocking("write", buffer, timeout)

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        self._blocking("start_tls", ssl_context, server_hostname, timeout)
        return FakeStream(b"tls")

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, info: str) -> Any:
        if info == "socket":
            return self.sock
        if info == "ssl_object" and self.alpn is not None:
            return FakeSSL(self.alpn)
        return None


class FakeSSL:
    def __init__(self, alpn: str) -> None:
        self.alpn = alpn

    def selected_alpn_protocol(self) -> str:
        return self.alpn


class FakeAsyncStream(FakeStream):
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # type: ignore[override]
        return FakeStream.read(self, max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # type: ignore[override]
        FakeStream.write(self, buffer, timeout)

    async def start_tls(  # type: ignore[override]
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        self._blocking("start_tls", ssl_context, server_hostname, timeout)
        return FakeAsyncStream(b"tls")

    async def aclose(self) -> None:
        self.closed = True


class FakeBackend:
    def __init__(self, stream: Any = None, error: BaseException | None = None) -> None:
        self.stream = stream if stream is not None else FakeStream()
        self.error = error
        self.calls: list[tuple[Any, ...]] = []
        self.during: Callable[[], object] | None = None

    def _connect(self, *call: Any) -> Any:
        self.calls.append(call)
        if self.during is not None:
            self.during()
        if self.error is not None:
            raise self.error
        return self.stream

    def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        return self._connect("tcp", args, kwargs)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        return self._connect("unix", args, kwargs)

    def sleep(self, seconds: float) -> None:
        self.calls.append(("sleep", seconds))


class FakeAsyncBackend(FakeBackend):
    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._connect("tcp", args, kwargs)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._connect("unix", args, kwargs)

    async def sleep(self, seconds: float) -> None:  # type: ignore[override]
        self.calls.append(("sleep", seconds))
