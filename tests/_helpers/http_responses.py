"""Real httpx/httpx2 ``Response`` objects, in memory, whose network stream is one end of a
socketpair: what ``close_on_abort`` does to the connection is seen from the other end."""

from __future__ import annotations

from typing import Any

from .network_fakes import FakeStream


def _http_module(name: str) -> Any:
    import importlib

    return importlib.import_module(name)


class _Body:
    """Mixin for a counting sync byte stream of httpx or httpx2."""

    closes = 0
    chunks = (b"da", b"ta")

    def __iter__(self) -> Any:
        yield from self.chunks

    def close(self) -> None:
        self.closes += 1


class _AsyncBody:
    """Mixin for a counting async byte stream of httpx or httpx2."""

    closes = 0
    chunks = (b"da", b"ta")

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.closes += 1


def _response(module_name: str, *, asynchronous: bool = False, http_version: bytes = b"HTTP/1.1") -> Any:
    """An httpx/httpx2 Response whose network stream is one end of a socketpair; returns
    (response, body, peer end)."""
    import socket

    module = _http_module(module_name)
    base = module.AsyncByteStream if asynchronous else module.SyncByteStream
    body = type("Body", (_AsyncBody if asynchronous else _Body, base), {})()
    ours, peer = socket.socketpair()
    response = module.Response(
        200, stream=body, extensions={"network_stream": FakeStream(sock=ours), "http_version": http_version}
    )
    response._test_sockets = (ours, peer)
    return response, body, peer


def _peer_saw_shutdown(peer: Any) -> bool:
    peer.settimeout(0.2)
    try:
        return peer.recv(10) == b""
    except TimeoutError:
        return False
