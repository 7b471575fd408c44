"""Waking a blocked ``recv`` (``abortkit._sockets``): finding the socket, telling a multiplexed
(HTTP/2) connection, and ``SocketInterrupter`` shutting a socket down once, never a shared one;
the one owner per connection, reached through one typed accessor (``interrupter_for``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from abortkit._network import AbortableAsyncNetworkStream, AbortableNetworkStream
from abortkit._sockets import InterruptibleStream, SocketInterrupter, interrupter_for
from tests._helpers.network_fakes import FakeStream


@pytest.mark.found_by_mutation
def test_sockets_helpers() -> None:
    import socket

    from abortkit._sockets import find_socket, is_multiplexed, shutdown_socket

    ours, peer = socket.socketpair()
    assert shutdown_socket(ours) is True
    assert peer.recv(10) == b""
    ours.close()
    peer.close()
    assert shutdown_socket(ours) is False  # closed: the kernel refuses

    class NoFileno:
        def shutdown(self, how: int) -> None:
            pass

    class NoShutdown:
        def fileno(self) -> int:
            return 3

    for odd in (NoFileno(), NoShutdown(), None):
        assert find_socket(FakeStream(sock=odd)) is None
    assert find_socket(None) is None

    class Raises:
        def get_extra_info(self, info: str) -> Any:
            raise RuntimeError("closed")

    assert find_socket(Raises()) is None
    assert not is_multiplexed(Raises())
    assert is_multiplexed(FakeStream(alpn="h2"))
    assert not is_multiplexed(FakeStream(alpn="http/1.1"))
    assert not is_multiplexed(FakeStream())


@pytest.mark.found_by_mutation
def test_a_socket_interrupter_shuts_down_once_and_never_a_multiplexed_socket() -> None:
    import socket

    from abortkit._sockets import SocketInterrupter

    assert SocketInterrupter(FakeStream(alpn="h2")).interrupt() is False
    assert SocketInterrupter(FakeStream()).interrupt() is False  # no socket
    ours, peer = socket.socketpair()
    try:
        interrupter = SocketInterrupter(FakeStream(sock=ours))
        assert interrupter.interrupt() is True
        assert interrupter.interrupt() is True  # remembered, not shut down again (which would fail)
        assert peer.recv(10) == b""
    finally:
        ours.close()
        peer.close()


@pytest.mark.found_by_mutation
def test_a_socket_interrupter_shuts_its_socket_down_only_once() -> None:
    from abortkit._sockets import SocketInterrupter

    class CountingSocket:
        def __init__(self) -> None:
            self.shutdowns = 0

        def shutdown(self, how: int) -> None:
            self.shutdowns += 1

        def fileno(self) -> int:
            return -1

    sock = CountingSocket()
    interrupter = SocketInterrupter(FakeStream(sock=sock))
    assert interrupter.interrupt() is True
    assert interrupter.interrupt() is True
    assert sock.shutdowns == 1, "the socket was shut down again (a syscall per abort, per listener)"


class CountingSock:
    def __init__(self) -> None:
        self.shutdowns = 0

    def shutdown(self, how: int) -> None:
        self.shutdowns += 1

    def fileno(self) -> int:
        return -1


class InnerStream:
    """What httpcore's network streams offer that the interrupter uses."""

    def __init__(self, sock: Any = None, alpn: str | None = None) -> None:
        self.sock, self.alpn = sock, alpn
        self.lookups = 0
        self.written: list[bytes] = []

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.written.append(buffer)

    async def awrite(self, buffer: bytes, timeout: float | None = None) -> None:
        self.written.append(buffer)

    def get_extra_info(self, info: str) -> Any:
        self.lookups += 1
        if info == "socket":
            return self.sock
        if info == "ssl_object" and self.alpn is not None:
            alpn = self.alpn
            return type("SSLObject", (), {"selected_alpn_protocol": lambda self: alpn})()
        return None


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, peer = socket.socketpair()
    yield ours, peer
    ours.close()
    peer.close()


@pytest.mark.parametrize("cls", [AbortableNetworkStream, AbortableAsyncNetworkStream])
def test_an_instrumented_stream_owns_its_interrupter_and_the_accessor_returns_it(cls: type) -> None:
    stream = cls(InnerStream(sock=CountingSock()))
    assert isinstance(stream, InterruptibleStream)
    assert interrupter_for(stream) is stream.interrupter is interrupter_for(stream)


def test_every_listener_of_one_connection_shares_one_shutdown() -> None:
    sock = CountingSock()
    inner = InnerStream(sock=sock)
    stream = AbortableNetworkStream(inner)
    assert all(interrupter_for(stream).interrupt() for _ in range(3))  # network layer, close_on_abort, ...
    assert sock.shutdowns == 1
    assert inner.lookups == 2, "the socket and its ALPN are looked up once, not per listener"


def test_a_stream_abortkit_did_not_instrument_gets_an_interrupter_of_its_own(pair: Any) -> None:
    ours, peer = pair
    inner = InnerStream(sock=ours)
    first = interrupter_for(inner)
    assert isinstance(first, SocketInterrupter) and first is not interrupter_for(inner)
    assert first.interrupt() is True
    peer.settimeout(1)
    assert peer.recv(10) == b""  # the peer saw the shutdown


@pytest.mark.parametrize("how", ["alpn", "marked"])
def test_a_multiplexed_connection_is_never_shut_down(how: str) -> None:
    sock = CountingSock()
    interrupter = SocketInterrupter(InnerStream(sock=sock, alpn="h2" if how == "alpn" else None))
    if how == "marked":
        interrupter.mark_multiplexed()
    assert interrupter.multiplexed
    assert interrupter.interrupt() is False
    assert sock.shutdowns == 0


def test_an_http2_response_tells_the_interrupter_and_its_socket_is_left_alone() -> None:
    from abortkit._responses import NO_SOCKET, ConnectionGuard, resolve_target

    sock = CountingSock()
    stream = AbortableNetworkStream(InnerStream(sock=sock))  # no ALPN: HTTP/2 by prior knowledge

    class Response:
        def __init__(self, network_stream: Any) -> None:
            self.extensions = {"network_stream": network_stream}
            self.stream: Any = None
            self.http_version = "HTTP/2"
            self.is_closed = False

        def close(self) -> None:
            self.is_closed = True

    guard = ConnectionGuard(resolve_target(Response(stream)))
    guard.install()
    assert guard.shutdown() == NO_SOCKET
    assert stream.interrupter.multiplexed, "the response's HTTP version did not reach the connection's owner"
    assert stream.interrupter.interrupt() is False and sock.shutdowns == 0


@pytest.mark.parametrize("first", [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04", b"POST / HTTP/1.1\r\n"])
def test_the_http2_preface_written_first_marks_the_connection_shared(first: bytes) -> None:
    """h2c (HTTP/2 by prior knowledge on plain TCP) has no ALPN: the preface is what tells."""
    import asyncio

    sync_inner, async_inner = InnerStream(sock=CountingSock()), InnerStream(sock=CountingSock())
    async_inner.write = async_inner.awrite  # type: ignore[method-assign]
    sync_stream, async_stream = AbortableNetworkStream(sync_inner), AbortableAsyncNetworkStream(async_inner)
    sync_stream.write(first)
    sync_stream.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")  # only the first write counts
    asyncio.run(async_stream.write(first))
    h2 = first.startswith(b"PRI")
    assert sync_stream.interrupter.multiplexed is h2
    assert async_stream.interrupter.multiplexed is h2
    assert sync_inner.written[0] == first and async_inner.written == [first]
