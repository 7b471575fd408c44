"""Non-blocking socket plumbing shared by the mock server and the proxy.

Why non-blocking with poll instead of plain blocking calls: the services must notice two things
while they are *not* reading, i.e. in the middle of a scripted gap or stall:

* the peer going away (the client aborted): that moment is what tests measure, so it must be seen
  within a few milliseconds, not at the next write;
* the service stopping: ``stop()`` must unblock every connection thread at once, on every platform,
  without closing a descriptor under a thread that still uses it.

So every wait is a ``poll`` on the connection's socket plus one shared "wake" socket that
:meth:`Wake.trip` makes readable forever. ``select.poll`` is used where it exists because
``select.select`` cannot watch descriptors above ``FD_SETSIZE`` (1024), and a server holding
1,000 connections has such descriptors.
"""

from __future__ import annotations

import errno
import math
import os
import select
import socket
import ssl
import struct
import sys
import time
from collections.abc import Sequence

__all__ = ["Channel", "PeerGone", "Stopping", "Wake", "wait_readable", "wait_socket"]

_HAS_POLL = hasattr(select, "poll")
_RECV_SIZE = 65536
# What the kernel may report for a socket whose peer is gone, besides readability.
_POLL_IN = (select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR) if _HAS_POLL else 0
_POLL_OUT = (select.POLLOUT | select.POLLHUP | select.POLLERR) if _HAS_POLL else 0


class Stopping(Exception):
    """Raised inside a connection thread when its service is stopping."""


class PeerGone(Exception):
    """The peer closed or reset the connection; ``at`` is when this side noticed (monotonic)."""

    def __init__(self, at: float, reason: str, *, reset: bool = False) -> None:
        super().__init__(reason)
        self.at = at
        self.reason = reason
        self.reset = reset
        """True when the peer aborted with an RST rather than closing in order."""


class Wake:
    """A level-triggered "stop now" flag that ``poll`` can watch.

    One socket pair per service: tripping it writes one byte that nobody reads, so the read end
    stays readable and every current and future wait returns at once.
    """

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self.tripped = False

    def fileno(self) -> int:
        return self._r.fileno()

    def trip(self) -> None:
        if self.tripped:
            return
        self.tripped = True
        try:
            self._w.send(b"x")
        except OSError:  # pragma: no cover - the buffer of a fresh pair is never full
            pass

    def close(self) -> None:
        self._r.close()
        self._w.close()


def _poll(reads: Sequence[int], writes: Sequence[int], timeout: float | None, *, round_down: bool = False) -> set[int]:
    """Wait until one of the descriptors is ready or ``timeout`` seconds pass; return the ready ones.

    ``poll`` counts whole milliseconds; by default a fraction rounds up (never early), with
    ``round_down`` it rounds down (never late), for a caller that finishes the wait precisely.
    """
    if _HAS_POLL:
        poller = select.poll()
        masks: dict[int, int] = {}
        for fd in reads:
            masks[fd] = masks.get(fd, 0) | _POLL_IN
        for fd in writes:
            masks[fd] = masks.get(fd, 0) | _POLL_OUT
        for fd, mask in masks.items():
            poller.register(fd, mask)
        ms: int | None = None
        if timeout is not None:
            exact = max(0.0, timeout * 1000.0)
            ms = math.floor(exact) if round_down else math.ceil(exact)
        return {fd for fd, _ in poller.poll(ms)}
    r, w, x = select.select(list(reads), list(writes), list(reads), timeout)  # pragma: no cover
    return {*r, *w, *x}  # pragma: no cover


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def wait_readable(
    channels: Sequence[Channel], wake: Wake, deadline: float | None, *, count_stash: bool = True
) -> list[Channel]:
    """Wait until some channels have input (or EOF) or ``deadline`` passes.

    Returns the ready channels (empty on timeout); raises :class:`Stopping` when the service stops.
    Decrypted TLS data not yet read counts as ready, and so do stashed bytes unless
    ``count_stash`` is False (for a caller that only watches for new input or EOF).
    """
    while True:
        ready = [ch for ch in channels if ch.has_buffered(count_stash=count_stash)]
        if ready:
            return ready
        if wake.tripped:
            raise Stopping
        fds = _poll([*(ch.fileno() for ch in channels), wake.fileno()], [], _remaining(deadline))
        if wake.fileno() in fds:
            raise Stopping
        ready = [ch for ch in channels if ch.fileno() in fds]
        if ready or (deadline is not None and time.monotonic() >= deadline):
            return ready


def wait_socket(sock: socket.socket, wake: Wake, deadline: float | None) -> bool:
    """Wait until a plain socket (e.g. a listener) is readable; False at the deadline."""
    while True:
        if wake.tripped:
            raise Stopping
        fds = _poll([sock.fileno(), wake.fileno()], [], _remaining(deadline))
        if wake.fileno() in fds:
            raise Stopping
        if fds:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


