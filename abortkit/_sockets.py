"""Shutting a connection's socket down to wake its blocked reader: the one owner of that duty.

Everything that wakes a blocked read by shutting a socket down (the network layer's
listener during a blocking call, ``close_on_abort``'s listener through its
``ConnectionGuard``) asks the connection's ``SocketInterrupter``, reached through one
typed accessor, ``interrupter_for(network_stream)``: abortkit's instrumented network
streams (``InterruptibleStream``) own one each, so however many listeners ask, the
socket is looked up once and shut down at most once. The interrupter alone decides
whether to: never for a multiplexed (HTTP/2) connection, whose socket carries other
requests' streams.

Why shutdown:

``close()`` alone does not do it on Linux: the blocked ``recv`` keeps its reference to
the open file and waits for the next byte (measured: 2.7 s into a 3 s gap).
``shutdown(SHUT_RDWR)`` ends the connection in the kernel and the blocked ``recv``
returns at once (0.6 ms, TLS included). On Windows it is the other way round:
``shutdown`` does not wake a blocked ``recv`` and closing the handle does, so there we
also close the socket.

For a TLS socket we call ``socket.socket.shutdown`` rather than
``ssl.SSLSocket.shutdown``: the latter also drops the SSL object, under the feet of
the thread still inside ``SSL_read``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import Any

__all__ = [
    "InterruptibleStream",
    "SocketInterrupter",
    "find_socket",
    "interrupter_for",
    "is_multiplexed",
    "shutdown_socket",
]

_CLOSE_TOO = sys.platform == "win32"


def shutdown_socket(sock: Any) -> bool:
    """Shut ``sock`` down both ways; True if the kernel accepted it.

    ``sock`` is a ``socket.socket`` (an ``ssl.SSLSocket`` included) or asyncio's
    ``TransportSocket`` (what anyio reports as the raw socket under asyncio).
    """
    try:
        if isinstance(sock, socket.socket):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):  # already closed, not connected, or detached
        return False
    if _CLOSE_TOO:  # pragma: no cover - Windows only
        with contextlib.suppress(OSError):
            sock.close()
    return True


def find_socket(network_stream: Any) -> Any:
    """The socket under an httpcore/httpcore2 network stream (sync or anyio), or None."""
    if network_stream is None:
        return None
    try:
        sock = network_stream.get_extra_info("socket")
    except Exception:
        return None
    return sock if callable(getattr(sock, "shutdown", None)) and callable(getattr(sock, "fileno", None)) else None


def is_multiplexed(network_stream: Any) -> bool:
    """True if the connection negotiated HTTP/2: its socket carries other streams too."""
    try:
        ssl_object = network_stream.get_extra_info("ssl_object")
        return ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2"
    except Exception:
        return False


class SocketInterrupter:
    """Shuts one connection's socket down, at most once, and never a multiplexed one.

    The socket and whether it is multiplexed are looked up once, on first use:
    anyio answers ``get_extra_info`` by building a dict of every attribute (with
    ``getpeername`` syscalls), about 100 us a call, which a thousand simultaneous
    aborts cannot afford several times over. Shutting down twice would be harmless
    but costs a syscall: every listener of the connection asks this one object.

    Race analysis: ``interrupt`` may run on several threads at once (two listeners of
    one connection on two aborting threads); the worst interleaving shuts the socket
    down twice, which the kernel accepts. ``mark_multiplexed`` is called by whoever
    learns that the connection is HTTP/2 (the response's version, or the HTTP/2
    connection preface written on it) before any listener of that request can run.
    """

    __slots__ = ("_done", "_multiplexed", "_network_stream", "_shut_down")

    def __init__(self, network_stream: Any) -> None:
        self._network_stream = network_stream
        self._done = False
        self._shut_down = False
        self._multiplexed: bool | None = None

    @property
    def multiplexed(self) -> bool:
        """True for an HTTP/2 connection: its socket carries other streams, hands off."""
        if self._multiplexed is None:
            self._multiplexed = is_multiplexed(self._network_stream)
        return self._multiplexed

    def mark_multiplexed(self) -> None:
        """The connection is known to carry HTTP/2 (whatever its TLS negotiated)."""
        self._multiplexed = True

    def interrupt(self) -> bool:
        """Shut the socket down (once); True if there is a socket and it was shut down."""
        if not self._done:  # a benign race: at worst a second, harmless shutdown
            self._done = True
            if not self.multiplexed:
                sock = find_socket(self._network_stream)
                self._shut_down = sock is not None and shutdown_socket(sock)
        return self._shut_down


class InterruptibleStream:
    """A network stream that owns its connection's interrupter (abortkit's instrumented ones)."""

    interrupter: SocketInterrupter


def interrupter_for(network_stream: object) -> SocketInterrupter:
    """The interrupter of the connection under ``network_stream``.

    An instrumented stream's own (shared by every listener of that connection), or a
    new one for a stream abortkit did not instrument (nothing else can reach it).
    """
    if isinstance(network_stream, InterruptibleStream):
        return network_stream.interrupter
    return SocketInterrupter(network_stream)
