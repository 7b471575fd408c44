"""Waking a blocked ``recv`` (``abortkit._sockets``): finding the socket, telling a multiplexed
(HTTP/2) connection, and ``SocketInterrupter`` shutting a socket down once, never a shared one."""

from __future__ import annotations

from typing import Any

import pytest

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