class Channel:
    """One accepted or dialled socket, optionally TLS, driven without ever blocking the thread.

    Every wait also watches the service's :class:`Wake`; every sign that the peer has gone
    (EOF, reset, broken pipe, TLS EOF) becomes :class:`PeerGone` with the time it was seen.
    """

    def __init__(self, sock: socket.socket, wake: Wake) -> None:
        sock.setblocking(False)
        try:
            # Each scripted chunk must leave at once: Nagle would hold small writes for an ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - not a TCP socket
            pass
        self.sock: socket.socket = sock
        self._fd = sock.fileno()
        self.wake = wake
        self._stash = bytearray()
        self.closed = False

    @classmethod
    def connect(cls, host: str, port: int, wake: Wake, *, timeout: float = 10.0) -> Channel:
        """Dial ``host:port`` without blocking the thread past a stop or ``timeout``."""
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            err = sock.connect_ex(address)
            channel = cls(sock, wake)
            if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                raise PeerGone(time.monotonic(), f"connect failed: {os.strerror(err)}")
            if err != 0:
                channel._wait_io(read=False, deadline=time.monotonic() + timeout)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err != 0:
                    raise PeerGone(time.monotonic(), f"connect failed: {os.strerror(err)}")
        except BaseException:
            sock.close()
            raise
        return channel

    # -- setup -----------------------------------------------------------------------------

    def start_tls(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        """Wrap the socket in TLS and finish the handshake (bounded by ``timeout``)."""
        self.sock = context.wrap_socket(
            self.sock,
            server_side=server_side,
            server_hostname=server_hostname,
            do_handshake_on_connect=False,
        )
        assert isinstance(self.sock, ssl.SSLSocket)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.do_handshake()
                return
            except ssl.SSLWantReadError:
                self._wait_io(read=True, deadline=deadline)
            except ssl.SSLWantWriteError:
                self._wait_io(read=False, deadline=deadline)
            except (ssl.SSLError, OSError) as exc:
                raise PeerGone(time.monotonic(), f"TLS handshake failed: {exc}") from exc

    def _wait_io(self, *, read: bool, deadline: float | None) -> None:
        if self.wake.tripped:
            raise Stopping
        fds = _poll(
            [self._fd, self.wake.fileno()] if read else [self.wake.fileno()],
            [] if read else [self._fd],
            _remaining(deadline),
        )
        if self.wake.fileno() in fds:
            raise Stopping
        if deadline is not None and not fds and time.monotonic() >= deadline:
            raise PeerGone(time.monotonic(), "timed out")

    # -- reading ---------------------------------------------------------------------------

    def fileno(self) -> int:
        return self._fd

    def has_buffered(self, *, count_stash: bool = True) -> bool:
        """Whether input can be had without waiting (stashed bytes or decrypted TLS data)."""
        if count_stash and self._stash:
            return True
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def recv_nowait(self) -> bytes | None:
        """One non-blocking read of the socket (ignores the stash): bytes, or None when nothing
        is there yet. EOF or reset raises :class:`PeerGone`."""
        try:
            data = self.sock.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        except OSError as exc:  # includes ssl.SSLError
            reset = isinstance(exc, ConnectionResetError)
            raise PeerGone(time.monotonic(), f"read failed: {exc}", reset=reset) from exc
        if not data:
            raise PeerGone(time.monotonic(), "peer closed the connection")
        return data

    def recv(self, deadline: float | None = None) -> bytes | None:
        """Wait for input and return it (stashed bytes first); None if ``deadline`` passes first."""
        while True:
            if self._stash:
                data = bytes(self._stash)
                self._stash.clear()
                return data
            data_now = self.recv_nowait()
            if data_now is not None:
                return data_now
            if not wait_readable([self], self.wake, deadline):
                return None

    def watch_until(self, deadline: float | None) -> None:
        """Hold until ``deadline`` (None: forever) while watching for the peer leaving.

        Input that arrives meanwhile (a pipelined request) is stashed for the next :meth:`recv`.
        Returns at the deadline; raises :class:`PeerGone` or :class:`Stopping`.
        """
        while True:
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                return
            if self.wake.tripped:
                raise Stopping
            if remaining is not None and remaining < 0.001:
                # poll() cannot wait less than a millisecond: finish precisely with a short sleep
                # (a peer leaving in this last sub-millisecond is seen at the next wait or write).
                time.sleep(remaining)
                continue
            fds = _poll([self._fd, self.wake.fileno()], [], remaining, round_down=True)
            if self.wake.fileno() in fds:
                raise Stopping
            if self._fd in fds:
                data = self.recv_nowait()
                if data:
                    self._stash += data

    def stash(self, data: bytes) -> None:
        """Put input back so the next :meth:`recv` returns it first."""
        self._stash[:0] = data

    # -- writing ---------------------------------------------------------------------------

    def send_all(self, data: bytes, deadline: float | None = None) -> None:
        """Write all of ``data`` now (flushes: the socket has TCP_NODELAY)."""
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
                self._wait_io(read=False, deadline=deadline)
                continue
            except ssl.SSLWantReadError:
                self._wait_io(read=True, deadline=deadline)
                continue
            except OSError as exc:  # includes ssl.SSLError: any failed write means the peer is gone
                raise PeerGone(time.monotonic(), f"write failed: {exc}") from exc
            view = view[sent:]

    # -- closing ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0, then close), skipping TLS close_notify."""
        if self.closed:
            return
        fmt = "HH" if sys.platform == "win32" else "ii"
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack(fmt, 1, 0))
        except OSError:  # pragma: no cover - socket already dead
            pass
        self.close()

    def shutdown(self) -> None:
        """Half-close both directions so the peer sees EOF at once (used before :meth:`close`)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the socket; idempotent. Only the owning thread calls this."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.close()
        except OSError:  # pragma: no cover
            pass
