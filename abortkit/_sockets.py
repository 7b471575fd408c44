"""Waking a thread blocked in ``recv`` on a socket, from any thread.

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

__all__ = ["SocketInterrupter", "find_socket", "interrupter_for", "is_multiplexed", "shutdown_socket"]

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
    """Shuts one connection's socket down, at most once.

    The socket and whether it is multiplexed are looked up once, on first use:
    anyio answers ``get_extra_info`` by building a dict of every attribute (with
    ``getpeername`` syscalls), about 100 us a call, which a thousand simultaneous
    aborts cannot afford several times over. Shutting down twice would be harmless
    but costs a syscall: close_on_abort and the network layer share one interrupter.
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

    def interrupt(self) -> bool:
        """Shut the socket down (once); True if there is a socket and it was shut down."""
        if not self._done:  # a benign race: at worst a second, harmless shutdown
            self._done = True
            if not self.multiplexed:
                sock = find_socket(self._network_stream)
                self._shut_down = sock is not None and shutdown_socket(sock)
        return self._shut_down


def interrupter_for(network_stream: Any) -> SocketInterrupter:
    """The network stream's own interrupter (abortkit's instrumented streams have one)."""
    own = getattr(network_stream, "abortkit_interrupter", None)
    return own if isinstance(own, SocketInterrupter) else SocketInterrupter(network_stream)
